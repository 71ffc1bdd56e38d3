import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { builtinPiiTypes } from "../../src/config/index.js";
import { ScanPool, runPiiJob, type PiiJob } from "../../src/policy/pool/index.js";
import { ClientCancel } from "../../src/server/client-cancel.js";
import { releaseSharedMemory, sharedMemory, sharedMemoryStats } from "../../src/wire/index.js";

// A request's cancellation reaches the pool (issue #13): its waiting jobs leave the queue, a
// running one's caller is answered at once (its result ignored, its shared memory leased until
// the worker is done with it), and jobs that are not cancelled answer exactly as before.

const pool = new ScanPool({ size: 1 });
beforeAll(async () => {
  pool.warm();
  await pool.run(job(["warm"]));
}, 120_000);
afterAll(() => pool.close());

function job(texts: string[]): PiiJob {
  return { kind: "pii", key: "all", spec: { patterns: [...builtinPiiTypes], regions: undefined, obfuscated: undefined }, texts, json: texts.map(() => false) };
}

/** A text the one worker takes a while over (a few hundred ms, more on a loaded machine). */
const long = "Mail jane.doe@example.com or call 415-555-0100 about card 4111 1111 1111 1111. ".repeat(40_000);

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 2400 && !cond(); i++) await new Promise((r) => setTimeout(r, 25));
}

const code = (p: Promise<unknown>) => p.then(() => "resolved", (e: { code?: string }) => e.code ?? String(e));

describe("scan pool: cancelled requests", { timeout: 120_000 }, () => {
  it("a waiting job of a cancelled request leaves the queue and never runs; the others answer as before", async () => {
    const ranBefore = pool.completed;
    const first = pool.run(job([long]));
    const cancel = new ClientCancel();
    const dropped = code(pool.run(job([long, "x@example.org"]), cancel));
    const last = pool.run(job(["bob@example.com"]), new AbortController().signal);
    expect(pool.queued).toBe(2);
    const droppedBefore = pool.dropped;
    cancel.abort();
    // Answered at once, before the running job ends, and no longer queued.
    expect(await dropped).toBe("KT_ERR_CANCELLED");
    expect(pool.queued).toBe(1);
    expect(pool.dropped).toBe(droppedBefore + 1);
    // The jobs that were not cancelled give the inline findings.
    expect((await first).map((r) => [...r.found])).toEqual(runPiiJob(job([long])).map((r) => [...r.found]));
    expect((await last).map((r) => [...r.found])).toEqual(runPiiJob(job(["bob@example.com"])).map((r) => [...r.found]));
    expect(pool.completed - ranBefore).toBe(2);
    // The cancellation's listener is gone with the job.
    expect(cancel.listenerCount("abort")).toBe(0);
  });

  it("a job whose request was cancelled before it was submitted is refused at once", async () => {
    const ranBefore = pool.completed;
    const cancel = new ClientCancel();
    cancel.abort();
    expect(await code(pool.run(job([long]), cancel))).toBe("KT_ERR_CANCELLED");
    const ac = new AbortController();
    ac.abort();
    expect(await code(pool.run(job([long]), ac.signal))).toBe("KT_ERR_CANCELLED");
    expect(pool.queued).toBe(0);
    expect(pool.running).toBe(0);
    expect(pool.completed).toBe(ranBefore);
  });

  it("a running job of a cancelled request answers at once; its memory stays leased until the worker is done", async () => {
    const text = JSON.stringify({ model: "m", messages: [{ role: "user", content: long }] });
    const bytes = Buffer.from(text);
    const sab = await sharedMemory(bytes.length);
    bytes.copy(new Uint8Array(sab));
    const ac = new AbortController();
    const parse = code(pool.run({ kind: "parse-body", body: { bytes: sab, length: bytes.length, nonce: "cancel-test", holdMin: 256, version: 1 }, maxDepth: 64 }, ac.signal));
    expect(pool.running).toBe(1);
    ac.abort();
    expect(await parse).toBe("KT_ERR_CANCELLED");
    // The request lets go of its memory: not reusable while the worker may still read it.
    const out = sharedMemoryStats().outBytes;
    releaseSharedMemory(sab);
    if (pool.running === 1) expect(sharedMemoryStats().outBytes).toBe(out);
    await until(() => pool.running === 0);
    expect(pool.running).toBe(0);
    expect(sharedMemoryStats().outBytes).toBe(out - sab.byteLength);
    // The worker is free for the next job, whose answer is its own.
    const next = await pool.run(job(["carol@example.com"]));
    expect(next.map((r) => [...r.found])).toEqual(runPiiJob(job(["carol@example.com"])).map((r) => [...r.found]));
  });
});

describe.runIf(process.platform === "linux")("scan pool: a job far past its CPU budget", { timeout: 300_000 }, () => {
  // 1 s of CPU plus nothing per character; a module job that spins for ms of wall time (CPU time
  // while it is on a core: at most that).
  const strict = new ScanPool({ size: 1, cpuBudget: { baseMs: 1000, perCharNs: 0 } });
  afterAll(() => strict.close());
  const url = new URL("../fixtures/pool-spin.ts", import.meta.url).href;
  const spin = (ms: number) => strict.run({ kind: "module", url, name: "spin", input: ms, chars: 1 });

  it("is stopped, its worker replaced, the request answered with a clear error; jobs within it answer as before", async () => {
    strict.warm();
    expect(await spin(10)).toBe(10);
    const err = await spin(600_000).then(
      () => undefined,
      (e: { code?: string; message?: string }) => e,
    );
    expect(err?.code).toBe("KT_ERR_POLICY_ENGINE_UNAVAILABLE");
    expect(err?.message).toMatch(/stopped/);
    expect(strict.overruns).toBe(1);
    // A new worker takes the next job.
    expect(await spin(10)).toBe(10);
    expect(strict.overruns).toBe(1);
  });
});

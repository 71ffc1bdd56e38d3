import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { builtinPiiTypes } from "../../src/config/index.js";
import { ScanPool, type PiiJob } from "../../src/policy/pool/index.js";
import { releaseSharedMemory, sharedMemory } from "../../src/wire/index.js";

// The pool's queue is shared fairly between API keys (issue #13, "one key can deny service to the
// others"): a key's large bodies waiting do not make another key's body wait behind all of them,
// and a queue one key filled does not refuse another key's first body.

const pool = new ScanPool({ size: 1, maxQueued: 3 });
beforeAll(async () => {
  pool.warm();
  await pool.run(piiJob("warm"));
}, 120_000);
afterAll(() => pool.close());

function piiJob(text: string): PiiJob {
  return { kind: "pii", key: "all", spec: { patterns: [...builtinPiiTypes], regions: undefined, obfuscated: undefined }, texts: [text], json: [false] };
}

const long = "Mail jane.doe@example.com or call 415-555-0100 about card 4111 1111 1111 1111. ".repeat(20_000);
const held: SharedArrayBuffer[] = [];
let nonces = 0;

/** A parse of a request body held for `owner` (the gateway holds large bodies so, src/server/http-body.ts). */
async function parseFor(owner: string) {
  const bytes = Buffer.from(JSON.stringify({ model: "m", messages: [{ role: "user", content: long }] }));
  const sab = await sharedMemory(bytes.length, false, owner);
  held.push(sab);
  bytes.copy(new Uint8Array(sab));
  return { kind: "parse-body" as const, body: { bytes: sab, length: bytes.length, nonce: `fair-${nonces++}`, holdMin: 256, version: 1 }, maxDepth: 64 };
}

const code = (p: Promise<unknown>) => p.then(() => "ok", (e: { code?: string }) => e.code ?? String(e));

describe("scan pool: fair between API keys", { timeout: 120_000 }, () => {
  afterAll(() => {
    for (const s of held.splice(0)) releaseSharedMemory(s);
  });

  it("another key's job goes next, not behind every job the first key queued", async () => {
    const order: string[] = [];
    const track = (name: string, p: Promise<unknown>) => p.then(() => order.push(name));
    const a = [await parseFor("key-a"), await parseFor("key-a"), await parseFor("key-a")];
    const b = await parseFor("key-b");
    // Every body held first, then submitted in one go.
    const runs = [track("a0", pool.run(a[0]!)), track("a1", pool.run(a[1]!)), track("a2", pool.run(a[2]!))];
    expect(pool.running).toBe(1);
    expect(pool.queued).toBe(2);
    runs.push(track("b0", pool.run(b)));
    await Promise.all(runs);
    // FIFO would give a0 a1 a2 b0.
    expect(order).toEqual(["a0", "b0", "a1", "a2"]);
  });

  it("with one key waiting, jobs run in the order they came", async () => {
    const order: string[] = [];
    const jobs = [await parseFor("key-a"), await parseFor("key-a"), await parseFor("key-a")];
    await Promise.all(jobs.map((j, i) => pool.run(j).then(() => order.push(`a${i}`))));
    expect(order).toEqual(["a0", "a1", "a2"]);
  });

  it("a queue one key filled refuses that key's next job, but not another key's first", async () => {
    // Every body held first, then submitted in one go, so no job ends while the queue is examined.
    const a = [await parseFor("key-a"), await parseFor("key-a"), await parseFor("key-a"), await parseFor("key-a"), await parseFor("key-a")];
    const b = [await parseFor("key-b"), await parseFor("key-b")];
    const admitted = a.slice(0, 4).map((j) => code(pool.run(j)));
    expect(pool.running).toBe(1);
    expect(pool.queued).toBe(3);
    // Full (maxQueued 3): key-a's next waiting job is refused, as is a job of no known key.
    const refusedA = code(pool.run(a[4]!));
    const refusedUnknown = code(pool.run(piiJob("x@example.org")));
    // key-b has nothing waiting: its first is taken; its second is refused.
    const b0 = code(pool.run(b[0]!));
    expect(pool.queued).toBe(4);
    const refusedB = code(pool.run(b[1]!));
    expect(await Promise.all([refusedA, refusedUnknown, refusedB])).toEqual(["KT_ERR_OVERLOADED", "KT_ERR_OVERLOADED", "KT_ERR_OVERLOADED"]);
    expect(await Promise.all([...admitted, b0])).toEqual(["ok", "ok", "ok", "ok", "ok"]);
  });
});

import { randomBytes } from "node:crypto";
import { readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeHeapSnapshot } from "node:v8";
import { expect, it } from "vitest";
import { compilePolicyEngine, parseHeldAnswer } from "../../src/policy/index.js";
import { scanPool } from "../../src/policy/pool/index.js";
import { releaseHeldAnswer } from "../../src/wire/index.js";
import { configWith } from "../policy/helpers.js";

// docs/policies.md: the gateway keeps no reference to a detected value past the request that
// carried it. A pool worker keeps the held answer it last parsed for the request's next job; it
// kept it for 10 s after the request whatever the request's fate, and after a block or a log-only
// rule that copy is the original, value in clear (found by the round-12 review). Now the
// request's release tells every worker (and this thread) to let go. With the pool closed the jobs
// run on this thread, so this thread's heap shows what a worker's would hold.

const letters = (b: Buffer) => Buffer.from([...b].map((x) => 97 + (x % 26)));

it.each(["redact", "block", "log"])("a held answer's detected value is not referenced once the request has released it (%s)", async (action) => {
  await scanPool().close();
  const engine = compilePolicyEngine(configWith([{ id: "p", rules: [{ type: "pii_detection", action, patterns: ["email"] }] }]));
  const needle = letters(randomBytes(16));
  await (async () => {
    const text = JSON.stringify({ id: "x", model: "m", choices: [{ index: 0, message: { role: "assistant", content: `write to ${needle.toString("latin1")}@example.com ` + "y".repeat(300 * 1024) }, finish_reason: "stop" }] });
    const sab = new SharedArrayBuffer(Buffer.byteLength(text));
    Buffer.from(sab).write(text);
    const summary = await parseHeldAnswer(sab, sab.byteLength, "t");
    try {
      const r = await engine.checkResponse(summary, "chat");
      expect(action).not.toBe("block");
      releaseHeldAnswer(r.body);
    } catch (e) {
      expect(action).toBe("block");
      releaseHeldAnswer(summary);
      expect(String(e)).not.toContain(needle.toString("latin1"));
    }
  })();
  // The last regex input V8 keeps (RegExp.lastMatch) is let go too.
  /x/.exec("x");
  const file = writeHeapSnapshot(join(tmpdir(), `kt-held-retention-${process.pid}.heapsnapshot`));
  const heap = readFileSync(file);
  rmSync(file);
  expect(heap.includes(needle)).toBe(false);
}, 120_000);

/**
 * Pooled shared memory for large bodies (src/wire/shared-memory.ts): a buffer a request is done
 * with is zeroed and handed to the next large body, never while a pool job still uses it, and a
 * later, smaller body never sees an earlier one's bytes. Structure only (identity, counters,
 * contents), never timing.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { scanPool } from "../../src/policy/pool/index.js";
import {
  endLease,
  leaseSharedMemory,
  releaseSharedMemory,
  sharedMemory,
  sharedMemorySettled,
  sharedMemoryStats,
  takeKeptSharedMemory,
} from "../../src/wire/index.js";
import { MODEL, type Stack } from "../helpers/harness.js";
import { startLargeBodyStack } from "../helpers/scan-pool.js";

const KiB = 1024;

/** Takes every kept buffer of the class holding `size`, so each test starts from none of it. */
function drain(size: number): void {
  while (takeKeptSharedMemory(size)) {
    // taken and dropped: collected like any buffer never released
  }
}

function allZero(sab: SharedArrayBuffer): boolean {
  const words = new Int32Array(sab);
  for (let i = 0; i < words.length; i++) if (words[i] !== 0) return false;
  return true;
}

describe("pooled shared memory", () => {
  it("hands a released buffer to the next request of its size class, zeroed", async () => {
    drain(300 * KiB);
    const a = await sharedMemory(300 * KiB);
    expect(a.byteLength).toBeGreaterThanOrEqual(300 * KiB);
    new Uint8Array(a).fill(0xab);
    const reused = sharedMemoryStats().reused;
    releaseSharedMemory(a);
    await sharedMemorySettled();
    // A smaller body of the same class gets the same memory, and none of the first one's bytes.
    const b = await sharedMemory(260 * KiB);
    expect(b).toBe(a);
    expect(sharedMemoryStats().reused).toBe(reused + 1);
    expect(allZero(b)).toBe(true);
    releaseSharedMemory(b);
    await sharedMemorySettled();
  });

  it("keeps a buffer a pool job holds until the job ends, even when its request lets go", async () => {
    drain(600 * KiB);
    const a = await sharedMemory(600 * KiB);
    new Uint8Array(a).fill(7);
    leaseSharedMemory(a);
    releaseSharedMemory(a);
    await sharedMemorySettled();
    // Still leased: not kept, so not handed out.
    expect(takeKeptSharedMemory(600 * KiB)).toBeUndefined();
    expect(new Uint8Array(a)[100]).toBe(7);
    endLease(a);
    await sharedMemorySettled();
    const b = takeKeptSharedMemory(600 * KiB);
    expect(b).toBe(a);
    expect(allZero(b!)).toBe(true);
    releaseSharedMemory(b);
    await sharedMemorySettled();
  });

  it("ignores a second release and memory that is not its own", async () => {
    drain(300 * KiB);
    const a = await sharedMemory(300 * KiB);
    releaseSharedMemory(a);
    releaseSharedMemory(a);
    releaseSharedMemory(new SharedArrayBuffer(512 * KiB));
    await sharedMemorySettled();
    expect(takeKeptSharedMemory(300 * KiB)).toBe(a);
    expect(takeKeptSharedMemory(300 * KiB)).toBeUndefined();
  });
});

describe("pooled memory through the gateway", { timeout: 120_000 }, () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startLargeBodyStack("      - { type: pii_detection, action: redact, patterns: [email] }\n");
  }, 120_000);
  afterAll(() => stack?.close());

  /** A chat body of about `bytes` bytes of `word` lines, with one e-mail address in it. */
  function body(word: string, bytes: number, mail: string): { model: string; messages: { role: string; content: string }[] } {
    let content = `write to ${mail} about this:\n`;
    for (let i = 0; content.length < bytes; i++) content += `${word} ${i}\n`;
    return { model: MODEL, messages: [{ role: "user", content }] };
  }

  it("a second, smaller large body reuses the first one's memory and carries none of its bytes", async () => {
    const pool = scanPool();
    const first = body("ALPHA-FIRST-BODY", 900 * KiB, "first@example.com");
    const second = body("beta", 600 * KiB, "second@example.org");
    const r1 = await stack.openai().chat.completions.create(first as never);
    expect(r1.choices[0]!.message.content).toBe("fine");
    // The request gave back its body's bytes and the body written for the upstream.
    for (let i = 0; i < 200 && sharedMemoryStats().keptBytes < 2 * 1024 * KiB; i++) {
      await sharedMemorySettled();
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(sharedMemoryStats().keptBytes).toBeGreaterThanOrEqual(2 * 1024 * KiB);
    const before = sharedMemoryStats();
    const chains = pool.completedByKind["body-chain"] ?? 0;
    const r2 = await stack.openai().chat.completions.create(second as never);
    expect(r2.choices[0]!.message.content).toBe("fine");
    expect(pool.completedByKind["body-chain"]).toBe(chains + 1);
    // The first request gave back two buffers: its body's, and its rewrite's (made by the worker,
    // none being kept then, and adopted into the pool; the rewrite went upstream as it was). The
    // second's body and rewrite reuse them.
    expect(sharedMemoryStats().reused - before.reused).toBeGreaterThanOrEqual(2);
    expect(sharedMemoryStats().made - before.made).toBeLessThanOrEqual(1);
    const sent = stack.fake.requests.at(-1)!;
    expect(sent.rawBody).not.toContain("ALPHA-FIRST-BODY");
    expect(sent.rawBody).not.toContain("\u0000");
    const expected = second.messages[0]!.content.replace("second@example.org", "[REDACTED:EMAIL]");
    expect((sent.body as { messages: { content: string }[] }).messages[0]!.content).toBe(expected);
  });
});

import http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sha256Hex } from "../../src/config/index.js";
import { sharedMemoryStats } from "../../src/wire/index.js";
import { MODEL, startStack, type Stack } from "../helpers/harness.js";

// limits.max_held_body_bytes counts a large body's memory when the body asks for it, not once the
// helper thread has made the buffer: before, a burst of one key's large bodies opened at once all
// passed the check (the review of round 12: 80 stalled 15 MiB bodies of one key held 1,280 MiB
// against a 1,024 MiB bound and a 256 MiB share). Its own file, so no buffer of the bodies' size
// is kept from an earlier test: each body waits for the helper to make one.

describe("limits.max_held_body_bytes under a burst", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack(
      (url) => `auth:
  api_keys:
    - { id: k1, sha256: ${sha256Hex("kt-k1")} }
providers:
  targets:
    - { id: t, provider: "openllm:chat:llama3:8b-instruct", model: ${MODEL}, base_url: "${url}" }
limits:
  max_body_bytes: 1048576
  max_held_body_bytes: 4194304
`,
      { fake: { maxModelLen: 1e9 } },
    );
  }, 60_000);
  afterAll(() => stack?.close());

  it("one key's large bodies opened at once: its share (one 1 MiB buffer) is held, the rest refused at once", async () => {
    const base = sharedMemoryStats().outBytes;
    const whole = Buffer.from(JSON.stringify({ model: "t", messages: [{ role: "user", content: "x".repeat(700 * 1024) }] }));
    const statuses: number[] = [];
    const reqs = Array.from({ length: 12 }, () => {
      const req = http.request(`${stack.url}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: "Bearer kt-k1", "content-length": String(whole.length) },
      });
      req.on("response", (res) => {
        statuses.push(res.statusCode!);
        res.resume();
      });
      req.on("error", () => {});
      // Stalled past the 256 KiB from which a body is held: each asks for its buffer and waits.
      req.write(whole.subarray(0, 400 * 1024));
      return req;
    });
    for (let i = 0; i < 1000 && statuses.length < 11; i++) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 200));
    expect(statuses).toEqual(Array(11).fill(503));
    expect(sharedMemoryStats().outBytes - base).toBe(1 << 20);
    for (const r of reqs) r.destroy();
    for (let i = 0; i < 300 && sharedMemoryStats().outBytes > base; i++) await new Promise((r) => setTimeout(r, 10));
    expect(sharedMemoryStats().outBytes).toBe(base);
  }, 60_000);
});

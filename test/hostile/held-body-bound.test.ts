import http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sharedMemoryStats } from "../../src/wire/index.js";
import { MODEL, startStack, type Stack } from "../helpers/harness.js";

// Every held body (from 256 KiB) is its request's memory until the request ends, and a client
// could hold max_body_bytes per request, stalled, on as many requests as its concurrency allows
// (1,024 x 16 MiB per key by default): enough to take the process down. limits.max_held_body_bytes
// bounds the bytes held at once; a new large body past it gets 503 `overloaded` with retry-after,
// at once, while small requests go on. Here the bound is 1 MiB: one 700 KiB body (a 1 MiB buffer)
// fills it.

describe("limits.max_held_body_bytes", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack(
      (url) => `providers:
  targets:
    - { id: t, provider: "openllm:chat:llama3:8b-instruct", model: ${MODEL}, base_url: "${url}" }
limits:
  max_held_body_bytes: 1048576
policies:
  - id: p
    rules:
      - { type: pii_detection, action: redact, patterns: [email] }
`,
      { fake: { maxModelLen: 1e9 } },
    );
  }, 60_000);
  afterAll(() => stack?.close());

  const body = (kib: number) => JSON.stringify({ model: "t", messages: [{ role: "user", content: "x".repeat(kib * 1024) }] });
  const post = (text: string) => fetch(`${stack.url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: text });

  it("a large body past the bound gets 503 overloaded at once; small ones pass; once the first is done the next is served", async () => {
    const whole = Buffer.from(body(700));
    // A: declares its length, sends most of it and stalls.
    const a = http.request(`${stack.url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json", "content-length": String(whole.length) } });
    const aAnswer = new Promise<{ status: number; text: string }>((resolve, reject) => {
      a.on("response", (res) => {
        let text = "";
        res.on("data", (d: Buffer) => (text += d.toString()));
        res.on("end", () => resolve({ status: res.statusCode!, text }));
      });
      a.on("error", reject);
    });
    a.write(whole.subarray(0, 400 * 1024));
    // Wait until A's body holds its buffer.
    for (let i = 0; i < 200 && sharedMemoryStats().outBytes < 1048576; i++) await new Promise((r) => setTimeout(r, 10));
    expect(sharedMemoryStats().outBytes).toBeGreaterThanOrEqual(1048576);

    const b = await post(body(700));
    expect(b.status).toBe(503);
    expect(b.headers.get("retry-after")).toBe("1");
    expect(((await b.json()) as { error: { code: string; message: string } }).error).toMatchObject({ code: "overloaded", message: expect.stringContaining("1 MiB of large request bodies") });

    const small = await post(body(10));
    expect(small.status).toBe(200);

    a.end(whole.subarray(400 * 1024));
    expect((await aAnswer).status).toBe(200);
    // A's memory went back with its request: the next large body is served.
    for (let i = 0; i < 200 && sharedMemoryStats().outBytes > 0; i++) await new Promise((r) => setTimeout(r, 10));
    const again = await post(body(700));
    expect(again.status).toBe(200);
    await again.arrayBuffer();
  }, 60_000);
});

import http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sha256Hex } from "../../src/config/index.js";
import { sharedMemoryStats } from "../../src/wire/index.js";
import { MODEL, startStack, type Stack } from "../helpers/harness.js";

// Every held body (from 256 KiB) is its request's memory until the request ends, and a client
// could hold max_body_bytes per request, stalled, on as many requests as its concurrency allows
// (1,024 x 16 MiB per key by default): enough to take the process down. limits.max_held_body_bytes
// bounds the bytes held at once, and one key may hold at most a quarter of it; a new large body
// past either gets 503 `overloaded` with retry-after, at once, while small requests go on. Here
// the bound is 4 MiB (a key's share 1 MiB), and one 700 KiB body (a 1 MiB buffer) fills a share.

const KEYS = ["k1", "k2", "k3", "k4", "k5"];

describe("limits.max_held_body_bytes", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack(
      (url) => `auth:
  api_keys:
${KEYS.map((k) => `    - { id: ${k}, sha256: ${sha256Hex(`kt-${k}`)} }`).join("\n")}
providers:
  targets:
    - { id: t, provider: "openllm:chat:llama3:8b-instruct", model: ${MODEL}, base_url: "${url}" }
limits:
  max_body_bytes: 1048576
  max_held_body_bytes: 4194304
policies:
  - id: p
    rules:
      - { type: pii_detection, action: redact, patterns: [email] }
`,
      // The config's max_body_bytes (1 MiB) lets a key's share (1 MiB) hold a body of it, as config
      // validation requires; the command line's (as --max-body-bytes) wins and admits bodies whose
      // buffer alone is larger than a share: the front door's 413 is the guard for those.
      { fake: { maxModelLen: 1e9 }, maxBodyBytes: 2 << 20 },
    );
  }, 60_000);
  afterAll(() => stack?.close());

  const body = (kib: number) => JSON.stringify({ model: "t", messages: [{ role: "user", content: "x".repeat(kib * 1024) }] });
  const headers = (key: string) => ({ "content-type": "application/json", authorization: `Bearer kt-${key}` });
  const post = (key: string, text: string) => fetch(`${stack.url}/v1/chat/completions`, { method: "POST", headers: headers(key), body: text });

  /** Declares a 700 KiB body, sends 400 KiB and stalls; `finish()` sends the rest and resolves with the status. */
  function stalled(key: string): { finish(): Promise<number> } {
    const whole = Buffer.from(body(700));
    const req = http.request(`${stack.url}/v1/chat/completions`, { method: "POST", headers: { ...headers(key), "content-length": String(whole.length) } });
    const status = new Promise<number>((resolve, reject) => {
      req.on("response", (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode!));
      });
      req.on("error", reject);
    });
    req.write(whole.subarray(0, 400 * 1024));
    return {
      finish: () => {
        req.end(whole.subarray(400 * 1024));
        return status;
      },
    };
  }

  async function held(atLeast: number): Promise<void> {
    for (let i = 0; i < 300 && sharedMemoryStats().outBytes < atLeast; i++) await new Promise((r) => setTimeout(r, 10));
    expect(sharedMemoryStats().outBytes).toBeGreaterThanOrEqual(atLeast);
  }

  async function refused(r: Response, message: string): Promise<void> {
    expect(r.status).toBe(503);
    expect(r.headers.get("retry-after")).toBe("1");
    expect(((await r.json()) as { error: { code: string; message: string } }).error).toMatchObject({ code: "overloaded", message: expect.stringContaining(message) });
  }

  it("one key past its share, then every key past the bound, get 503 overloaded at once; small ones pass; freed memory serves the next", async () => {
    const base = sharedMemoryStats().outBytes;
    const first = stalled("k1");
    await held(base + (1 << 20));
    // k1 holds its share (1 MiB): its next large body is refused, another key's is served.
    await refused(await post("k1", body(700)), "this API key holds 1 MiB");
    const other = await post("k2", body(700));
    expect(other.status).toBe(200);
    await other.arrayBuffer();

    // Four keys each holding a share fill the bound: a fifth key's large body is refused too.
    const more = ["k2", "k3", "k4"].map(stalled);
    await held(base + (4 << 20));
    await refused(await post("k5", body(700)), "the gateway holds 4 MiB");
    const small = await post("k5", body(10));
    expect(small.status).toBe(200);
    await small.arrayBuffer();

    expect(await Promise.all([first, ...more].map((s) => s.finish()))).toEqual([200, 200, 200, 200]);
    // Their memory went back with their requests: the next large body is served.
    for (let i = 0; i < 300 && sharedMemoryStats().outBytes > base; i++) await new Promise((r) => setTimeout(r, 10));
    const again = await post("k5", body(700));
    expect(again.status).toBe(200);
    await again.arrayBuffer();
  }, 60_000);

  it("a body whose buffer alone is larger than a key's share gets 413, not a 503 to retry", async () => {
    // 1.5 MiB needs a 2 MiB buffer; a key's share of the 4 MiB bound is 1 MiB.
    const r = await post("k1", body(1500));
    expect(r.status).toBe(413);
    expect(r.headers.get("retry-after")).toBeNull();
    expect(((await r.json()) as { error: { code: string; message: string } }).error).toMatchObject({
      code: "body_too_large",
      message: expect.stringContaining("limits.max_held_body_bytes"),
    });
  }, 60_000);
});

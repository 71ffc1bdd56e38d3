import http2 from "node:http2";
import { writeFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code } from "../../clients/typescript/src/index.js";
import { MODEL, startStack, type Stack } from "../helpers/harness.js";

// limits.max_body_bytes was read once at start (gateway.ts): a reload to 100 KiB validated, said
// ok, and a 1 MiB body was still served. A reload now applies it to the requests that arrive
// after it, on both front doors, including the bodies Connect reads itself (its routes are built
// again with the new readMaxBytes).

const config = (url: string, maxBody: number) => `providers:
  targets:
    - { id: t, provider: "openllm:chat:m", model: "${MODEL}", base_url: "${url}" }
limits:
  max_body_bytes: ${maxBody}
  max_held_body_bytes: 67108864
`;

describe("limits.max_body_bytes on reload", () => {
  let stack: Stack;
  let fakeUrl = "";
  beforeAll(async () => {
    stack = await startStack(
      (url) => {
        fakeUrl = url;
        return config(url, 2 << 20);
      },
      { fake: { maxModelLen: 1e9 } },
    );
  });
  afterAll(() => stack?.close());

  const chat = (bytes: number) => JSON.stringify({ model: "t", max_tokens: 1, messages: [{ role: "user", content: "x".repeat(bytes) }] });
  const openai = (body: string) => fetch(`${stack.url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body });
  const connect = (body: string) => fetch(`${stack.url}/keeptrusts.v1.ChatService/CreateChatCompletion`, { method: "POST", headers: { "content-type": "application/json" }, body });

  /** A gRPC ListTargets call whose message carries `padding` bytes of an unknown field: Connect reads and parses it itself. */
  async function listTargets(padding: number): Promise<string | undefined> {
    // Field 15, wire type 2 (length-delimited), as an unknown field of ListTargetsRequest.
    const len: number[] = [];
    for (let n = padding; ; n >>>= 7) {
      if (n < 0x80) {
        len.push(n);
        break;
      }
      len.push((n & 0x7f) | 0x80);
    }
    const message = Buffer.concat([Buffer.from([(15 << 3) | 2, ...len]), Buffer.alloc(padding, 0x61)]);
    const frame = Buffer.alloc(5);
    frame.writeUInt32BE(message.length, 1);
    const session = http2.connect(stack.url);
    try {
      const req = session.request({ ":method": "POST", ":path": "/keeptrusts.v1.GovernanceService/ListTargets", "content-type": "application/grpc", te: "trailers" });
      return await new Promise((resolve, reject) => {
        let status: string | undefined;
        req.on("response", (h) => (status ??= h["grpc-status"] as string | undefined));
        req.on("trailers", (t) => (status ??= t["grpc-status"] as string | undefined));
        req.on("data", () => {});
        req.on("end", () => resolve(status));
        req.on("error", reject);
        req.end(Buffer.concat([frame, message]));
      });
    } finally {
      session.close();
    }
  }

  it("lowered, then raised: each front door reads bodies up to the limit in force", async () => {
    expect((await openai(chat(1 << 20))).status).toBe(200);
    expect(await listTargets(1 << 20)).toBe("0");

    writeFileSync(stack.configPath, config(fakeUrl, 100 * 1024));
    expect((await stack.services.gateway.reload()).ok).toBe(true);
    const o = await openai(chat(1 << 20));
    expect(o.status).toBe(413);
    expect(((await o.json()) as { error: { code: string } }).error.code).toBe("body_too_large");
    const c = await connect(chat(1 << 20));
    expect(c.status).toBe(429);
    expect(((await c.json()) as { code: string }).code).toBe("resource_exhausted");
    expect(await listTargets(200 * 1024)).toBe(String(Code.ResourceExhausted));
    expect((await openai(chat(50 * 1024))).status).toBe(200);
    expect((await connect(chat(50 * 1024))).status).toBe(200);

    writeFileSync(stack.configPath, config(fakeUrl, 4 << 20));
    expect((await stack.services.gateway.reload()).ok).toBe(true);
    expect((await openai(chat(3 << 20))).status).toBe(200);
    expect((await connect(chat(3 << 20))).status).toBe(200);
    // Connect's own readMaxBytes follows too (it was fixed at 2 MiB when the routes were built).
    expect(await listTargets(3 << 20)).toBe("0");
  });
});

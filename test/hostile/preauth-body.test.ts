import http2 from "node:http2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code } from "../../clients/typescript/src/index.js";
import { queryAuditLog } from "../../src/audit/index.js";
import { sha256Hex } from "../../src/config/index.js";
import { MODEL, startStack, type Stack } from "../helpers/harness.js";

// Connect reads and decodes a call's message before its interceptors run, so a call without a
// valid key made the gateway read and hold its whole body (up to max_body_bytes) before refusing
// it: a client with no key could hold 16 MiB per stream by stalling its body. The front door now
// checks the headers first and never reads a refused call's body. Each call here declares 15 MiB,
// sends 1 MiB and stops: the refusal must come while the body is still incomplete (before, no
// answer came until the request timeout), in the protocol's own format, and be recorded.

const DECLARED = 15 << 20;

describe("a call refused on its headers: its body is never read", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack(
      (url, d) => `auth:
  api_keys:
    - { id: app, sha256: ${sha256Hex("kt-app")}, scopes: [chat] }
providers:
  targets:
    - { id: t, provider: "openllm:chat:m", model: "${MODEL}", base_url: "${url}" }
policies:
  chain: [audit-logger]
policy:
  audit-logger: { path: "${d}/audit" }
`,
    );
  });
  afterAll(() => stack.close());

  /** Sends the headers, a frame header for 15 MiB and 1 MiB of it over HTTP/2, then waits for the answer's headers. */
  type Answer = { head: http2.IncomingHttpHeaders; trailers?: http2.IncomingHttpHeaders; body: string };
  async function incomplete(path: string, headers: Record<string, string>, enveloped: boolean): Promise<Answer> {
    const session = http2.connect(stack.url);
    try {
      const req = session.request({ ":method": "POST", ":path": path, te: "trailers", ...headers });
      const answer = new Promise<Answer>((resolve, reject) => {
        let head: http2.IncomingHttpHeaders = {};
        let body = "";
        let trailers: http2.IncomingHttpHeaders | undefined;
        req.on("response", (h) => (head = h));
        req.on("data", (c: Buffer) => (body += c.toString("latin1")));
        req.on("trailers", (t) => (trailers = t));
        req.on("end", () => resolve({ head, trailers, body }));
        req.on("error", reject);
      });
      if (enveloped) {
        const frame = Buffer.alloc(5);
        frame.writeUInt32BE(DECLARED - 5, 1);
        req.write(frame);
      }
      req.write(Buffer.alloc(1 << 20, 0x41));
      return await answer;
    } finally {
      session.destroy();
    }
  }

  it.each([
    ["gRPC", "application/grpc", true],
    ["gRPC-Web", "application/grpc-web+proto", true],
    ["Connect streaming", "application/connect+json", true],
  ])("%s: no key, refused UNAUTHENTICATED with 14 MiB unsent", async (_name, contentType, enveloped) => {
    const stream = contentType === "application/connect+json";
    const path = stream ? "/keeptrusts.v1.ChatService/StreamChatCompletion" : "/keeptrusts.v1.ChatService/CreateChatCompletion";
    const r = await incomplete(path, { "content-type": contentType }, enveloped);
    expect(r.head[":status"]).toBe(200);
    if (stream) expect(r.body).toContain('"code":"unauthenticated"');
    else expect(String(r.head["grpc-status"] ?? r.trailers?.["grpc-status"] ?? /grpc-status:\s*(\d+)/.exec(r.body)?.[1])).toBe(String(Code.Unauthenticated));
  });

  it("Connect unary (JSON): a wrong key, refused 401 unauthenticated with 14 MiB unsent", async () => {
    const r = await incomplete("/keeptrusts.v1.ChatService/CreateChatCompletion", { "content-type": "application/json", authorization: "Bearer wrong" }, false);
    expect(r.head[":status"]).toBe(401);
    expect(JSON.parse(r.body)).toMatchObject({ code: "unauthenticated" });
  });

  it("Governance with a chat-only key: refused PERMISSION_DENIED with 14 MiB unsent, and recorded", async () => {
    const r = await incomplete("/keeptrusts.v1.GovernanceService/EvaluatePolicy", { "content-type": "application/grpc", authorization: "Bearer kt-app" }, true);
    expect(String(r.head["grpc-status"] ?? r.trailers?.["grpc-status"])).toBe(String(Code.PermissionDenied));
    const events = (await queryAuditLog(`${stack.dir}/audit`, { pageSize: 1000 })).events;
    expect(events.at(-1)).toMatchObject({ principal: "app", errorCode: "KT_ERR_FORBIDDEN", operation: "GovernanceService/EvaluatePolicy" });
  });

  it("an authenticated call of the same kind is still read and answered whole", async () => {
    const { createKeeptrustsClient } = await import("../../clients/typescript/src/index.js");
    const kt = createKeeptrustsClient({ baseUrl: stack.url, apiKey: "kt-app", protocol: "grpc" });
    const r = await kt.chat.createChatCompletion({ model: "t", messages: [{ role: "user", content: "x".repeat(300 * 1024) }] });
    expect(r.choices[0]!.message!.content).toContain("You said:");
  });
});

import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code } from "../../clients/typescript/src/index.js";
import { queryAuditLog } from "../../src/audit/index.js";
import { sha256Hex } from "../../src/config/index.js";
import { MODEL, startStack, type Stack } from "../helpers/harness.js";

// Connect reads and decodes a call's message before its interceptors run, so a call it refused
// there (a body it could not read or decode, over max_body_bytes, a content type it does not
// serve) reached neither the auth interceptor nor a handler and left no record, while the same
// refusal on the OpenAI route was recorded. The front door now records any error answer no
// interceptor or handler took charge of. It also refuses two Authorization headers (HTTP/1.1,
// where Node keeps only the first) with INVALID_ARGUMENT and records that too.

const CHAT = "/keeptrusts.v1.ChatService/CreateChatCompletion";
const STREAM = "/keeptrusts.v1.ChatService/StreamChatCompletion";
const MAX_BODY = 2 << 20;

type Answer = { status: number; grpcStatus: string | undefined; body: string; retryAfter: string | undefined };
type Rec = Record<string, unknown>;

describe("RPC calls Connect refuses before its interceptors are recorded", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack(
      (url, d) => `auth:
  api_keys:
    - { id: app, sha256: ${sha256Hex("kt-app")}, scopes: [chat] }
    - { id: adm, sha256: ${sha256Hex("kt-adm")}, scopes: [admin] }
providers:
  targets:
    - { id: t, provider: "openllm:chat:m", model: "${MODEL}", base_url: "${url}" }
limits:
  max_body_bytes: 2097152
  max_held_body_bytes: 8388608
policies:
  chain: [audit-logger]
policy:
  audit-logger: { path: "${d}/audit", auth_failure_window_seconds: 1 }
`,
      { maxBodyBytes: MAX_BODY },
    );
  });
  afterAll(() => stack.close());

  const records = async (): Promise<Rec[]> => (await queryAuditLog(`${stack.dir}/audit`, { pageSize: 10000 })).events as unknown as Rec[];

  /** One call over HTTP/2, and the records it added. */
  async function call(path: string, headers: Record<string, string>, body: Buffer): Promise<{ answer: Answer; added: Rec[] }> {
    const before = (await records()).length;
    const session = http2.connect(stack.url);
    let answer: Answer;
    try {
      const req = session.request({ ":method": "POST", ":path": path, te: "trailers", ...headers });
      answer = await new Promise<Answer>((resolve, reject) => {
        let head: http2.IncomingHttpHeaders = {};
        let trailers: http2.IncomingHttpHeaders = {};
        let out = "";
        req.on("response", (h) => (head = h));
        req.on("data", (c: Buffer) => (out += c.toString("latin1")));
        req.on("trailers", (t) => (trailers = t));
        req.on("end", () =>
          resolve({
            status: Number(head[":status"]),
            grpcStatus: (head["grpc-status"] ?? trailers["grpc-status"] ?? /grpc-status:\s*(\d+)/.exec(out)?.[1]) as string | undefined,
            body: out,
            retryAfter: (head["retry-after"] ?? trailers["retry-after"]) as string | undefined,
          }),
        );
        req.on("error", reject);
        req.end(body);
      });
    } finally {
      session.close();
    }
    return { answer, added: (await records()).slice(before) };
  }

  const envelope = (payload: Buffer, flags = 0) => {
    const b = Buffer.alloc(5 + payload.length);
    b[0] = flags;
    b.writeUInt32BE(payload.length, 1);
    payload.copy(b, 5);
    return b;
  };
  const key = { authorization: "Bearer kt-app" };

  it.each([
    ["Connect unary JSON", CHAT, "application/json", Buffer.from("{nope")],
    ["gRPC-Web (JSON)", CHAT, "application/grpc-web+json", envelope(Buffer.from("{nope"))],
    ["Connect streaming (decoded after the interceptor)", STREAM, "application/connect+json", envelope(Buffer.from("{nope"))],
    ["gRPC streaming (decoded after the interceptor)", STREAM, "application/grpc+json", envelope(Buffer.from("{nope"))],
  ])("%s: an undecodable message is INVALID_ARGUMENT, recorded KT_ERR_MALFORMED_JSON", async (_name, path, type, body) => {
    const { answer, added } = await call(path, { "content-type": type, ...key }, body);
    if (type === "application/json") expect(answer.status).toBe(400);
    else if (type.startsWith("application/connect")) expect(answer.body).toContain('"code":"invalid_argument"');
    else expect(answer.grpcStatus).toBe(String(Code.InvalidArgument));
    expect(added).toHaveLength(1);
    expect(added[0]).toMatchObject({ principal: "app", outcome: "error", errorCode: "KT_ERR_MALFORMED_JSON", operation: "chat", model: "", grpcStatus: Code.InvalidArgument });
    expect(added[0]!.stream).toBe(path === STREAM);
    expect(JSON.stringify(added)).not.toContain("nope");
  });

  it("gRPC (protobuf): a message Connect cannot parse is INVALID_ARGUMENT (Connect says INTERNAL; the front door answers again), recorded KT_ERR_MALFORMED_PROTOBUF", async () => {
    const { answer, added } = await call(CHAT, { "content-type": "application/grpc", ...key }, envelope(Buffer.from([0xff, 0xff, 0xff])));
    expect(answer.grpcStatus).toBe(String(Code.InvalidArgument));
    expect(added).toMatchObject([{ principal: "app", errorCode: "KT_ERR_MALFORMED_PROTOBUF", grpcStatus: Code.InvalidArgument, frontDoor: "grpc" }]);
  });

  it("a body over max_body_bytes: Connect 429 resource_exhausted, gRPC RESOURCE_EXHAUSTED; recorded KT_ERR_BODY_TOO_LARGE", async () => {
    const big = Buffer.alloc(MAX_BODY + 1024, 0x20);
    const connect = await call(CHAT, { "content-type": "application/json", "content-length": String(big.length), ...key }, big);
    expect(connect.answer.status).toBe(429);
    expect(connect.answer.body).toContain('"code":"resource_exhausted"');
    expect(connect.added).toMatchObject([{ principal: "app", errorCode: "KT_ERR_BODY_TOO_LARGE", frontDoor: "connect" }]);
    // A Governance call's body Connect reads itself (no worker holds it): the same, as an access record.
    const gov = await call("/keeptrusts.v1.GovernanceService/ListTargets", { "content-type": "application/grpc", authorization: "Bearer kt-adm" }, envelope(Buffer.alloc(MAX_BODY + 1024)));
    expect(gov.answer.grpcStatus).toBe(String(Code.ResourceExhausted));
    expect(gov.added).toMatchObject([{ kind: "access", principal: "adm", errorCode: "KT_ERR_BODY_TOO_LARGE", operation: "GovernanceService/ListTargets", frontDoor: "grpc" }]);
  });

  it("a large body while its key's share of max_held_body_bytes is full: RESOURCE_EXHAUSTED with retry-after; recorded KT_ERR_OVERLOADED", async () => {
    // The key's share (a quarter of 8 MiB) held by one stalled 1.5 MiB OpenAI body of the same key.
    const whole = Buffer.from(JSON.stringify({ model: "t", messages: [{ role: "user", content: "x".repeat(1536 * 1024) }] }));
    const stall = http.request(`${stack.url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json", ...key, "content-length": String(whole.length) } });
    stall.on("error", () => {});
    stall.write(whole.subarray(0, 400 * 1024));
    try {
      await new Promise((r) => setTimeout(r, 500));
      const body = Buffer.from(JSON.stringify({ model: "t", messages: [{ role: "user", content: "y".repeat(300 * 1024) }] }));
      const { answer, added } = await call(CHAT, { "content-type": "application/json", ...key }, body);
      expect(answer.status).toBe(429);
      expect(answer.body).toContain('"code":"resource_exhausted"');
      expect(answer.retryAfter).toBe("1");
      expect(added).toMatchObject([{ principal: "app", errorCode: "KT_ERR_OVERLOADED" }]);
    } finally {
      stall.destroy();
    }
  });

  it("an unsupported content type: 415, recorded (KT_ERR_UNSUPPORTED_MEDIA_TYPE with a key, as a failed authentication without)", async () => {
    const keyed = await call(CHAT, { "content-type": "text/plain", ...key }, Buffer.from("{}"));
    expect(keyed.answer.status).toBe(415);
    expect(keyed.added).toMatchObject([{ principal: "app", errorCode: "KT_ERR_UNSUPPORTED_MEDIA_TYPE" }]);
    await new Promise((r) => setTimeout(r, 1300));
    const anonymous = await call(CHAT, { "content-type": "application/grpc-web-text" }, Buffer.from("AAAAAAA="));
    expect(anonymous.answer.status).toBe(415);
    expect(anonymous.added).toMatchObject([{ principal: "unauthenticated", credential: "none", errorCode: "KT_ERR_UNAUTHENTICATED", frontDoor: "grpc-web" }]);
  });

  it("a gzip body that is not gzip: recorded with the code the client got", async () => {
    const { answer, added } = await call(CHAT, { "content-type": "application/json", "content-encoding": "gzip", ...key }, Buffer.from("not gzip"));
    expect(answer.status).toBeGreaterThanOrEqual(400);
    expect(added).toHaveLength(1);
    expect(added[0]).toMatchObject({ principal: "app", outcome: "error" });
    // And a good gzip body of a bad message.
    const bad = await call(CHAT, { "content-type": "application/json", "content-encoding": "gzip", ...key }, gzipSync("{nope"));
    expect(bad.answer.status).toBe(400);
    expect(bad.added).toMatchObject([{ principal: "app", errorCode: "KT_ERR_MALFORMED_JSON" }]);
  });

  it("a call a handler answers is recorded once, not again by the front door", async () => {
    const body = Buffer.from(JSON.stringify({ model: "t", messages: [{ role: "user", content: "hi" }] }));
    const ok = await call(CHAT, { "content-type": "application/json", ...key }, body);
    expect(ok.answer.status).toBe(200);
    expect(ok.added).toMatchObject([{ principal: "app", outcome: "ok" }]);
    const unknown = await call(CHAT, { "content-type": "application/json", ...key }, Buffer.from(JSON.stringify({ model: "nope", messages: [{ role: "user", content: "hi" }] })));
    expect(unknown.answer.status).toBe(404);
    expect(unknown.added).toHaveLength(1);
    expect(unknown.added[0]).toMatchObject({ errorCode: "KT_ERR_UNKNOWN_MODEL" });
  });

  /** One raw HTTP/1.1 exchange: two Authorization headers, which no client library sends. */
  function h1(path: string, auths: string[], body: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const s = net.connect(stack.services.gateway.port, "127.0.0.1");
      let out = "";
      s.on("data", (d) => (out += d.toString()));
      s.on("end", () => resolve(out));
      s.on("error", reject);
      s.write(`POST ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\n${auths.map((a) => `Authorization: ${a}\r\n`).join("")}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    });
  }

  it.each([
    ["the valid key first", ["Bearer kt-app", "Bearer wrong"]],
    ["the wrong key first", ["Bearer wrong", "Bearer kt-app"]],
    ["one header naming two", ["Bearer kt-app, Bearer wrong"]],
  ])("two Authorization values on the RPC front door (%s): 400 invalid_argument, recorded", async (_name, auths) => {
    await new Promise((r) => setTimeout(r, 1300)); // a fresh failed-authentication window for the address
    const before = (await records()).length;
    const body = JSON.stringify({ model: "t", messages: [{ role: "user", content: "hi" }] });
    const res = await h1(CHAT, auths, body);
    expect(res).toMatch(/^HTTP\/1\.1 400 /);
    expect(res).toContain('"code":"invalid_argument"');
    expect(res).toMatch(/more than one Authorization/);
    const added = (await records()).slice(before);
    expect(added).toHaveLength(1);
    expect(added[0]).toMatchObject({ principal: "unauthenticated", errorCode: "KT_ERR_INVALID_REQUEST", frontDoor: "connect" });
    expect(added[0]!.credential).toMatch(/^hmac:[0-9a-f]{16}$/);
    expect(JSON.stringify(added)).not.toContain("kt-app");
  });

  it("two Authorization headers on the OpenAI route are recorded too; a flood of them is counted, not written one by one", async () => {
    await new Promise((r) => setTimeout(r, 1300));
    const before = (await records()).length;
    const body = JSON.stringify({ model: "t", messages: [{ role: "user", content: "hi" }] });
    for (let i = 0; i < 5; i++) expect(await h1("/v1/chat/completions", ["Bearer kt-app", "Bearer wrong"], body)).toMatch(/^HTTP\/1\.1 400 /);
    const first = (await records()).slice(before);
    expect(first).toMatchObject([{ principal: "unauthenticated", errorCode: "KT_ERR_INVALID_REQUEST", frontDoor: "openai" }]);
    await new Promise((r) => setTimeout(r, 1600));
    const all = (await records()).slice(before);
    expect(all).toHaveLength(2);
    expect(all[1]).toMatchObject({ operation: "auth_failures", count: 4 });
  });
});

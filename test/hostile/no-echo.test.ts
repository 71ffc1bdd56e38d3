import http2 from "node:http2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code, createKeeptrustsClient, Direction } from "../../clients/typescript/src/index.js";
import { queryAuditLog } from "../../src/audit/index.js";
import { sha256Hex } from "../../src/config/index.js";
import { MODEL, startStack, type Stack } from "../helpers/harness.js";

// An error text never holds what the client sent verbatim: a model name, a policy id, a path, a
// header or the first characters of a body may be a key pasted into the wrong field or a person's
// details, and an error is logged by clients and proxies the request never reaches. Each answer
// below used to quote the marked text (or, for JSON.parse, its first character); now each names
// it by a hash (as its audit record does), by its kind, or not at all.

const SECRET = "Zq7-sk-live-jane.doe@example.com";
const CHAT = "/keeptrusts.v1.ChatService/CreateChatCompletion";

type Rec = Record<string, unknown>;

let stack: Stack;
beforeAll(async () => {
  stack = await startStack(
    (url, d) => `auth:
  api_keys:
    - { id: app, sha256: ${sha256Hex("kt-app")}, scopes: [chat, admin] }
providers:
  targets:
    - { id: t, provider: "openllm:chat:m", model: "${MODEL}", base_url: "${url}" }
policies:
  chain: [pii, audit-logger]
policy:
  pii:
    rules:
      - type: pii_detection
        action: redact
        patterns: [email]
  audit-logger: { path: "${d}/audit" }
`,
  );
});
afterAll(() => stack?.close());

const records = async (): Promise<Rec[]> => (await queryAuditLog(`${stack.dir}/audit`, { pageSize: 10000 })).events as unknown as Rec[];

async function openAi(path: string, body?: string | Buffer): Promise<{ status: number; message: string }> {
  const r = await fetch(`${stack.url}${path}`, {
    method: body === undefined ? "GET" : "POST",
    headers: { authorization: "Bearer kt-app", "content-type": "application/json" },
    body,
  });
  const text = await r.text();
  return { status: r.status, message: (JSON.parse(text) as { error: { message: string } }).error.message };
}

/** One call over HTTP/2: the whole answer (headers, body, trailers) as text, and the records it added. */
async function rpc(headers: Record<string, string>, body: Buffer): Promise<{ text: string; status: number; grpcStatus: string | undefined; added: Rec[] }> {
  const before = (await records()).length;
  const session = http2.connect(stack.url);
  try {
    const req = session.request({ ":method": "POST", ":path": CHAT, te: "trailers", authorization: "Bearer kt-app", ...headers });
    const out = await new Promise<{ text: string; status: number; grpcStatus: string | undefined }>((resolve, reject) => {
      let head: http2.IncomingHttpHeaders = {};
      let trailers: http2.IncomingHttpHeaders = {};
      let data = "";
      req.on("response", (h) => (head = h));
      req.on("data", (c: Buffer) => (data += c.toString("latin1")));
      req.on("trailers", (t) => (trailers = t));
      req.on("end", () =>
        resolve({
          // grpc-message is percent-encoded.
          text: unescape(JSON.stringify(head) + data + JSON.stringify(trailers)),
          status: Number(head[":status"]),
          grpcStatus: (head["grpc-status"] ?? trailers["grpc-status"]) as string | undefined,
        }),
      );
      req.on("error", reject);
      req.end(body);
    });
    return { ...out, added: (await records()).slice(before) };
  } finally {
    session.close();
  }
}

function envelope(payload: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(payload.length, 1);
  return Buffer.concat([head, payload]);
}
const chatJson = Buffer.from(JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "hi" }] }));

describe("error texts do not echo the client's input", () => {
  it("OpenAI route: a body that is not JSON is described without its first character (small and held bodies)", async () => {
    const small = await openAi("/v1/chat/completions", `${SECRET} and more`);
    expect(small).toEqual({ status: 400, message: "the request body is not valid JSON (unexpected character)" });
    // A body of 256 KiB or more is parsed by a pool worker: the same words.
    const held = await openAi("/v1/chat/completions", `${SECRET} ${"x".repeat(300 * 1024)}`);
    expect(held).toEqual({ status: 400, message: "the request body is not valid JSON (unexpected character)" });
    // A fault made of grammar and a position keeps V8's words.
    expect(await openAi("/v1/chat/completions", `{"model": 1 2}`)).toEqual({
      status: 400,
      message: "the request body is not valid JSON (Expected ',' or '}' after property value in JSON at position 12)",
    });
    expect(JSON.stringify(await records())).not.toContain("Zq7");
  });

  it("OpenAI route: an unknown model, a model path and an unknown route are named by a hash", async () => {
    const chat = await openAi("/v1/chat/completions", JSON.stringify({ model: SECRET, messages: [{ role: "user", content: "hi" }] }));
    expect(chat.status).toBe(404);
    expect(chat.message).toMatch(/^The model `unknown-model:[0-9a-f]{16}` does not exist\.$/);
    // The record names it by the same placeholder, so an operator can match the two.
    expect((await records()).at(-1)!.model).toBe(/`(.*)`/.exec(chat.message)![1]);
    const model = await openAi(`/v1/models/${encodeURIComponent(SECRET)}`);
    expect(model).toEqual({ status: 404, message: chat.message });
    const route = await openAi(`/v1/${encodeURIComponent(SECRET)}`);
    expect(route.status).toBe(404);
    expect(route.message).toMatch(/^no route for GET at this path \(path:[0-9a-f]{16}\)$/);
    for (const m of [chat.message, model.message, route.message]) expect(m).not.toMatch(/Zq7|jane|sk-live/);
  });

  it.each([
    ["Connect", { protocol: "connect" as const, useBinaryFormat: false }],
    ["gRPC", { protocol: "grpc" as const, useBinaryFormat: true }],
  ])("EvaluatePolicy over %s: an unknown policy id is named by a hash (small and held texts)", async (_name, transport) => {
    const kt = createKeeptrustsClient({ baseUrl: stack.url, apiKey: "kt-app", ...transport });
    for (const text of ["hello", "hello ".repeat(60_000)]) {
      const err = (await kt.governance.evaluatePolicy({ text, direction: Direction.REQUEST, policyId: SECRET }).catch((e: unknown) => e)) as { code: number; rawMessage: string };
      expect(err).toMatchObject({ code: Code.NotFound });
      expect(err.rawMessage).toMatch(/^unknown policy 'unknown-policy:[0-9a-f]{16}'$/);
    }
  });

  it.each([
    ["Connect unary, connect-timeout-ms", { "content-type": "application/json", "connect-protocol-version": "1", "connect-timeout-ms": SECRET }, chatJson, /connect-timeout-ms header is not a timeout/],
    ["gRPC, grpc-timeout", { "content-type": "application/grpc+json", "grpc-timeout": SECRET }, envelope(chatJson), /grpc-timeout header is not a timeout/],
    ["Connect unary, content-encoding", { "content-type": "application/json", "content-encoding": SECRET }, chatJson, /compression is not supported/],
    ["gRPC, grpc-encoding", { "content-type": "application/grpc+json", "grpc-encoding": SECRET }, envelope(chatJson), /compression is not supported/],
  ])("%s: a header Connect cannot take is refused without quoting it, and recorded KT_ERR_INVALID_REQUEST", async (_name, headers, body, words) => {
    const r = await rpc(headers, body);
    expect(r.text).not.toMatch(/Zq7|jane|sk-live/);
    expect(r.text).toMatch(words);
    if (headers["content-type"] === "application/json") expect(r.status).toBe(400);
    else expect(r.grpcStatus).toBe(String(Code.InvalidArgument));
    expect(r.added).toHaveLength(1);
    expect(r.added[0]).toMatchObject({ principal: "app", outcome: "error", errorCode: "KT_ERR_INVALID_REQUEST", grpcStatus: Code.InvalidArgument });
  });

  it("a call refused on its key with a timeout Connect cannot parse gets the key's refusal, not the timeout's echo", async () => {
    const session = http2.connect(stack.url);
    try {
      const req = session.request({ ":method": "POST", ":path": CHAT, "content-type": "application/json", authorization: "Bearer wrong", "connect-timeout-ms": SECRET });
      let text = "";
      let status = 0;
      req.on("response", (h) => (status = Number(h[":status"])));
      req.on("data", (c: Buffer) => (text += c.toString()));
      await new Promise((resolve, reject) => req.on("end", resolve).on("error", reject).end(chatJson));
      expect(status).toBe(401);
      expect(text).not.toMatch(/Zq7|jane|sk-live/);
    } finally {
      session.close();
    }
  });
});

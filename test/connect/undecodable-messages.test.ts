import http from "node:http";
import http2 from "node:http2";
import { create, toBinary, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { WireType } from "@bufbuild/protobuf/wire";
import { Code, ConnectError, createClient, type Interceptor, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ChatCompletionRequestSchema, ChatService, ListModelsRequestSchema } from "../../gen/keeptrusts/v1/chat_pb.js";
import { queryAuditLog } from "../../src/audit/index.js";
import { sha256Hex } from "../../src/config/index.js";
import { MODEL, startStack, type Stack } from "../helpers/harness.js";

// Issue #13: every kind of bad input gets a clear error in its protocol's own format, and
// secrets or PII never appear in errors. A request message that cannot be decoded was answered
// INTERNAL when it was protobuf (Connect's "parse binary: premature EOF"), and quoted the body's
// first characters or the offending value when it was JSON (`Unexpected token 'S', "SECRET-KEY"...
// is not valid JSON`, `expected number, got "jane.doe@example.com"`). Each front door now answers
// INVALID_ARGUMENT (Connect unary: HTTP 400 invalid_argument) in fixed words, records the call once
// (KT_ERR_MALFORMED_JSON), and neither the answer (message, headers, trailers) nor the record
// holds any of the body's text.

const MARKER = "SECRETMARK-7f3a9c";
const EMAIL = "jane.doe@example.com";
const CHAT = "/keeptrusts.v1.ChatService/CreateChatCompletion";
const STREAM = "/keeptrusts.v1.ChatService/StreamChatCompletion";
const LIST_MODELS = "/keeptrusts.v1.ChatService/ListModels";
const EVALUATE = "/keeptrusts.v1.GovernanceService/EvaluatePolicy";

type Rec = Record<string, unknown>;

/** A ChatCompletionRequest whose last bytes are cut off: the text with the email and the marker is still in it. */
function truncatedChat(content = `write to ${EMAIL} about ${MARKER} and then some more words`): Uint8Array {
  const whole = toBinary(ChatCompletionRequestSchema, create(ChatCompletionRequestSchema, { model: "t", messages: [{ role: "user", content }] }));
  const cut = whole.subarray(0, whole.length - 8);
  expect(Buffer.from(cut).toString("latin1")).toContain(EMAIL);
  expect(Buffer.from(cut).toString("latin1")).toContain(MARKER);
  return cut;
}

/**
 * A message a real client sends as exactly `bytes`: its first field (tag 0x0a, field 1 length-
 * delimited) and all after it as an unknown field, which protobuf-es writes back verbatim. So a
 * real transport frames, compresses and sends a message the gateway cannot decode.
 */
function sendsAsIs<T extends DescMessage>(schema: T, bytes: Uint8Array): MessageShape<T> {
  expect(bytes[0]).toBe(0x0a);
  const msg = create(schema) as MessageShape<T>;
  msg.$unknown = [{ no: 1, wireType: WireType.LengthDelimited, data: bytes.subarray(1) }];
  expect(Buffer.from(toBinary(schema, msg)).equals(Buffer.from(bytes))).toBe(true);
  return msg;
}

const envelope = (payload: Buffer | Uint8Array, flags = 0) => {
  const b = Buffer.alloc(5 + payload.length);
  b[0] = flags;
  b.writeUInt32BE(payload.length, 1);
  Buffer.from(payload).copy(b, 5);
  return b;
};

const bearer =
  (key: string): Interceptor =>
  (next) =>
  (req) => {
    req.header.set("authorization", `Bearer ${key}`);
    return next(req);
  };

describe("a request message that cannot be decoded: INVALID_ARGUMENT on every RPC front door, never quoting the body", () => {
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
policies:
  chain: [audit-logger]
policy:
  audit-logger: { path: "${d}/audit" }
`,
    );
  });
  afterAll(() => stack.close());

  const records = async (): Promise<Rec[]> => (await queryAuditLog(`${stack.dir}/audit`, { pageSize: 10000 })).events as unknown as Rec[];

  /** The records `f` added. */
  async function recordsOf(f: () => Promise<unknown>): Promise<Rec[]> {
    const before = (await records()).length;
    await f();
    return (await records()).slice(before);
  }

  /** Everything a client could be shown of a ConnectError: its message and every metadata entry. */
  const shown = (err: ConnectError) => [err.message, ...[...err.metadata.entries()].map(([k, v]) => `${k}: ${v}`)].join("\n");

  function expectNoEcho(text: string): void {
    expect(text).not.toContain(MARKER);
    expect(text).not.toContain(EMAIL);
    expect(text).not.toContain("jane.doe");
    expect(text).not.toContain("SECRETMARK");
  }

  /** `errorCode`: KT_ERR_MALFORMED_PROTOBUF for a protobuf message, KT_ERR_MALFORMED_JSON for a JSON one. */
  function expectRecorded(added: Rec[], fields: Rec, errorCode = "KT_ERR_MALFORMED_JSON"): void {
    expect(added).toHaveLength(1);
    expect(added[0]).toMatchObject({ outcome: "error", errorCode, grpcStatus: Code.InvalidArgument, model: "", ...fields });
    expectNoEcho(JSON.stringify(added));
  }

  describe("a truncated protobuf message sent by a real client", () => {
    const transports: [string, "grpc" | "connect" | "grpc-web", () => Transport][] = [
      ["gRPC (h2)", "grpc", () => createGrpcTransport({ baseUrl: stack.url, interceptors: [bearer("kt-app")] })],
      ["Connect POST application/proto (HTTP/1.1)", "connect", () => createConnectTransport({ baseUrl: stack.url, httpVersion: "1.1", interceptors: [bearer("kt-app")] })],
      ["Connect POST application/proto (h2)", "connect", () => createConnectTransport({ baseUrl: stack.url, httpVersion: "2", interceptors: [bearer("kt-app")] })],
      ["gRPC-Web application/grpc-web+proto", "grpc-web", () => createGrpcWebTransport({ baseUrl: stack.url, httpVersion: "1.1", interceptors: [bearer("kt-app")] })],
    ];

    it.each(transports)("%s, unary: INVALID_ARGUMENT, recorded once", async (_name, frontDoor, transport) => {
      const client = createClient(ChatService, transport());
      let err: ConnectError | undefined;
      const added = await recordsOf(() => client.createChatCompletion(sendsAsIs(ChatCompletionRequestSchema, truncatedChat())).catch((e) => (err = ConnectError.from(e))));
      expect(err?.code).toBe(Code.InvalidArgument);
      expect(err!.rawMessage).toBe("the request message is not a valid keeptrusts.v1.ChatCompletionRequest in protobuf binary (premature EOF)");
      expect(err!.metadata.get("x-kt-error-code")).toBe("invalid_protobuf");
      expectNoEcho(shown(err!));
      expectRecorded(added, { principal: "app", operation: "chat", frontDoor, stream: false }, "KT_ERR_MALFORMED_PROTOBUF");
    });

    it.each(transports)("%s, streamed: INVALID_ARGUMENT, recorded once", async (_name, frontDoor, transport) => {
      const client = createClient(ChatService, transport());
      let err: ConnectError | undefined;
      const added = await recordsOf(async () => {
        try {
          for await (const _ of client.streamChatCompletion(sendsAsIs(ChatCompletionRequestSchema, truncatedChat()))) expect.unreachable("no chunk for an undecodable message");
        } catch (e) {
          err = ConnectError.from(e);
        }
      });
      expect(err?.code).toBe(Code.InvalidArgument);
      expect(err!.rawMessage).toMatch(/^the request message is not a valid keeptrusts\.v1\.ChatCompletionRequest in protobuf binary/);
      expectNoEcho(shown(err!));
      expectRecorded(added, { principal: "app", operation: "chat", frontDoor, stream: true }, "KT_ERR_MALFORMED_PROTOBUF");
    });

    it("Connect GET (?encoding=proto&base64=1&message=…): INVALID_ARGUMENT, recorded once", async () => {
      // The HTTP methods the client used, seen on its way out (the transport turns POST into GET below the interceptors).
      const methods: string[] = [];
      const agent = new http.Agent();
      const addRequest = (agent as unknown as { addRequest: (req: http.ClientRequest, o: unknown) => void }).addRequest.bind(agent);
      (agent as unknown as { addRequest: (req: http.ClientRequest, o: unknown) => void }).addRequest = (req, o) => {
        methods.push(req.method);
        addRequest(req, o);
      };
      const client = createClient(ChatService, createConnectTransport({ baseUrl: stack.url, httpVersion: "1.1", useHttpGet: true, nodeOptions: { agent }, interceptors: [bearer("kt-app")] }));
      // A well-formed call goes through (the GET path serves ListModels), so the refusal below is the message's.
      expect((await client.listModels({})).models.length).toBeGreaterThan(0);
      let err: ConnectError | undefined;
      const added = await recordsOf(() => client.listModels(sendsAsIs(ListModelsRequestSchema, truncatedChat())).catch((e) => (err = ConnectError.from(e))));
      agent.destroy();
      expect(methods).toEqual(["GET", "GET"]);
      expect(err?.code).toBe(Code.InvalidArgument);
      expect(err!.rawMessage).toBe("the request message is not a valid keeptrusts.v1.ListModelsRequest in protobuf binary (premature EOF)");
      expectNoEcho(shown(err!));
      expectRecorded(added, { principal: "app", operation: "models", frontDoor: "connect" }, "KT_ERR_MALFORMED_PROTOBUF");
    });
  });

  /** One raw call over h2c: everything the client is sent (status, headers, body, trailers) as one text. */
  async function raw(method: "GET" | "POST", path: string, headers: Record<string, string>, body?: Buffer): Promise<{ status: number; code: string | undefined; all: string; body: string }> {
    const session = http2.connect(stack.url);
    try {
      return await new Promise((resolve, reject) => {
        const req = session.request({ ":method": method, ":path": path, te: "trailers", ...headers });
        let head: http2.IncomingHttpHeaders = {};
        let trailers: http2.IncomingHttpHeaders = {};
        const chunks: Buffer[] = [];
        req.on("response", (h) => (head = h));
        req.on("data", (c: Buffer) => chunks.push(c));
        req.on("trailers", (t) => (trailers = t));
        req.on("end", () => {
          const text = Buffer.concat(chunks).toString("latin1");
          const connect = /"code":"([a-z_]+)"/.exec(text)?.[1];
          const grpc = (trailers["grpc-status"] ?? head["grpc-status"] ?? /grpc-status:\s*(\d+)/.exec(text)?.[1]) as string | undefined;
          const all = [JSON.stringify(head), text, JSON.stringify(trailers)].join("\n");
          // Percent-encoded grpc-message: decoded too, so a quoted marker cannot hide in %-escapes.
          resolve({ status: Number(head[":status"]), code: grpc ?? connect, all: `${all}\n${safeDecode(all)}`, body: text });
        });
        req.on("error", reject);
        req.end(body);
      });
    } finally {
      session.close();
    }
  }
  const safeDecode = (s: string) => {
    try {
      return decodeURIComponent(s);
    } catch {
      return s.replace(/%([0-9A-F]{2})/gi, (_m, h: string) => String.fromCharCode(parseInt(h, 16)));
    }
  };

  const app = { authorization: "Bearer kt-app" };
  const bad = {
    truncated: () => Buffer.from(truncatedChat()),
    // Field 1 said to be 127 bytes long, then the marker (fewer bytes): premature EOF.
    shortField: () => Buffer.concat([Buffer.from([0x0a, 0x7f]), Buffer.from(MARKER)]),
    // Wire type 7 does not exist.
    badWireType: () => Buffer.concat([Buffer.from([0x0f]), Buffer.from(`${EMAIL} ${MARKER}`)]),
  };

  describe("malformed protobuf bodies, raw", () => {
    it.each(Object.entries(bad))("%s: Connect POST application/proto is HTTP 400 invalid_argument", async (_name, bytes) => {
      let r!: Awaited<ReturnType<typeof raw>>;
      const added = await recordsOf(async () => (r = await raw("POST", CHAT, { "content-type": "application/proto", "connect-protocol-version": "1", ...app }, bytes())));
      expect(r.status).toBe(400);
      expect(r.code).toBe("invalid_argument");
      expect(JSON.parse(r.body).message).toMatch(/^the request message is not a valid keeptrusts\.v1\.ChatCompletionRequest in protobuf binary/);
      expectNoEcho(r.all);
      expectRecorded(added, { principal: "app", frontDoor: "connect" }, "KT_ERR_MALFORMED_PROTOBUF");
    });

    it.each(Object.entries(bad))("%s: gRPC and gRPC-Web (+proto) answer grpc-status 3", async (_name, bytes) => {
      for (const [type, frontDoor] of [
        ["application/grpc", "grpc"],
        ["application/grpc+proto", "grpc"],
        ["application/grpc-web+proto", "grpc-web"],
      ] as const) {
        let r!: Awaited<ReturnType<typeof raw>>;
        const added = await recordsOf(async () => (r = await raw("POST", CHAT, { "content-type": type, ...app }, envelope(bytes()))));
        expect(r.code, type).toBe(String(Code.InvalidArgument));
        expect(safeDecode(r.all)).toContain("the request message is not a valid keeptrusts.v1.ChatCompletionRequest in protobuf binary");
        expectNoEcho(r.all);
        expectRecorded(added, { principal: "app", frontDoor }, "KT_ERR_MALFORMED_PROTOBUF");
      }
    });

    it.each(Object.entries(bad))("%s: Connect GET ?encoding=proto is HTTP 400 invalid_argument", async (_name, bytes) => {
      let r!: Awaited<ReturnType<typeof raw>>;
      const query = `connect=v1&encoding=proto&base64=1&message=${bytes().toString("base64url")}`;
      const added = await recordsOf(async () => (r = await raw("GET", `${LIST_MODELS}?${query}`, app)));
      expect(r.status).toBe(400);
      expect(r.code).toBe("invalid_argument");
      expectNoEcho(r.all);
      expectRecorded(added, { principal: "app", operation: "models", frontDoor: "connect" }, "KT_ERR_MALFORMED_PROTOBUF");
    });

    it("Connect GET whose message is not base64: HTTP 400 invalid_argument, not INTERNAL", async () => {
      let r!: Awaited<ReturnType<typeof raw>>;
      const added = await recordsOf(async () => (r = await raw("GET", `${LIST_MODELS}?connect=v1&encoding=proto&base64=1&message=${encodeURIComponent(`${MARKER}!${EMAIL}`)}`, app)));
      expect(r.status).toBe(400);
      expect(r.code).toBe("invalid_argument");
      expect(JSON.parse(r.body).message).toMatch(/not valid base64/);
      expectNoEcho(r.all);
      expectRecorded(added, { principal: "app", operation: "models" }, "KT_ERR_MALFORMED_PROTOBUF");
    });

    it("a Governance call (EvaluatePolicy, application/proto) too, as an access record", async () => {
      let r!: Awaited<ReturnType<typeof raw>>;
      const added = await recordsOf(async () => (r = await raw("POST", EVALUATE, { "content-type": "application/proto", authorization: "Bearer kt-adm" }, bad.shortField())));
      expect(r.status).toBe(400);
      expect(r.code).toBe("invalid_argument");
      expect(JSON.parse(r.body).message).toBe("the request message is not a valid keeptrusts.v1.EvaluatePolicyRequest in protobuf binary (premature EOF)");
      expectNoEcho(r.all);
      expectRecorded(added, { kind: "access", principal: "adm", operation: "GovernanceService/EvaluatePolicy" }, "KT_ERR_MALFORMED_PROTOBUF");
    });
  });

  describe("unparseable JSON bodies: the answer never quotes the body", () => {
    const bodies: [string, string, RegExp][] = [
      ["text that is not JSON", `${MARKER} ${EMAIL}`, /^the request message is not valid JSON$/],
      ["an unterminated string", `{"model": "${MARKER} ${EMAIL}`, /^the request message is not valid JSON \(at position \d+/],
      ["a value of the wrong type", `{"model": "t", "temperature": "${EMAIL} ${MARKER}"}`, /^the request message is not a valid keeptrusts\.v1\.ChatCompletionRequest: field keeptrusts\.v1\.ChatCompletionRequest\.temperature has a value it cannot take$/],
      ["an array where a message is", `{"model": "t", "messages": "${EMAIL}"}`, /^the request message is not a valid keeptrusts\.v1\.ChatCompletionRequest: field keeptrusts\.v1\.ChatCompletionRequest\.messages /],
    ];

    it.each(bodies)("%s: Connect POST application/json is HTTP 400 invalid_argument", async (_name, body, message) => {
      let r!: Awaited<ReturnType<typeof raw>>;
      const added = await recordsOf(async () => (r = await raw("POST", CHAT, { "content-type": "application/json", ...app }, Buffer.from(body))));
      expect(r.status).toBe(400);
      expect(r.code).toBe("invalid_argument");
      expect(JSON.parse(r.body).message).toMatch(message);
      expectNoEcho(r.all);
      expectRecorded(added, { principal: "app", frontDoor: "connect", operation: "chat" });
    });

    it.each(bodies)("%s: gRPC-Web+json, gRPC+json and Connect streaming answer INVALID_ARGUMENT", async (_name, body) => {
      for (const [path, type, frontDoor] of [
        [CHAT, "application/grpc-web+json", "grpc-web"],
        [CHAT, "application/grpc+json", "grpc"],
        [STREAM, "application/connect+json", "connect"],
        [STREAM, "application/grpc-web+json", "grpc-web"],
      ] as const) {
        let r!: Awaited<ReturnType<typeof raw>>;
        const added = await recordsOf(async () => (r = await raw("POST", path, { "content-type": type, ...app }, envelope(Buffer.from(body)))));
        expect(r.code, type).toBe(type.startsWith("application/connect") ? "invalid_argument" : String(Code.InvalidArgument));
        expectNoEcho(r.all);
        expectRecorded(added, { principal: "app", frontDoor, stream: path === STREAM });
      }
    });

    it.each([
      [LIST_MODELS, "kt-app", "models", bodies[0]![1], /^the request message is not valid JSON$/],
      ["/keeptrusts.v1.GovernanceService/ListTargets", "kt-adm", "GovernanceService/ListTargets", bodies[1]![1], /^the request message is not valid JSON \(at position \d+/],
      ["/keeptrusts.v1.GovernanceService/ListAuditEvents", "kt-adm", "GovernanceService/ListAuditEvents", `{"pageSize": "${EMAIL} ${MARKER}"}`, /^the request message is not a valid keeptrusts\.v1\.ListAuditEventsRequest: field keeptrusts\.v1\.ListAuditEventsRequest\.page_size has a value it cannot take$/],
      ["/keeptrusts.v1.GovernanceService/ListAuditEvents", "kt-adm", "GovernanceService/ListAuditEvents", `{"startTime": "${EMAIL} ${MARKER}"}`, /^the request message is not a valid keeptrusts\.v1\.ListAuditEventsRequest in JSON$/],
    ] as const)("Connect GET %s ?encoding=json: HTTP 400 invalid_argument", async (path, key, operation, body, message) => {
      let r!: Awaited<ReturnType<typeof raw>>;
      const added = await recordsOf(async () => (r = await raw("GET", `${path}?connect=v1&encoding=json&message=${encodeURIComponent(body)}`, { authorization: `Bearer ${key}` })));
      expect(r.status).toBe(400);
      expect(r.code).toBe("invalid_argument");
      expect(JSON.parse(r.body).message).toMatch(message);
      expectNoEcho(r.all);
      expectRecorded(added, { operation, frontDoor: "connect" });
    });
  });

  describe("large bodies, decoded by a pool worker, are answered the same way", () => {
    const big = "x".repeat(300 * 1024);

    it("a truncated 300 KiB protobuf message over gRPC (real client) and Connect", async () => {
      const bytes = truncatedChat(`${EMAIL} ${MARKER} ${big} end`);
      for (const [frontDoor, transport] of [
        ["connect", createConnectTransport({ baseUrl: stack.url, httpVersion: "1.1", interceptors: [bearer("kt-app")] })],
        ["grpc-web", createGrpcWebTransport({ baseUrl: stack.url, httpVersion: "1.1", interceptors: [bearer("kt-app")] })],
        ["grpc", createGrpcTransport({ baseUrl: stack.url, interceptors: [bearer("kt-app")] })],
      ] as const) {
        const client = createClient(ChatService, transport);
        let err: ConnectError | undefined;
        const added = await recordsOf(() => client.createChatCompletion(sendsAsIs(ChatCompletionRequestSchema, bytes)).catch((e) => (err = ConnectError.from(e))));
        expect(err?.code, frontDoor).toBe(Code.InvalidArgument);
        expect(err!.rawMessage).toBe("the request message is not a valid keeptrusts.v1.ChatCompletionRequest in protobuf binary (premature EOF)");
        expect(err!.metadata.get("x-kt-error-code")).toBe("invalid_protobuf");
        expectNoEcho(shown(err!));
        expectRecorded(added, { principal: "app", frontDoor }, "KT_ERR_MALFORMED_PROTOBUF");
      }
    });

    it.each([
      ["not JSON", `${MARKER} ${EMAIL} ${big}`],
      ["a value of the wrong type", `{"model": "t", "temperature": "${EMAIL} ${MARKER} ${big}"}`],
    ])("300 KiB of %s over Connect POST application/json and gRPC-Web+json", async (_name, body) => {
      let r!: Awaited<ReturnType<typeof raw>>;
      let added = await recordsOf(async () => (r = await raw("POST", CHAT, { "content-type": "application/json", ...app }, Buffer.from(body))));
      expect(r.status).toBe(400);
      expect(r.code).toBe("invalid_argument");
      expect(JSON.parse(r.body).message).toMatch(/^the request message is not (valid JSON|a valid keeptrusts\.v1\.ChatCompletionRequest: field keeptrusts\.v1\.ChatCompletionRequest\.temperature)/);
      expectNoEcho(r.all);
      expectRecorded(added, { principal: "app", frontDoor: "connect" });
      added = await recordsOf(async () => (r = await raw("POST", CHAT, { "content-type": "application/grpc-web+json", ...app }, envelope(Buffer.from(body)))));
      expect(r.code).toBe(String(Code.InvalidArgument));
      expectNoEcho(r.all);
      expectRecorded(added, { principal: "app", frontDoor: "grpc-web" });
    });
  });

  it("a well-formed call on the same doors is still served (the refusals above are the messages')", async () => {
    for (const transport of [
      createGrpcTransport({ baseUrl: stack.url, interceptors: [bearer("kt-app")] }),
      createConnectTransport({ baseUrl: stack.url, httpVersion: "1.1", interceptors: [bearer("kt-app")] }),
      createGrpcWebTransport({ baseUrl: stack.url, httpVersion: "1.1", interceptors: [bearer("kt-app")] }),
    ]) {
      const r = await createClient(ChatService, transport).createChatCompletion({ model: "t", messages: [{ role: "user", content: "hello" }] });
      expect(r.choices[0]!.message!.content).toBe("You said: hello");
    }
  });
});

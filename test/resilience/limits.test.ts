/**
 * Limits and hostile clients: stream quotas (per key and global) answer 429 with retry-after in
 * each protocol's own shape; deep JSON, oversized headers, slow-loris senders, hostile field values
 * and malformed protobuf each get a clean protocol-native error — and the gateway keeps serving.
 */
import http2 from "node:http2";
import net from "node:net";
import OpenAI from "openai";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { Code, ConnectError } from "../../clients/typescript/src/index.js";
import { sha256Hex } from "../../src/config/index.js";
import { MODEL, settle, sleep, startRig, within, type Rig } from "./rig.js";

const KEY_A = "kt-key-a";
const KEY_B = "kt-key-b";

describe("limits and hostile input", () => {
  let rig: Rig;
  beforeAll(async () => {
    rig = await startRig(
      ([url]) => `auth:
  api_keys:
    - { id: a, sha256: ${sha256Hex(KEY_A)} }
    - { id: b, sha256: ${sha256Hex(KEY_B)} }
providers:
  targets:
    - { id: t, provider: "openllm:chat:llama3:8b-instruct", model: "${MODEL}", base_url: "${url}" }
limits:
  max_concurrent_streams: 3
  max_streams_per_key: 2
`,
      { gateway: { headersTimeoutMs: 1000, requestTimeoutMs: 3000 } },
    );
  });
  afterAll(() => rig.close());
  beforeEach(() => rig.fakes[0]!.setBehavior("normal"));

  const sdk = (key: string) => rig.openai({ apiKey: key });
  const chat = (key: string, content = "hi") => sdk(key).chat.completions.create({ model: "t", messages: [{ role: "user", content }] });
  const servesNormally = async () => {
    const r = await within(3000, chat(KEY_A, "still serving"));
    expect(r.choices[0]!.message.content).toBe("You said: still serving");
  };

  describe("stream quotas", () => {
    it("the third concurrent stream of a key, and any stream past the global cap, gets 429 + retry-after (SDK RateLimitError, gRPC ResourceExhausted)", async () => {
      rig.fakes[0]!.setBehavior({ kind: "drip", intervalMs: 200, chunks: 200 });
      const ac = new AbortController();
      const hold = async (key: string) => {
        const s = await sdk(key).chat.completions.create({ model: "t", messages: [{ role: "user", content: "long" }], stream: true }, { signal: ac.signal });
        const it = s[Symbol.asyncIterator]();
        await it.next();
        return it;
      };
      const held = [await hold(KEY_A), await hold(KEY_A)];
      expect(rig.services.gateway.pipeline.streams.open).toBe(2);

      const perKey = await settle(hold(KEY_A));
      const e1 = (perKey as { error: any }).error;
      expect(e1).toBeInstanceOf(OpenAI.RateLimitError);
      expect(e1.status).toBe(429);
      expect(e1.headers.get("retry-after")).toBe("1");
      expect(e1.error).toMatchObject({ type: "rate_limit_error", code: "too_many_streams", message: expect.stringMatching(/API key has 2 streams open/) });
      const grpcPerKey = await settle(
        (async () => {
          for await (const _ of rig.kt("grpc", KEY_A).chat.streamChatCompletion({ model: "t", messages: [{ role: "user", content: "x" }] }));
        })(),
      );
      expect((grpcPerKey as { error: any }).error).toBeInstanceOf(ConnectError);
      expect((grpcPerKey as { error: any }).error.code).toBe(Code.ResourceExhausted);

      // Key b may open one more (3 in all), then the global cap answers.
      held.push(await hold(KEY_B));
      const global = await settle(hold(KEY_B));
      const e2 = (global as { error: any }).error;
      expect(e2).toBeInstanceOf(OpenAI.RateLimitError);
      expect(e2.headers.get("retry-after")).toBe("1");
      expect(e2.message).toMatch(/gateway has 3 streams open/);
      const grpcGlobal = await settle(
        (async () => {
          for await (const _ of rig.kt("grpc", KEY_B).chat.streamChatCompletion({ model: "t", messages: [{ role: "user", content: "x" }] }));
        })(),
      );
      expect((grpcGlobal as { error: any }).error.code).toBe(Code.ResourceExhausted);
      // Non-streamed calls are not streams: still served.
      rig.fakes[0]!.setBehavior("normal");
      expect((await chat(KEY_B)).choices[0]!.message.content).toBe("You said: hi");

      // Ending the streams gives the slots back.
      ac.abort();
      await Promise.all(held.map((it) => it.return?.().catch(() => {})));
      const deadline = Date.now() + 3000;
      while (rig.services.gateway.pipeline.streams.open > 0 && Date.now() < deadline) await sleep(20);
      expect(rig.services.gateway.pipeline.streams.open).toBe(0);
      let text = "";
      for await (const c of await sdk(KEY_A).chat.completions.create({ model: "t", messages: [{ role: "user", content: "again" }], stream: true }))
        text += c.choices[0]?.delta?.content ?? "";
      expect(text).toBe("You said: again");
    });
  });

  describe("request framing", () => {
    const post = (body: string | Uint8Array, headers: Record<string, string> = {}) =>
      fetch(`${rig.url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${KEY_A}`, ...headers }, body });

    it("JSON nested 1000 deep is a 400, not a crash", async () => {
      const deep = `{"model":"t","messages":[{"role":"user","content":"x"}],"extra":${"[".repeat(1000)}${"]".repeat(1000)}}`;
      const res = await post(deep);
      expect(res.status).toBe(400);
      const body = (await res.json()) as any;
      expect(body.error).toMatchObject({ code: "invalid_request", type: "invalid_request_error" });
      expect(body.error.message).toMatch(/nests deeper than 64/);
      const objects = `${'{"a":'.repeat(1000)}1${"}".repeat(1000)}`;
      expect((await post(objects)).status).toBe(400);
      expect(rig.fakes[0]!.requests.filter((r) => r.rawBody.includes("extra"))).toHaveLength(0);
      await servesNormally();
    });

    it("a header block over 32 KiB is a 431", async () => {
      const res = await post(JSON.stringify({ model: "t", messages: [{ role: "user", content: "x" }] }), { "x-big": "a".repeat(40 * 1024) });
      expect(res.status).toBe(431);
      await res.arrayBuffer().catch(() => {});
      await servesNormally();
    });

    it("a slow-loris client (one header byte per 200 ms) is cut off while others are served", async () => {
      const sock = net.connect(rig.services.gateway.port, "127.0.0.1");
      await new Promise<void>((r, j) => sock.once("connect", () => r()).once("error", j));
      let closedAt = 0;
      let received = "";
      sock.on("data", (d) => (received += d.toString()));
      sock.on("error", () => {});
      const closed = new Promise<void>((r) => sock.once("close", () => ((closedAt = Date.now()), r())));
      const t0 = Date.now();
      const request = `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${KEY_A}\r\nX-Pad: ${"z".repeat(200)}\r\n\r\n`;
      const dribble = (async () => {
        for (let i = 0; i < request.length && !sock.destroyed && Date.now() - t0 < 15_000; i++) {
          sock.write(request[i]!);
          await sleep(200);
        }
      })();
      // Meanwhile the gateway serves everyone else.
      await sleep(300);
      await servesNormally();
      await within(8000, closed, "the slow-loris cut-off");
      // headersTimeoutMs is 1 s: cut after roughly that (Node checks on an interval), far before the headers could finish.
      expect(closedAt - t0).toBeLessThan(5000);
      expect(received === "" || /^HTTP\/1\.1 408/.test(received)).toBe(true);
      await dribble;
      await servesNormally();
    });
  });

  describe("hostile field values", () => {
    const auth = { authorization: `Bearer ${KEY_A}`, "content-type": "application/json" };
    const raw = (body: string | Uint8Array) => fetch(`${rig.url}/v1/chat/completions`, { method: "POST", headers: auth, body });
    const msg = [{ role: "user", content: "x" }];
    const hostile: [string, string | Uint8Array][] = [
      ["huge numbers", `{"model":"t","messages":[{"role":"user","content":"x"}],"max_tokens":1e400,"temperature":-1e308,"n":18446744073709551616}`],
      ["model as a number", JSON.stringify({ model: 42, messages: msg })],
      ["model as an object", JSON.stringify({ model: { $ne: null }, messages: msg })],
      ["model as an array", JSON.stringify({ model: ["t"], messages: msg })],
      ["messages as a string", JSON.stringify({ model: "t", messages: "hi" })],
      ["messages as an object", JSON.stringify({ model: "t", messages: { 0: { role: "user", content: "x" } } })],
      ["message as a number", JSON.stringify({ model: "t", messages: [7] })],
      ["role as a number", JSON.stringify({ model: "t", messages: [{ role: 1, content: "x" }] })],
      ["content as a number", JSON.stringify({ model: "t", messages: [{ role: "user", content: 1 }] })],
      ["content as an object", JSON.stringify({ model: "t", messages: [{ role: "user", content: { text: "x" } }] })],
      ["stream as a string", JSON.stringify({ model: "t", messages: msg, stream: "yes" })],
      ["stream_options as a string", JSON.stringify({ model: "t", messages: msg, stream: true, stream_options: "all" })],
      ["temperature as a string", JSON.stringify({ model: "t", messages: msg, temperature: "hot" })],
      ["max_tokens negative", JSON.stringify({ model: "t", messages: msg, max_tokens: -5 })],
      ["tools as a number", JSON.stringify({ model: "t", messages: msg, tools: 3 })],
      ["null everywhere", JSON.stringify({ model: null, messages: null, stream: null })],
      ["NUL bytes in content", JSON.stringify({ model: "t", messages: [{ role: "user", content: "a\u0000b\u0000" }] })],
      ["NUL byte in model", JSON.stringify({ model: "t\u0000", messages: msg })],
      ["raw NUL byte in the body", `{"model":"t","messages":[{"role":"user","content":"a\u0000"}]}`],
      ["invalid UTF-8", new Uint8Array([...Buffer.from('{"model":"t","messages":[{"role":"user","content":"'), 0xc3, 0x28, 0xa0, 0xa1, ...Buffer.from('"}]}')])],
      ["lone surrogate escape", `{"model":"t","messages":[{"role":"user","content":"\\ud800"}]}`],
      ["unicode model name", JSON.stringify({ model: "llama3:8b-ínstruct-🦙", messages: msg })],
      ["RTL/zero-width model name", JSON.stringify({ model: "t\u200f\u200b", messages: msg })],
      ["10k messages", JSON.stringify({ model: "t", messages: Array.from({ length: 10_000 }, () => ({ role: "user", content: "" })) })],
      ["__proto__ at top level", `{"__proto__":{"x":1,"polluted":true},"model":"t","messages":[{"role":"user","content":"x"}]}`],
      ["__proto__ in a message", `{"model":"t","messages":[{"role":"user","content":"x","__proto__":{"role":"system","polluted":true}}]}`],
      ["constructor.prototype", `{"model":"t","messages":[{"role":"user","content":"x"}],"constructor":{"prototype":{"polluted":true}}}`],
      ["model named __proto__", JSON.stringify({ model: "__proto__", messages: msg })],
      ["model named constructor", JSON.stringify({ model: "constructor", messages: msg })],
      ["role named constructor", JSON.stringify({ model: "t", messages: [{ role: "constructor", content: "x" }] })],
      ["role named __proto__", JSON.stringify({ model: "t", messages: [{ role: "__proto__", content: "x" }] })],
      ["duplicate keys", `{"model":"nope","model":"t","messages":[{"role":"user","content":"dup"}]}`],
      ["a 1 MB string", JSON.stringify({ model: "t", messages: [{ role: "user", content: "é".repeat(500_000) }] })],
      ["top-level string", `"hello"`],
      ["top-level null", `null`],
      ["trailing garbage", `{"model":"t","messages":[]}garbage`],
    ];

    it.each(hostile)("%s: a protocol-native answer, then business as usual", async (_name, body) => {
      const res = await within(10_000, raw(body));
      const text = await res.text();
      // Never an internal error: each of these is either served (200) or judged (4xx) in OpenAI's shape.
      expect(res.status === 200 || (res.status >= 400 && res.status < 500)).toBe(true);
      if (res.status === 200 && res.headers.get("content-type")?.startsWith("text/event-stream")) {
        // `stream: true` was honoured: a well-formed SSE stream that ends with [DONE].
        expect(text.trimEnd().endsWith("data: [DONE]")).toBe(true);
        expect(text).not.toContain('"error"');
      } else if (res.status === 200) {
        expect(JSON.parse(text).object).toBe("chat.completion");
      } else {
        const json = JSON.parse(text);
        expect(res.headers.get("content-type")).toBe("application/json");
        expect(json.error).toMatchObject({ message: expect.any(String), type: expect.any(String), code: expect.any(String) });
        expect(json.error).toHaveProperty("param");
      }
      // No prototype pollution in the (in-process) gateway.
      expect(({} as any).polluted).toBeUndefined();
      expect(({} as any).x).toBeUndefined();
      expect(Object.prototype.hasOwnProperty.call(Object.prototype, "polluted")).toBe(false);
      await servesNormally();
    });

    it("the same hostile values over the Connect JSON protocol get Connect errors, not crashes", async () => {
      const route = `${rig.url}/keeptrusts.v1.ChatService/CreateChatCompletion`;
      const bodies = [
        `{"model":42}`,
        `{"model":"t","messages":"hi"}`,
        `{"model":"t","messages":[{"role":1}]}`,
        `{"__proto__":{"polluted":true},"model":"t","messages":[{"role":"user","content":"x"}]}`,
        `{"model":"t","messages":[{"role":"user","content":"x"}],"extra":${"{\"a\":".repeat(2000)}1${"}".repeat(2000)}}`,
        `{"model":"t","messages":[{"role":"user","content":"x"}],"temperature":1e400}`,
        `not json`,
      ];
      for (const body of bodies) {
        const res = await within(5000, fetch(route, { method: "POST", headers: { ...auth, "connect-protocol-version": "1" }, body }));
        const json = (await res.json()) as any;
        if (res.status !== 200) {
          expect(res.status).toBeLessThan(500);
          expect(typeof json.code).toBe("string");
          expect(typeof json.message).toBe("string");
        }
      }
      expect(({} as any).polluted).toBeUndefined();
      await servesNormally();
    });
  });

  describe("malformed protobuf", () => {
    const garbage = [
      new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
      new Uint8Array([0x0a, 0x7f, 0x01]), // field 1, length 127, 1 byte present
      new Uint8Array([0x0f]), // wire type 7
      new Uint8Array([0x12, 0x02, 0xc3, 0x28]), // field 2, invalid UTF-8 string
      new Uint8Array(Buffer.from("definitely not protobuf at all")),
    ];

    // connect-es maps a request it cannot decode to `internal` (HTTP 500); the front door answers
    // it again as invalid_argument (HTTP 400, as connect-go), never quoting the bytes. A Connect
    // error for that one call, never a crash.
    it("Connect (application/proto): a Connect error body for each, and the gateway keeps serving", async () => {
      for (const bytes of garbage) {
        const res = await within(
          5000,
          fetch(`${rig.url}/keeptrusts.v1.ChatService/CreateChatCompletion`, {
            method: "POST",
            headers: { authorization: `Bearer ${KEY_A}`, "content-type": "application/proto", "connect-protocol-version": "1" },
            body: bytes,
          }),
        );
        // None of these byte strings decodes: each is refused on its message, in fixed words.
        expect(res.status).toBe(400);
        expect(res.headers.get("content-type")).toBe("application/json");
        const json = (await res.json()) as any;
        expect(json.code).toBe("invalid_argument");
        expect(json.message).toMatch(/^the request message is not a valid keeptrusts\.v1\.ChatCompletionRequest in protobuf binary/);
        expect(json.message).not.toContain("definitely");
      }
      await servesNormally();
    });

    it("gRPC over h2c: grpc-status is an error code, the session and the gateway survive", async () => {
      const session = http2.connect(rig.url);
      session.on("error", () => {});
      try {
        const frames = [
          ...garbage.map((g) => Buffer.concat([Buffer.from([0, 0, 0, 0, g.length]), Buffer.from(g)])),
          Buffer.from([0, 0, 0, 0x10, 0x00, 0x01]), // declares 4096 bytes, sends 1
          Buffer.from([1, 0, 0, 0, 3, 1, 2, 3]), // "compressed" flag without grpc-encoding
          Buffer.from([7]), // a truncated frame header
        ];
        for (const frame of frames) {
          const status = await within(
            5000,
            new Promise<string | undefined>((resolve, reject) => {
              const req = session.request({
                ":method": "POST",
                ":path": "/keeptrusts.v1.ChatService/CreateChatCompletion",
                "content-type": "application/grpc+proto",
                te: "trailers",
                authorization: `Bearer ${KEY_A}`,
              });
              let grpcStatus: string | undefined;
              req.on("response", (h) => {
                if (h["grpc-status"] !== undefined) grpcStatus = String(h["grpc-status"]);
              });
              req.on("trailers", (t) => (grpcStatus = String(t["grpc-status"])));
              req.on("data", () => {});
              req.on("end", () => resolve(grpcStatus));
              req.on("error", reject);
              req.end(frame);
            }),
            "a gRPC call with a malformed frame",
          );
          expect(status).toBeDefined();
          // OK only if the bytes happen to decode to a message that is then judged; never a crash.
          expect([String(Code.InvalidArgument), String(Code.Internal), String(Code.NotFound), String(Code.Unimplemented), String(Code.ResourceExhausted)]).toContain(status);
        }
      } finally {
        session.close();
      }
      const r = await rig.kt("grpc", KEY_A).chat.createChatCompletion({ model: "t", messages: [{ role: "user", content: "after garbage" }] });
      expect(r.choices[0]!.message!.content).toBe("You said: after garbage");
      await servesNormally();
    });
  });
});

describe("the one-port sniffer", () => {
  it("routes a client that sends its first bytes one at a time to the right server", async () => {
    const { startStack, simpleConfig } = await import("../helpers/harness.js");
    const stack = await startStack(simpleConfig());
    try {
      const port = Number(new URL(stack.url).port);
      const reply = await new Promise<string>((resolve, reject) => {
        const s = net.connect(port, "127.0.0.1");
        let out = "";
        const request = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
        let i = 0;
        const tick = setInterval(() => {
          if (i < 3) s.write(request[i++]!);
          else {
            clearInterval(tick);
            s.write(request.slice(3));
          }
        }, 30);
        s.on("data", (d) => (out += d.toString()));
        s.on("end", () => resolve(out));
        s.on("error", reject);
      });
      expect(reply).toMatch(/^HTTP\/1\.1 200/);
      expect(reply).toContain('"status":"ok"');
    } finally {
      await stack.close();
    }
  });
});

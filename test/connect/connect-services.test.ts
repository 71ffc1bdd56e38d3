import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code, ConnectError, createKeeptrustsClient, type KeeptrustsProtocol } from "../../clients/typescript/src/index.js";
import { sha256Hex } from "../../src/config/index.js";
import { MODEL, startStack, type Stack } from "../helpers/harness.js";

const protocols: KeeptrustsProtocol[] = ["grpc", "connect", "grpc-web"];

describe("Chat and Governance services on the gateway's one port", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack(
      (url) => `auth:
  api_keys:
    - { id: app, sha256: ${sha256Hex("kt-app")} }
    - { id: ops, sha256: ${sha256Hex("kt-ops")}, scopes: [chat, admin] }
providers:
  targets:
    - id: openllm-llama3
      provider: openllm:chat:llama3:8b-instruct
      model: ${MODEL}
      base_url: ${url}
      description: Llama 3 on the fake OpenLLM
    - id: openllm-completion
      provider: openllm:completion:llama3:8b
      model: ${MODEL}
      base_url: ${url}
`,
    );
  });
  afterAll(() => stack.close());

  describe.each(protocols)("over %s", (protocol) => {
    const client = () => createKeeptrustsClient({ baseUrl: stack.url, apiKey: "kt-ops", protocol });

    it("createChatCompletion answers through the pipeline", async () => {
      const r = await client().chat.createChatCompletion({ model: "openllm-llama3", messages: [{ role: "user", content: "hello grpc" }] });
      expect(r.choices[0]!.message!.content).toBe("You said: hello grpc");
      expect(r.choices[0]!.finishReason).toBe("stop");
      expect(r.usage!.completionTokens).toBeGreaterThan(0);
      expect((stack.fake.requests.at(-1)!.body as any).model).toBe(MODEL);
    });

    it("streamChatCompletion yields several chunks whose text equals the upstream's", async () => {
      const chunks = [];
      for await (const c of client().chat.streamChatCompletion({ model: "llama3:8b-instruct", messages: [{ role: "user", content: "one two three" }], includeUsage: true }))
        chunks.push(c);
      expect(chunks.length).toBeGreaterThan(3);
      const text = chunks.map((c) => c.choices[0]?.delta?.content ?? "").join("");
      expect(text).toBe("You said: one two three");
      expect(chunks.map((c) => c.choices[0]?.finishReason).filter(Boolean)).toEqual(["stop"]);
      expect(chunks.at(-1)!.usage?.completionTokens).toBeGreaterThan(0);
    });

    it("serves legacy completions, unary and streamed", async () => {
      const r = await client().chat.createCompletion({ model: "openllm-completion", prompt: ["Once upon a time"] } as any);
      expect(r.choices[0]!.text.length).toBeGreaterThan(0);
      let streamed = "";
      for await (const c of client().chat.streamCompletion({ model: "openllm-completion", prompt: ["Once upon a time"] } as any)) streamed += c.choices[0]?.text ?? "";
      expect(streamed).toBe(r.choices[0]!.text);
    });

    it("lists targets by id and models", async () => {
      const t = await client().governance.listTargets({});
      expect(t.targets.map((x) => x.id)).toEqual(["openllm-llama3", "openllm-completion"]);
      expect(t.targets[0]).toMatchObject({ model: MODEL, healthy: true, description: "Llama 3 on the fake OpenLLM", weight: 1 });
      const m = await client().chat.listModels({});
      expect(m.models.map((x) => x.id)).toEqual(["llama3:8b-instruct", "llama3:8b"]);
    });

    it("maps an unknown model to NotFound, a bad request to InvalidArgument", async () => {
      const unknown = await client().chat.createChatCompletion({ model: "nope", messages: [{ role: "user", content: "x" }] }).catch((e) => e);
      expect(unknown).toBeInstanceOf(ConnectError);
      expect(unknown.code).toBe(Code.NotFound);
      const empty = await client().chat.createChatCompletion({ model: "openllm-llama3", messages: [] }).catch((e) => e);
      expect(empty.code).toBe(Code.InvalidArgument);
      const streamErr = await (async () => {
        for await (const _ of client().chat.streamChatCompletion({ model: "nope", messages: [{ role: "user", content: "x" }] }));
      })().catch((e) => e);
      expect(streamErr.code).toBe(Code.NotFound);
    });

    it("requires a key, and the admin scope for Governance", async () => {
      const anon = createKeeptrustsClient({ baseUrl: stack.url, protocol });
      const e1 = await anon.chat.listModels({}).catch((e) => e);
      expect(e1.code).toBe(Code.Unauthenticated);
      const app = createKeeptrustsClient({ baseUrl: stack.url, apiKey: "kt-app", protocol });
      expect((await app.chat.listModels({})).models.length).toBe(2);
      const e2 = await app.governance.listTargets({}).catch((e) => e);
      expect(e2.code).toBe(Code.PermissionDenied);
    });
  });

  it("passes the client's deadline to the upstream call", async () => {
    stack.fake.setBehavior({ kind: "drip", intervalMs: 200, chunks: 50 });
    stack.fake.reset();
    const client = createKeeptrustsClient({ baseUrl: stack.url, apiKey: "kt-ops", protocol: "grpc" });
    const err = await (async () => {
      for await (const _ of client.chat.streamChatCompletion({ model: "openllm-llama3", messages: [{ role: "user", content: "x" }] }, { timeoutMs: 500 }));
    })().catch((e) => e);
    expect(err.code).toBe(Code.DeadlineExceeded);
    await stack.fake.waitForAborted(1, 3000);
    stack.fake.setBehavior("normal");
  });

  it("masks secrets in GetPolicyConfig and keeps the old config on a bad reload", async () => {
    const gov = createKeeptrustsClient({ baseUrl: stack.url, apiKey: "kt-ops", protocol: "connect" }).governance;
    const c = await gov.getPolicyConfig({});
    expect(JSON.stringify(c.config)).not.toContain(sha256Hex("kt-ops"));
    expect(c.source).toBe(stack.configPath);
    const { readFileSync, writeFileSync } = await import("node:fs");
    const good = readFileSync(stack.configPath, "utf8");
    writeFileSync(stack.configPath, good.replace("description: Llama", "descriptoin: Llama"));
    const bad = await gov.reloadPolicyConfig({});
    expect(bad.ok).toBe(false);
    expect(bad.errors[0]).toMatch(/:\d+:\d+ providers\.targets\[0\]\.descriptoin: unknown key/);
    writeFileSync(stack.configPath, good.replace("Llama 3 on the fake OpenLLM", "Reloaded Llama"));
    const ok = await gov.reloadPolicyConfig({});
    expect(ok.ok).toBe(true);
    expect((await gov.listTargets({})).targets[0]!.description).toBe("Reloaded Llama");
  });
  // gRPC-Web's base64 text form is refused by Connect's handler before any decoding (415): a
  // large body in that form is never converted on the main thread, and nothing reaches the model.
  it.each([16, 600 * 1024])("refuses gRPC-Web's text form (%i bytes) with 415 and no upstream call", async (size) => {
    stack.fake.reset();
    const frame = Buffer.alloc(5 + size, 0x61);
    frame[0] = 0;
    frame.writeUInt32BE(size, 1);
    const res = await fetch(`${stack.url}/keeptrusts.v1.ChatService/CreateChatCompletion`, {
      method: "POST",
      headers: { authorization: "Bearer kt-ops", "content-type": "application/grpc-web-text", "x-grpc-web": "1" },
      body: frame.toString("base64"),
    });
    expect(res.status).toBe(415);
    await res.arrayBuffer();
    expect(stack.fake.requests.length).toBe(0);
  });
});

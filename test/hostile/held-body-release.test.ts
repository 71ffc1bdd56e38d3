import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createKeeptrustsClient, Direction, type KeeptrustsProtocol } from "../../clients/typescript/src/index.js";
import { sha256Hex } from "../../src/config/index.js";
import { sharedMemoryStats } from "../../src/wire/index.js";
import { MODEL, startStack, type Stack } from "../helpers/harness.js";
import { warmScanPool } from "../helpers/scan-pool.js";

// A large gRPC / Connect / gRPC-Web call's held memory goes back when the call ends, as an OpenAI
// request's does: the message's bytes, the body a worker converted it to, its rewrites and the
// body written for the upstream, and an EvaluatePolicy text. Before, only the OpenAI route
// released its body: ChatService left its memory to the garbage collector (32 sequential 1 MiB
// Connect calls filled a 64 MiB limits.max_held_body_bytes, and every key's large bodies were
// refused until a collection), and EvaluatePolicy's text was charged to the admin key for good
// (its second 700 KiB call was refused). The measure is the shared-memory count the bound checks.

describe("held memory of large RPC calls goes back when the call ends", { timeout: 120_000 }, () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack(
      (url) => `auth:
  api_keys:
    - { id: k1, sha256: ${sha256Hex("kt-k1")} }
    - { id: k2, sha256: ${sha256Hex("kt-k2")} }
    - { id: adm, sha256: ${sha256Hex("kt-adm")}, scopes: [chat, admin] }
providers:
  targets:
    - { id: t, provider: "openllm:chat:llama3:8b-instruct", model: ${MODEL}, base_url: "${url}", timeout_seconds: 120 }
    - { id: c, provider: "openllm:completion:llama3:8b", model: ${MODEL}, base_url: "${url}" }
limits:
  max_body_bytes: 1048576
  max_held_body_bytes: 4194304
policies:
  - id: p
    rules:
      - { type: pii_detection, action: redact, patterns: [email] }
`,
      { fake: { maxModelLen: 1e9, hangOn: "HANGME" } },
    );
    stack.fake.setReply("ok");
    await warmScanPool();
  }, 120_000);
  afterAll(() => stack?.close());

  // 700 KiB with an address in it (so a rule rewrites it): a 1 MiB buffer, a key's whole share.
  const text = (word = "hello") => `${word} write to a@b.example ${"x".repeat(700 * 1024)}`;

  async function back(base: number): Promise<void> {
    for (let i = 0; i < 500 && sharedMemoryStats().outBytes !== base; i++) await new Promise((r) => setTimeout(r, 10));
    expect(sharedMemoryStats().outBytes - base).toBe(0);
  }

  const protocols: [KeeptrustsProtocol, boolean][] = [
    ["grpc", true],
    ["connect", false],
    ["connect", true],
    ["grpc-web", true],
  ];

  it.each(protocols)("ChatService over %s (binary %s): unary and streamed, chat and completion, three times each", async (protocol, binary) => {
    const kt = createKeeptrustsClient({ baseUrl: stack.url, apiKey: "kt-k1", protocol, useBinaryFormat: binary });
    const base = sharedMemoryStats().outBytes;
    // Three of each: with the memory kept, the key's 1 MiB share was full after the first.
    for (let i = 0; i < 3; i++) {
      const r = await kt.chat.createChatCompletion({ model: "t", messages: [{ role: "user", content: text() }] });
      expect(r.choices[0]!.message!.content).toBe("ok");
      await back(base);
      let streamed = "";
      for await (const c of kt.chat.streamChatCompletion({ model: "t", messages: [{ role: "user", content: text() }] })) streamed += c.choices[0]?.delta?.content ?? "";
      expect(streamed).toBe("ok");
      await back(base);
      const p = await kt.chat.createCompletion({ model: "c", prompt: text() });
      expect(p.choices[0]!.text).toBe("ok");
      await back(base);
    }
    // The upstream saw the rewrite: the address redacted.
    expect(stack.fake.requests.at(-1)!.rawBody).not.toContain("a@b.example");
  });

  it.each([...protocols, ["grpc-web", false] as [KeeptrustsProtocol, boolean]])("EvaluatePolicy over %s (binary %s): the admin key's text goes back, call after call", async (protocol, binary) => {
    const kt = createKeeptrustsClient({ baseUrl: stack.url, apiKey: "kt-adm", protocol, useBinaryFormat: binary });
    const base = sharedMemoryStats().outBytes;
    for (let i = 0; i < 3; i++) {
      const r = await kt.governance.evaluatePolicy({ text: text(), direction: Direction.REQUEST });
      expect([r.decision, r.findingsTotal]).toEqual(["redact", 1]);
      await back(base);
    }
    // Refused in the handler (an unknown policy): its text goes back too.
    await expect(kt.governance.evaluatePolicy({ text: text(), direction: Direction.REQUEST, policyId: "nope" })).rejects.toMatchObject({ code: 5 });
    await back(base);
  });

  it("a call the client cancels while the upstream generates gives its memory back", async () => {
    const kt = createKeeptrustsClient({ baseUrl: stack.url, apiKey: "kt-k1", protocol: "connect", useBinaryFormat: true });
    const base = sharedMemoryStats().outBytes;
    const seen = stack.fake.requests.length;
    const ac = new AbortController();
    const call = kt.chat.createChatCompletion({ model: "t", messages: [{ role: "user", content: text("HANGME") }] }, { signal: ac.signal }).catch((e: unknown) => e);
    for (let i = 0; i < 1000 && stack.fake.requests.length === seen; i++) await new Promise((r) => setTimeout(r, 10));
    // Held meanwhile: the converted body (charged to k1) and the rewrite sent upstream.
    expect(sharedMemoryStats().outBytes).toBeGreaterThan(base);
    ac.abort();
    await call;
    await back(base);
  });

  it("a call refused before its handler runs gives its memory back", async () => {
    const base = sharedMemoryStats().outBytes;
    // Connect refuses a malformed timeout header before it calls the handler; the front door has
    // read and converted the body by then.
    const r = await fetch(`${stack.url}/keeptrusts.v1.ChatService/CreateChatCompletion`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: "Bearer kt-k1", "connect-protocol-version": "1", "connect-timeout-ms": "soon" },
      body: JSON.stringify({ model: "t", messages: [{ role: "user", content: text() }] }),
    });
    expect(r.status).toBeGreaterThanOrEqual(400);
    await r.arrayBuffer();
    await back(base);
  });

  // Answers count in the same bound but are never refused (the model has generated them): they
  // must go back as soon as they are sent, or a run of large answers would refuse new bodies.
  it.each(protocols)("a large answer's memory goes back once it is sent: ChatService over %s (binary %s), and the OpenAI route", async (protocol, binary) => {
    const kt = createKeeptrustsClient({ baseUrl: stack.url, apiKey: "kt-k1", protocol, useBinaryFormat: binary });
    const reply = `answer ${"y".repeat(400 * 1024)}`;
    stack.fake.setReply(reply);
    try {
      const base = sharedMemoryStats().outBytes;
      const made = sharedMemoryStats().made + sharedMemoryStats().reused;
      for (let i = 0; i < 3; i++) {
        const r = await kt.chat.createChatCompletion({ model: "t", messages: [{ role: "user", content: text() }] });
        expect(r.choices[0]!.message!.content === reply).toBe(true);
        await back(base);
        const o = await fetch(`${stack.url}/v1/chat/completions`, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: "Bearer kt-k2" },
          body: JSON.stringify({ model: "t", messages: [{ role: "user", content: "hi" }] }),
        });
        expect(((await o.json()) as { choices: { message: { content: string } }[] }).choices[0]!.message.content === reply).toBe(true);
        await back(base);
      }
      // The answers were held in pooled memory (not parsed here), and all of it came back.
      expect(sharedMemoryStats().made + sharedMemoryStats().reused - made).toBeGreaterThanOrEqual(6);
    } finally {
      stack.fake.setReply("ok");
    }
  });

  it("after many large calls on every protocol, another key's large body is served", async () => {
    const o = await fetch(`${stack.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: "Bearer kt-k2" },
      body: JSON.stringify({ model: "t", messages: [{ role: "user", content: text() }] }),
    });
    expect(o.status).toBe(200);
    await o.arrayBuffer();
  });
});

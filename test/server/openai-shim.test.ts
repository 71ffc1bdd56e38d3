import OpenAI from "openai";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { MODEL, simpleConfig, startStack, type Stack } from "../helpers/harness.js";

describe("OpenAI shim with the real openai SDK", () => {
  let stack: Stack;
  let client: OpenAI;
  beforeAll(async () => {
    stack = await startStack(simpleConfig(), { maxBodyBytes: 64 * 1024 });
    client = stack.openai();
  });
  afterAll(() => stack.close());
  beforeEach(() => {
    stack.fake.reset();
    stack.fake.setBehavior("normal");
    stack.fake.setReply(null);
  });

  it("answers a chat completion and sends the target's model name upstream verbatim", async () => {
    const r = await client.chat.completions.create({
      model: "openllm:chat:llama3:8b-instruct",
      messages: [
        { role: "system", content: "You are a helpful assistant." },
        { role: "user", content: "Explain RAG." },
      ],
      temperature: 0.7,
      max_tokens: 512,
    });
    expect(r.choices[0]!.message.content).toBe("You said: Explain RAG.");
    expect(r.choices[0]!.finish_reason).toBe("stop");
    expect(r.usage?.completion_tokens).toBeGreaterThan(0);
    const sent = stack.fake.requests.find((q) => q.path === "/v1/chat/completions")!;
    expect((sent.body as any).model).toBe(MODEL);
    expect((sent.body as any).temperature).toBe(0.7);
    expect(sent.authorization).toBeUndefined();
  });

  it("resolves a target id, a provider string and a bare model name to the same target", async () => {
    for (const model of ["openllm-llama3", "openllm:chat:llama3:8b-instruct", "llama3:8b-instruct", MODEL]) {
      const r = await client.chat.completions.create({ model, messages: [{ role: "user", content: "hi" }] });
      expect(r.choices[0]!.message.content).toBe("You said: hi");
    }
  });

  it("forwards unknown request fields verbatim", async () => {
    await client.chat.completions.create({
      model: "openllm-llama3",
      messages: [{ role: "user", content: "hi" }],
      seed: 7,
      response_format: { type: "json_object" },
      // vLLM extensions the SDK does not know
      ...({ guided_choice: ["yes", "no"], top_k: 5 } as object),
    });
    const body = stack.fake.requests.at(-1)!.body as any;
    expect(body).toMatchObject({ seed: 7, response_format: { type: "json_object" }, guided_choice: ["yes", "no"], top_k: 5 });
  });

  it("streams chunks as they come and ends with the usage chunk when asked", async () => {
    const stream = await client.chat.completions.create({
      model: "openllm-llama3",
      messages: [{ role: "user", content: "stream me please" }],
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = [];
    for await (const c of stream) chunks.push(c);
    const text = chunks.map((c) => c.choices[0]?.delta?.content ?? "").join("");
    expect(text).toBe("You said: stream me please");
    expect(chunks.length).toBeGreaterThan(4);
    expect(chunks.at(-2)!.choices[0]!.finish_reason).toBe("stop");
    const last = chunks.at(-1)!;
    expect(last.choices).toEqual([]);
    expect(last.usage?.completion_tokens).toBeGreaterThan(0);
  });

  it("works with the chat.completions.stream() helper", async () => {
    const runner = client.chat.completions.stream({ model: "openllm-llama3", messages: [{ role: "user", content: "helper" }] });
    const deltas: string[] = [];
    runner.on("content", (d) => deltas.push(d));
    const final = await runner.finalChatCompletion();
    expect(final.choices[0]!.message.content).toBe("You said: helper");
    expect(final.choices[0]!.finish_reason).toBe("stop");
    expect(deltas.join("")).toBe("You said: helper");
  });

  it("serves legacy completions for openllm:completion targets, JSON and streamed", async () => {
    const r = await client.completions.create({ model: "openllm:completion:llama3:8b", prompt: "Once upon", max_tokens: 16 });
    expect(r.object).toBe("text_completion");
    expect(r.choices[0]!.text.length).toBeGreaterThan(0);
    const s = await client.completions.create({ model: "openllm-llama3-completion", prompt: "Once upon", stream: true });
    let text = "";
    for await (const c of s) text += c.choices[0]?.text ?? "";
    expect(text).toBe(r.choices[0]!.text);
  });

  it("tells a chat-only model apart from a completion one", async () => {
    await expect(client.completions.create({ model: "openllm:chat:llama3:8b-instruct", prompt: "x" })).rejects.toMatchObject({
      status: 400,
      param: "model",
    });
  });

  it("lists models", async () => {
    const page = await client.models.list();
    const ids = page.data.map((m) => m.id);
    expect(ids).toEqual(expect.arrayContaining(["llama3:8b-instruct", "llama3:8b"]));
  });

  it("answers an unknown model with a 404 NotFoundError and never calls the upstream", async () => {
    const err = await client.chat.completions.create({ model: "gpt-4o", messages: [{ role: "user", content: "x" }] }).catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.NotFoundError);
    expect(err.code).toBe("model_not_found");
    // Named as its audit record names it, not verbatim (test/hostile/no-echo.test.ts).
    expect(err.message).toMatch(/^404 The model `unknown-model:[0-9a-f]{16}` does not exist\.$/);
    expect(stack.fake.requests.filter((q) => q.method === "POST")).toHaveLength(0);
  });

  it("rejects missing and mistyped fields with a 400 naming the param", async () => {
    const noMessages = await client.chat.completions.create({ model: "openllm-llama3" } as any).catch((e) => e);
    expect(noMessages).toBeInstanceOf(OpenAI.BadRequestError);
    expect(noMessages.param).toBe("messages");
    const badRole = await client.chat.completions.create({ model: "openllm-llama3", messages: [{ role: "wizard", content: "x" }] } as any).catch((e) => e);
    expect(badRole.status).toBe(400);
    expect(badRole.param).toBe("messages[0].role");
  });

  it("answers malformed JSON, bad UTF-8, non-objects, oversize bodies, wrong methods and routes in OpenAI's error shape", async () => {
    const post = (body: string | Uint8Array, headers: Record<string, string> = {}) =>
      fetch(`${stack.url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body });
    const cases: [Promise<Response>, number, string][] = [
      [post("{not json"), 400, "invalid_json"],
      [post(new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d])), 400, "invalid_json"],
      [post("[1,2,3]"), 400, "invalid_request"],
      [post(""), 400, "invalid_json"],
      [post(JSON.stringify({ model: "openllm-llama3", messages: [{ role: "user", content: "x".repeat(70_000) }] })), 413, "body_too_large"],
      [fetch(`${stack.url}/v1/chat/completions`), 405, "method_not_allowed"],
      [fetch(`${stack.url}/v1/embeddings-nope`), 404, "not_found"],
    ];
    for (const [p, status, code] of cases) {
      const res = await p;
      expect(res.status).toBe(status);
      expect(res.headers.get("content-type")).toBe("application/json");
      const body = (await res.json()) as any;
      expect(body.error).toMatchObject({ code, type: expect.any(String), message: expect.any(String) });
      expect(body.error).toHaveProperty("param");
    }
    expect(stack.fake.requests.filter((q) => q.method === "POST")).toHaveLength(0);
  });

  it("does not echo the body's text in a JSON syntax error", async () => {
    const res = await fetch(`${stack.url}/v1/chat/completions`, { method: "POST", body: '{"messages":"alice@example.com" oops}' });
    const body = (await res.json()) as any;
    expect(res.status).toBe(400);
    expect(JSON.stringify(body)).not.toContain("alice@example.com");
  });

  it("rewraps vLLM's flat error bodies so the SDK reads their message", async () => {
    const err = await client.chat.completions
      .create({ model: "openllm-llama3", messages: [{ role: "user", content: "hi" }], max_tokens: 100_000 })
      .catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect(err.message).toContain("maximum context length");
  });

  it("maps upstream 5xx to 502 and a mid-stream upstream error to an error event the SDK throws", async () => {
    stack.fake.setBehavior("status-500");
    const e500 = await client.chat.completions.create({ model: "openllm-llama3", messages: [{ role: "user", content: "hi" }] }).catch((e) => e);
    expect(e500).toBeInstanceOf(OpenAI.InternalServerError);
    expect(e500.status).toBe(502);
    expect(e500.code).toBe("upstream_failed");

    stack.fake.setBehavior("mid-stream-error");
    const s = await client.chat.completions.create({ model: "openllm-llama3", messages: [{ role: "user", content: "hi" }], stream: true });
    const got: string[] = [];
    const err = await (async () => {
      for await (const c of s) got.push(c.choices[0]?.delta?.content ?? "");
    })().catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect(String(err.message)).toContain("boom");
  });

  it("cancels the upstream request when the client goes away mid-stream", async () => {
    stack.fake.setBehavior({ kind: "drip", intervalMs: 50, chunks: 100 });
    const ac = new AbortController();
    const s = await client.chat.completions.create(
      { model: "openllm-llama3", messages: [{ role: "user", content: "long" }], stream: true },
      { signal: ac.signal },
    );
    let n = 0;
    await (async () => {
      for await (const _ of s) if (++n === 3) ac.abort();
    })().catch(() => {});
    await stack.fake.waitForAborted(1, 3000);
    expect(stack.fake.aborted).toBe(1);
  });

  it("cancels the upstream request when the client of a non-streamed call goes away", async () => {
    stack.fake.setBehavior("hang");
    const before = stack.fake.aborted;
    const ac = new AbortController();
    const pending = client.chat.completions.create({ model: "openllm-llama3", messages: [{ role: "user", content: "slow" }] }, { signal: ac.signal }).catch((e) => e);
    const deadline = Date.now() + 3000;
    while (stack.fake.inFlight === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    expect(stack.fake.inFlight).toBe(1);
    ac.abort();
    expect(await pending).toBeInstanceOf(OpenAI.APIUserAbortError);
    await stack.fake.waitForAborted(before + 1, 3000);
    expect(stack.fake.aborted).toBe(before + 1);
    expect(stack.fake.inFlight).toBe(0);
  });

  it("answers /healthz and /readyz", async () => {
    expect((await fetch(`${stack.url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${stack.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: "ready", healthy_targets: 2 });
  });
});

/**
 * Self-tests of the fake OpenLLM: the real `openai` SDK (v6) straight at the fake, plus raw
 * fetch where the exact bytes on the wire matter.
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import OpenAI from "openai";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_MODEL, fakeReplyHeader, splitWords, startFakeOpenLLM, type FakeOpenLLM } from "../fixtures/fake-openllm.js";

const MODEL = DEFAULT_MODEL;
let fake: FakeOpenLLM;

function sdk(extra: Partial<ConstructorParameters<typeof OpenAI>[0]> = {}): OpenAI {
  return new OpenAI({ baseURL: fake.url, apiKey: "sk-test", maxRetries: 0, logLevel: "off", ...extra });
}

async function post(path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(fake.url + path, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function json(res: Response): Promise<any> {
  return res.json();
}

function sseData(text: string): string[] {
  return text
    .split("\n\n")
    .filter((e) => e.length > 0)
    .map((e) => {
      expect(e.startsWith("data: ")).toBe(true);
      return e.slice("data: ".length);
    });
}

async function caught(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error("expected a rejection");
}

beforeAll(async () => {
  fake = await startFakeOpenLLM();
});
afterAll(async () => {
  await fake.close();
});
afterEach(() => {
  fake.setBehavior("normal");
  fake.setReply(null);
  fake.setHealthy(true);
  fake.reset();
});

describe("helpers", () => {
  it("keepRequests bounds what a long-running fake remembers, newest kept", async () => {
    const small = await startFakeOpenLLM({ port: 0, keepRequests: 3 });
    try {
      for (let i = 0; i < 10; i++) {
        const res = await fetch(small.url + "/chat/completions", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ model: MODEL, messages: [{ role: "user", content: `n${i}` }] }),
        });
        expect(res.status).toBe(200);
        await res.arrayBuffer();
      }
      expect(small.requests.length).toBeLessThan(6);
      expect(small.requests.at(-1)!.rawBody).toContain("n9");
      expect(small.requests.map((r) => r.rawBody).join()).not.toContain("n0");
    } finally {
      await small.close();
    }
  });

  it("splitWords keeps leading whitespace and concatenates back exactly", () => {
    expect(splitWords("You said: hello world")).toEqual(["You", " said:", " hello", " world"]);
    for (const t of ["", " ", "a", "  a  b\n\nc ", "x\ty"]) expect(splitWords(t).join("")).toBe(t);
  });
});

describe("happy paths through the openai SDK", () => {
  it("models.list returns the vLLM model card", async () => {
    const page = await sdk().models.list();
    expect(page.data).toHaveLength(1);
    const m = page.data[0] as unknown as Record<string, unknown>;
    expect(m).toMatchObject({ id: MODEL, object: "model", owned_by: "vllm", root: MODEL, parent: null, max_model_len: 4096 });
    expect(Array.isArray(m.permission)).toBe(true);
    expect((m.permission as Array<Record<string, unknown>>)[0]).toMatchObject({ object: "model_permission", allow_sampling: true });
  });

  it("chat.completions.create echoes the last user message with vLLM's null fields", async () => {
    const res = await sdk().chat.completions.create({
      model: MODEL,
      messages: [
        { role: "system", content: "be nice" },
        { role: "user", content: "first" },
        { role: "assistant", content: "ok" },
        { role: "user", content: "hello there world" },
      ],
    });
    expect(res.id).toMatch(/^chatcmpl-[0-9a-f]{32}$/);
    expect(res.object).toBe("chat.completion");
    expect(Math.abs(res.created - Date.now() / 1000)).toBeLessThan(5);
    expect(res.model).toBe(MODEL);
    expect(res.choices[0]).toEqual({
      index: 0,
      message: { role: "assistant", reasoning_content: null, content: "You said: hello there world", tool_calls: [] },
      logprobs: null,
      finish_reason: "stop",
      stop_reason: null,
    });
    // prompt = words in all messages (2+1+1+3), completion = pieces emitted (5)
    expect(res.usage).toEqual({ prompt_tokens: 7, total_tokens: 12, completion_tokens: 5, prompt_tokens_details: null });
    expect((res as unknown as Record<string, unknown>).prompt_logprobs).toBeNull();
    // Key order as vLLM serialises it.
    const raw = await json(await post("/chat/completions", { model: MODEL, messages: [{ role: "user", content: "hi" }] }));
    expect(Object.keys(raw)).toEqual(["id", "object", "created", "model", "choices", "usage", "prompt_logprobs"]);
  });

  it("content parts are joined and model defaults to the first served model", async () => {
    const res = await post("/chat/completions", { messages: [{ role: "user", content: [{ type: "text", text: "part one" }] }] });
    const body = await json(res);
    expect(body.model).toBe(MODEL);
    expect(body.choices[0].message.content).toBe("You said: part one");
  });

  it("max_tokens smaller than the reply truncates with finish_reason length", async () => {
    const res = await sdk().chat.completions.create({ model: MODEL, max_tokens: 2, messages: [{ role: "user", content: "a b c" }] });
    expect(res.choices[0]!.message.content).toBe("You said:");
    expect(res.choices[0]!.finish_reason).toBe("length");
    expect(res.usage!.completion_tokens).toBe(2);
  });

  it("stream without stream_options: role chunk, content chunks, stop chunk, no usage chunk", async () => {
    const stream = await sdk().chat.completions.create({ model: MODEL, stream: true, messages: [{ role: "user", content: "hello world" }] });
    const chunks = [];
    for await (const c of stream) chunks.push(c);
    expect(chunks[0]!.choices[0]!.delta).toEqual({ role: "assistant", content: "" });
    const content = chunks.slice(1, -1).map((c) => c.choices[0]!.delta.content);
    expect(content).toEqual(["You", " said:", " hello", " world"]);
    const last = chunks.at(-1)!;
    expect(last.choices[0]).toEqual({ index: 0, delta: { content: "" }, logprobs: null, finish_reason: "stop", stop_reason: null });
    expect(chunks.every((c) => c.choices.length === 1 && !("usage" in c))).toBe(true);
    expect(new Set(chunks.map((c) => c.id)).size).toBe(1);
  });

  it("stream with stream_options: usage chunk with choices [] before [DONE]", async () => {
    const stream = await sdk().chat.completions.create({
      model: MODEL,
      stream: true,
      stream_options: { include_usage: true },
      messages: [{ role: "user", content: "hello world" }],
    });
    const chunks = [];
    for await (const c of stream) chunks.push(c);
    const usage = chunks.at(-1)!;
    expect(usage.choices).toEqual([]);
    expect(usage.usage).toEqual({ prompt_tokens: 2, total_tokens: 6, completion_tokens: 4 });
    expect(chunks.at(-2)!.choices[0]!.finish_reason).toBe("stop");
  });

  it("raw SSE bytes: content type, compact JSON, no comments, include_usage defaults true, ends with [DONE]", async () => {
    const res = await post("/chat/completions", { model: MODEL, stream: true, stream_options: {}, messages: [{ role: "user", content: "x" }] });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
    const text = await res.text();
    expect(text.endsWith("data: [DONE]\n\n")).toBe(true);
    expect(text).not.toMatch(/^:/m);
    const data = sseData(text);
    for (const d of data.slice(0, -1)) expect(JSON.stringify(JSON.parse(d))).toBe(d);
    expect(JSON.parse(data.at(-2)!)).toMatchObject({ choices: [], usage: { prompt_tokens: 1, completion_tokens: 3, total_tokens: 4 } });

    const off = await (await post("/chat/completions", { model: MODEL, stream: true, stream_options: { include_usage: false }, messages: [{ role: "user", content: "x" }] })).text();
    expect(off).not.toContain('"usage"');
  });

  it("continuous_usage_stats puts a running usage on every chunk", async () => {
    const text = await (
      await post("/chat/completions", { model: MODEL, stream: true, stream_options: { continuous_usage_stats: true }, messages: [{ role: "user", content: "x" }] })
    ).text();
    const chunks = sseData(text).slice(0, -1).map((d) => JSON.parse(d));
    expect(chunks.map((c) => c.usage.completion_tokens)).toEqual([0, 1, 2, 3, 3, 3]);
  });

  it("chat.completions.stream() helper assembles the final completion", async () => {
    const runner = sdk().chat.completions.stream({ model: MODEL, messages: [{ role: "user", content: "helper ok" }], stream_options: { include_usage: true } });
    const final = await runner.finalChatCompletion();
    expect(final.choices[0]!.message.content).toBe("You said: helper ok");
    expect(final.choices[0]!.finish_reason).toBe("stop");
    expect(fake.requests.at(-1)!.headers["x-stainless-helper-method"]).toBe("stream");
  });

  it("completions.create: text_completion shape, JSON and stream", async () => {
    const res = await sdk().completions.create({ model: MODEL, prompt: "Once upon" });
    expect(res.id).toMatch(/^cmpl-[0-9a-f]{32}$/);
    expect(res.object).toBe("text_completion");
    expect(res.choices[0]).toEqual({ index: 0, text: "You said: Once upon", logprobs: null, finish_reason: "stop", stop_reason: null, prompt_logprobs: null });
    expect(res.usage).toEqual({ prompt_tokens: 2, total_tokens: 6, completion_tokens: 4, prompt_tokens_details: null });

    const stream = await sdk().completions.create({ model: MODEL, prompt: "Once upon", stream: true, stream_options: { include_usage: true } });
    const chunks = [];
    for await (const c of stream) chunks.push(c);
    expect(chunks.slice(0, -1).map((c) => c.choices[0]!.text)).toEqual(["You", " said:", " Once", " upon"]);
    for (const c of chunks.slice(0, -1)) {
      expect(c.usage).toBeNull();
      expect(Object.keys(c.choices[0]!)).toEqual(["index", "text", "logprobs", "finish_reason", "stop_reason"]);
    }
    expect(chunks.at(-2)!.choices[0]!.finish_reason).toBe("stop");
    expect(chunks.at(-1)!.choices).toEqual([]);
    expect(chunks.at(-1)!.usage).toMatchObject({ prompt_tokens: 2, completion_tokens: 4, total_tokens: 6 });
  });

  it("completions default max_tokens is vLLM's 16", async () => {
    const res = await sdk().completions.create({ model: MODEL, prompt: Array.from({ length: 20 }, (_, i) => `w${i}`).join(" ") });
    expect(res.choices[0]!.finish_reason).toBe("length");
    expect(res.usage!.completion_tokens).toBe(16);
  });

  it("x-fake-reply steers the reply (header) and setReply steers it without headers", async () => {
    const pii = "Sure: my SSN is 123-45-6789 and mail bob@example.com.";
    const res = await sdk().chat.completions.create(
      { model: MODEL, messages: [{ role: "user", content: "?" }] },
      { headers: { "x-fake-reply": fakeReplyHeader(pii) } },
    );
    expect(res.choices[0]!.message.content).toBe(pii);

    fake.setReply((body) => `model was ${String(body.model)}`);
    const stream = await sdk().chat.completions.create({ model: MODEL, stream: true, messages: [{ role: "user", content: "?" }] });
    let text = "";
    for await (const c of stream) text += c.choices[0]?.delta.content ?? "";
    expect(text).toBe(`model was ${MODEL}`);
  });

  it("records method, path, lowercased headers (traceparent, authorization) and the parsed body", async () => {
    const tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    await sdk().chat.completions.create({ model: MODEL, messages: [{ role: "user", content: "[REDACTED:EMAIL]" }] }, { headers: { traceparent: tp } });
    const r = fake.requests.at(-1)!;
    expect(r.method).toBe("POST");
    expect(r.path).toBe("/v1/chat/completions");
    expect(r.traceparent).toBe(tp);
    expect(r.headers.traceparent).toBe(tp);
    expect(r.authorization).toBe("Bearer sk-test");
    expect(r.headers["user-agent"]).toMatch(/^OpenAI\/JS /);
    expect(r.body).toMatchObject({ model: MODEL, messages: [{ role: "user", content: "[REDACTED:EMAIL]" }] });
  });

  it("health endpoints answer 200 at the root; setHealthy(false) makes /readyz and /healthz 503", async () => {
    for (const p of ["/healthz", "/readyz", "/livez"]) expect((await fetch(fake.origin + p)).status).toBe(200);
    fake.setHealthy(false);
    expect((await fetch(fake.origin + "/readyz")).status).toBe(503);
    expect((await fetch(fake.origin + "/healthz")).status).toBe(503);
    expect((await fetch(fake.origin + "/livez")).status).toBe(200);
  });

  it("embeddings: deterministic vectors", async () => {
    const res = await sdk().embeddings.create({ model: MODEL, input: ["a", "b"], encoding_format: "float" });
    expect(res.data).toHaveLength(2);
    expect(res.data[0]!.embedding).toHaveLength(8);
  });
});

describe("errors", () => {
  it("unknown model: flat 404 body; the SDK sees no `error` key and says '(no body)'", async () => {
    const raw = await post("/chat/completions", { model: "nope", messages: [{ role: "user", content: "x" }] });
    expect(raw.status).toBe(404);
    expect(raw.headers.get("content-type")).toBe("application/json");
    expect(await raw.text()).toBe('{"object":"error","message":"The model `nope` does not exist.","type":"NotFoundError","param":null,"code":404}');

    const err = await caught(sdk().chat.completions.create({ model: "nope", messages: [{ role: "user", content: "x" }] }));
    expect(err).toBeInstanceOf(OpenAI.NotFoundError);
    const e = err as InstanceType<typeof OpenAI.NotFoundError>;
    // What the SDK sees for a flat vLLM body: status only, error undefined, no type/code.
    expect(e.status).toBe(404);
    expect(e.message).toBe("404 status code (no body)");
    expect(e.error).toBeUndefined();
    expect(e.type).toBeUndefined();

    const errC = await caught(sdk().completions.create({ model: "nope", prompt: "x" }));
    expect((errC as Error).message).toBe("404 status code (no body)");
  });

  it("nested error style (vLLM >= 0.10.1): the SDK reads the message and type", async () => {
    const nested = await startFakeOpenLLM({ errorStyle: "nested" });
    try {
      const client = new OpenAI({ baseURL: nested.url, apiKey: "k", maxRetries: 0 });
      const err = (await caught(client.chat.completions.create({ model: "nope", messages: [{ role: "user", content: "x" }] }))) as InstanceType<typeof OpenAI.NotFoundError>;
      expect(err).toBeInstanceOf(OpenAI.NotFoundError);
      expect(err.message).toBe("404 The model `nope` does not exist.");
      expect(err.type).toBe("NotFoundError");
      expect(err.code).toBe(404);
    } finally {
      await nested.close();
    }
  });

  it("malformed JSON, missing messages, missing prompt: flat 400 BadRequestError", async () => {
    for (const [path, body] of [
      ["/chat/completions", "{not json"],
      ["/chat/completions", { model: MODEL }],
      ["/completions", { model: MODEL }],
      ["/chat/completions", "[1,2]"],
    ] as const) {
      const res = await post(path, body);
      expect(res.status).toBe(400);
      const j = await json(res);
      expect(j).toMatchObject({ object: "error", type: "BadRequestError", param: null, code: 400 });
      expect(typeof j.message).toBe("string");
    }
    expect(fake.requests[0]!.body).toBe("{not json");
    const err = await caught(sdk().chat.completions.create({ model: MODEL } as never));
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect((err as Error).message).toBe("400 status code (no body)");
  });

  it("context too long: vLLM's 400 message", async () => {
    const res = await post("/chat/completions", { model: MODEL, max_tokens: 5000, messages: [{ role: "user", content: "a b c" }] });
    expect(res.status).toBe(400);
    expect((await json(res)).message).toMatch(/^This model's maximum context length is 4096 tokens\. However, you requested 5003 tokens \(3 in the messages, 5000 in the completion\)\./);
  });

  it("unknown route: FastAPI 404 detail", async () => {
    const res = await fetch(fake.url + "/nothing");
    expect(res.status).toBe(404);
    expect(await json(res)).toEqual({ detail: "Not Found" });
  });

  it("apiKey: /v1 requires the bearer token, health does not", async () => {
    const locked = await startFakeOpenLLM({ apiKey: "secret", models: ["a/b", "c/d"] });
    try {
      const bad = new OpenAI({ baseURL: locked.url, apiKey: "wrong", maxRetries: 0 });
      const err = await caught(bad.models.list());
      expect(err).toBeInstanceOf(OpenAI.AuthenticationError);
      expect((err as Error).message).toBe('401 "Unauthorized"');
      const good = new OpenAI({ baseURL: locked.url, apiKey: "secret", maxRetries: 0 });
      expect((await good.models.list()).data.map((m) => m.id)).toEqual(["a/b", "c/d"]);
      const r = await good.chat.completions.create({ model: "c/d", messages: [{ role: "user", content: "x" }] });
      expect(r.model).toBe("c/d");
      expect((await fetch(locked.origin + "/healthz")).status).toBe(200);
    } finally {
      await locked.close();
    }
  });
});

describe("misbehaviour (setBehavior)", () => {
  const chatReq = { model: MODEL, messages: [{ role: "user" as const, content: "one two three four" }] };

  it("refuse: every connection is destroyed, the SDK sees a connection error, nothing is recorded", async () => {
    fake.setBehavior("refuse");
    const err = await caught(sdk().chat.completions.create(chatReq));
    expect(err).toBeInstanceOf(OpenAI.APIConnectionError);
    expect((err as Error).message).toBe("Connection error.");
    expect(fake.requests).toHaveLength(0);
  });

  it("hang: accepted, never answered; a client timeout counts as an aborted request", async () => {
    fake.setBehavior("hang");
    const err = await caught(sdk({ timeout: 300 }).chat.completions.create(chatReq));
    expect(err).toBeInstanceOf(OpenAI.APIConnectionTimeoutError);
    expect(fake.requests).toHaveLength(1);
    await fake.waitForAborted(1);
    expect(fake.aborted).toBe(1);
  });

  it("hang-after-headers: the stream opens (200 SSE) and never yields; aborting is counted", async () => {
    fake.setBehavior("hang-after-headers");
    const ac = new AbortController();
    const { data: stream, response } = await sdk().chat.completions.create({ ...chatReq, stream: true }, { signal: ac.signal }).withResponse();
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^text\/event-stream/);
    const it = stream[Symbol.asyncIterator]();
    const next = it.next();
    const raced = await Promise.race([next.then(() => "chunk"), new Promise((r) => setTimeout(() => r("timeout"), 300))]);
    expect(raced).toBe("timeout");
    ac.abort();
    await next.catch(() => undefined); // the SDK ends the iteration quietly on abort
    await fake.waitForAborted(1);
  });

  it("reset-mid-stream: two SSE events (role + first word), then the socket dies", async () => {
    fake.setBehavior("reset-mid-stream");
    const stream = await sdk().chat.completions.create({ ...chatReq, stream: true });
    const got: unknown[] = [];
    const err = await caught(
      (async () => {
        for await (const c of stream) got.push(c.choices[0]!.delta);
      })(),
    );
    expect(got).toEqual([{ role: "assistant", content: "" }, { content: "You" }]);
    // undici surfaces the truncated chunked body as TypeError('terminated') (cause: SocketError 'other side closed').
    expect(err).toBeInstanceOf(TypeError);
    expect((err as Error).message).toBe("terminated");
    expect(fake.aborted).toBe(0); // server-side kills are not client aborts

    // Non-streaming: half a JSON body, then the socket dies.
    const err2 = await caught(sdk().chat.completions.create(chatReq));
    expect(err2).toBeInstanceOf(Error);
  });

  it("garbage-sse: `data: {not json` makes the SDK throw a SyntaxError", async () => {
    fake.setBehavior("garbage-sse");
    const raw = await (await post("/chat/completions", { ...chatReq, stream: true })).text();
    expect(raw).toBe("data: {not json\n\n");
    const stream = await sdk().chat.completions.create({ ...chatReq, stream: true });
    const err = await caught(
      (async () => {
        for await (const _ of stream);
      })(),
    );
    expect(err).toBeInstanceOf(SyntaxError);
  });

  it("no-done: every chunk incl. usage but no [DONE]; the SDK (v6) still ends cleanly", async () => {
    fake.setBehavior("no-done");
    const raw = await (await post("/chat/completions", { ...chatReq, stream: true, stream_options: {} })).text();
    expect(raw).not.toContain("[DONE]");
    const data = sseData(raw);
    expect(JSON.parse(data.at(-1)!).choices).toEqual([]);
    const stream = await sdk().chat.completions.create({ ...chatReq, stream: true });
    let n = 0;
    for await (const _ of stream) n++;
    expect(n).toBe(8); // role + 6 words + stop
  });

  it("status-500 / status-503: vLLM error bodies; the SDK raises InternalServerError with '(no body)'", async () => {
    fake.setBehavior("status-500");
    const r500 = await post("/chat/completions", chatReq);
    expect(r500.status).toBe(500);
    expect(await json(r500)).toEqual({ object: "error", message: "Internal Server Error", type: "InternalServerError", param: null, code: 500 });
    const e500 = await caught(sdk().chat.completions.create(chatReq));
    expect(e500).toBeInstanceOf(OpenAI.InternalServerError);
    expect((e500 as Error).message).toBe("500 status code (no body)");

    fake.setBehavior({ kind: "status-503", retryAfterSeconds: 1 });
    const r503 = await post("/chat/completions", chatReq);
    expect(r503.status).toBe(503);
    expect(r503.headers.get("retry-after")).toBe("1");
    expect(await json(r503)).toMatchObject({ object: "error", type: "ServiceUnavailableError", code: 503 });
    const e503 = (await caught(sdk().models.list())) as InstanceType<typeof OpenAI.InternalServerError>;
    expect(e503).toBeInstanceOf(OpenAI.InternalServerError);
    expect(e503.status).toBe(503);
    // Health endpoints are not affected by status-* behaviours.
    expect((await fetch(fake.origin + "/readyz")).status).toBe(200);
  });

  it("status-422: FastAPI detail body; the SDK raises UnprocessableEntityError", async () => {
    fake.setBehavior("status-422");
    const raw = await post("/chat/completions", chatReq);
    expect(raw.status).toBe(422);
    const j = await json(raw);
    expect(Array.isArray(j.detail)).toBe(true);
    expect(j.detail[0]).toMatchObject({ type: "missing", loc: ["body", "messages"], msg: "Field required" });
    const err = await caught(sdk().chat.completions.create(chatReq));
    expect(err).toBeInstanceOf(OpenAI.UnprocessableEntityError);
    expect((err as Error).message).toBe("422 status code (no body)");
  });

  it("mid-stream-error: a content chunk, then a Python-spaced error event and [DONE] under 200", async () => {
    fake.setBehavior("mid-stream-error");
    const res = await post("/chat/completions", { ...chatReq, stream: true });
    expect(res.status).toBe(200);
    const data = sseData(await res.text());
    expect(data).toHaveLength(4);
    expect(JSON.parse(data[1]!).choices[0].delta).toEqual({ content: "You" });
    expect(data[2]).toBe('{"error": {"object": "error", "message": "boom", "type": "InternalServerError", "param": null, "code": 500}}');
    expect(data[3]).toBe("[DONE]");

    const stream = await sdk().chat.completions.create({ ...chatReq, stream: true });
    const got: unknown[] = [];
    const err = await caught(
      (async () => {
        for await (const c of stream) got.push(c);
      })(),
    );
    expect(got).toHaveLength(2);
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect((err as Error).message).toBe("boom");
    expect((err as InstanceType<typeof OpenAI.APIError>).status).toBeUndefined();

    fake.setBehavior({ kind: "mid-stream-error", message: "CUDA out of memory" });
    const c = sseData(await (await post("/completions", { model: MODEL, prompt: "x", stream: true })).text());
    expect(c[1]).toContain('"message": "CUDA out of memory"');
  });

  it("drip: one chunk every intervalMs; chunks sets how many", async () => {
    fake.setBehavior({ kind: "drip", intervalMs: 40, chunks: 5 });
    const t0 = performance.now();
    const stream = await sdk().chat.completions.create({ ...chatReq, stream: true });
    const times: number[] = [];
    const parts: string[] = [];
    for await (const c of stream) {
      times.push(performance.now());
      parts.push(c.choices[0]?.delta.content ?? "");
    }
    expect(parts.slice(1, -1)).toEqual(["You", " said:", " one", " two", " three"]);
    // Paced by the fake, not by the reader: five intervals lie between the request and the last
    // content chunk. (Gaps between single chunks as the client reads them are not a measure: on a
    // loaded machine two chunks arrive in one read and the gap between them is zero.)
    expect(times[times.length - 2]! - t0).toBeGreaterThanOrEqual(5 * 40 - 5);
  });

  it("x-fake-chunk-delay-ms paces a normal stream; a client abort mid-stream is counted", async () => {
    const ac = new AbortController();
    const stream = await sdk().chat.completions.create({ ...chatReq, stream: true }, { signal: ac.signal, headers: { "x-fake-chunk-delay-ms": "50" } });
    let n = 0;
    for await (const _ of stream) {
      if (++n === 2) ac.abort();
    }
    expect(n).toBe(2);
    await fake.waitForAborted(1);
    expect(fake.inFlight).toBe(0);
  });

  it("behaviour applies to requests that arrive after setBehavior", async () => {
    fake.setBehavior("hang");
    const p = sdk({ timeout: 600 }).chat.completions.create(chatReq).catch((e) => e);
    await fake.waitForRequests(1);
    fake.setBehavior("normal");
    const ok = await sdk().chat.completions.create(chatReq);
    expect(ok.choices[0]!.message.content).toBe("You said: one two three four");
    expect(fake.requests.map((r) => r.behavior)).toEqual(["hang", "normal"]);
    expect(await p).toBeInstanceOf(OpenAI.APIConnectionTimeoutError);
  });
});

describe("standalone CLI", () => {
  it("fake-openllm-main.ts prints its URL and serves", async () => {
    const child = spawn(process.execPath, ["--import", "tsx", "test/fixtures/fake-openllm-main.ts", "--port", "0", "--model", "x/y"], {
      cwd: new URL("../..", import.meta.url).pathname,
      stdio: ["ignore", "pipe", "inherit"],
    });
    try {
      const rl = createInterface({ input: child.stdout! });
      const [line] = (await once(rl, "line")) as [string];
      const url = /http:\/\/\S+/.exec(line)![0];
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1$/);
      const client = new OpenAI({ baseURL: url, apiKey: "k", maxRetries: 0 });
      expect((await client.models.list()).data[0]!.id).toBe("x/y");
    } finally {
      child.kill("SIGTERM");
      await once(child, "exit");
    }
  });
});

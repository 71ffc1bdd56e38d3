import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { simpleConfig, startStack, type Stack } from "../helpers/harness.js";

// A large body's skeleton (every value but its long texts) crosses to the main thread and back by
// structured clone: 15 MiB of one-letter messages (~520,000) held the event loop 240-350 ms a
// crossing (round-15 outside battery), and 15 MiB of tool definitions 537 ms. Past 100,000
// objects, arrays and short strings a held body is refused in the worker, before any crossing.

const messages = (n: number) => Array.from({ length: n }, () => ({ role: "user", content: "a" }));

describe("held bodies with too many JSON values", { timeout: 120_000 }, () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack(simpleConfig(), { fake: { maxModelLen: 1e9 } });
  });
  afterAll(() => stack?.close());

  const post = (path: string, body: unknown, contentType = "application/json") =>
    fetch(`${stack.url}${path}`, { method: "POST", headers: { "content-type": contentType }, body: JSON.stringify(body) });

  it("OpenAI door: 40,000 messages (120,000 values, ~1.2 MB) get 400 naming the bound; 30,000 are served", async () => {
    const over = await post("/v1/chat/completions", { model: "openllm-llama3", max_tokens: 1, messages: messages(40_000) });
    expect(over.status).toBe(400);
    const e = (await over.json()) as { error: { code: string; message: string } };
    expect(e.error.code).toBe("invalid_request");
    expect(e.error.message).toMatch(/more than 100,000 JSON objects, arrays and short strings/);
    const under = await post("/v1/chat/completions", { model: "openllm-llama3", max_tokens: 1, messages: messages(30_000) });
    expect(under.status).toBe(200);
  });

  it("tool definitions count too: 8,000 tools of 15 values each get 400", async () => {
    const tool = (i: number) => ({
      type: "function",
      function: { name: `f${i}`, description: "look it up", parameters: { type: "object", properties: { q: { type: "string", description: "what to look up" }, n: { type: "integer" } }, required: ["q"] } },
    });
    const r = await post("/v1/chat/completions", { model: "openllm-llama3", max_tokens: 1, messages: messages(1), tools: Array.from({ length: 8000 }, (_, i) => tool(i)) });
    expect(r.status).toBe(400);
  });

  it("a token-id prompt is one array whatever its length: 200,000 ids are not refused by the bound", async () => {
    const r = await post("/v1/completions", { model: "openllm-llama3-completion", max_tokens: 1, prompt: Array.from({ length: 200_000 }, (_, i) => (i * 7919) % 32000) });
    const text = await r.text();
    expect(text).not.toMatch(/JSON objects, arrays and short strings/);
    expect(r.status).toBe(200);
  });

  it("Connect door: the same 400 as invalid_argument, in Connect's error format", async () => {
    const r = await post("/keeptrusts.v1.ChatService/CreateChatCompletion", { model: "openllm-llama3", maxTokens: 1, messages: messages(40_000) });
    expect(r.status).toBe(400);
    const e = (await r.json()) as { code: string; message: string };
    expect(e.code).toBe("invalid_argument");
    expect(e.message).toMatch(/more than 100,000 JSON objects, arrays and short strings/);
  });
});



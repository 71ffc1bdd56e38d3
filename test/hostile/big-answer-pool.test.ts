import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createKeeptrustsClient } from "../../clients/typescript/src/index.js";
import { compilePolicyEngine, parseHeldAnswer } from "../../src/policy/index.js";
import { scanPool } from "../../src/policy/pool/index.js";
import { sharedMemorySettled, sharedMemoryStats, type JsonObject } from "../../src/wire/index.js";
import { configWith } from "../policy/helpers.js";
import { MODEL, simpleConfig, startStack, type Stack } from "../helpers/harness.js";
import { warmScanPool } from "../helpers/scan-pool.js";

// A non-streamed answer from 256 KiB on is never decoded, parsed, checked or serialised on the main
// thread: its bytes go into pooled shared memory and pool workers parse them, run the response
// rules, filter the logprobs and write a changed answer anew (src/policy/held-answer.ts). These
// tests check that structurally (the pool's job counts) and that the bytes a client gets are
// exactly what the small-answer path (the policy engine on this thread) makes of the same answer.
// How long /healthz waits meanwhile is measured by bench/hostile.ts (ROUTES=answer), not here.

const rules = [
  { type: "pii_detection", action: "redact", patterns: ["email", "credit_card"] },
  { type: "pii_detection", action: "block", patterns: ["ssn"], apply_to: "response" },
  { type: "content_filter", action: "log", categories: ["violence"] },
];
const rulesYaml = `policies:
  - id: guard
    rules:
      - { type: pii_detection, action: redact, patterns: [email, credit_card] }
      - { type: pii_detection, action: block, patterns: [ssn], apply_to: response }
      - { type: content_filter, action: log, categories: [violence] }
`;

/** The small-answer path: the policy engine's response phase on this thread, over the same answer. */
const engine = compilePolicyEngine(configWith([{ id: "guard", rules }]));

/** The bytes a client gets of `answer` through the small-answer path. */
async function inlineBytes(answer: JsonObject): Promise<string> {
  const parsed = JSON.parse(JSON.stringify(answer)) as JsonObject;
  const r = await engine.checkResponse(parsed, "chat");
  // Unchanged: the upstream's own bytes (the fake writes JSON.stringify of its answer).
  return r.body === parsed ? JSON.stringify(answer) : JSON.stringify(r.body);
}

/** Logprobs spelling `text` token by token, as vLLM writes them (top_logprobs make them ~50x the text). */
function logprobs(text: string, top = 2): JsonObject {
  const tokens = text.match(/\s*\S+/g) ?? [];
  const entry = (t: string, lp: number) => ({ token: t, logprob: lp, bytes: [...Buffer.from(t)] });
  return { content: tokens.map((t) => ({ ...entry(t, -0.25), top_logprobs: Array.from({ length: top }, (_, k) => entry(k === 0 ? t : `${t}${k}`, -0.25 - k)) })) };
}

function prose(n: number, pii: boolean): string {
  let out = "";
  for (let i = 0; i < n; i++)
    out += pii && i % 40 === 7 ? `row ${i}: write to jane.doe${i}@example.com, card 4111 1111 1111 1111, about the weather.\n` : `row ${i}: nothing in particular about the weather today.\n`;
  return out;
}

/** A large chat answer: PII in a long content, in tool-call arguments, and spelled only by the logprobs of an unchanged choice. */
function bigAnswer(): JsonObject {
  return {
    id: "chatcmpl-big",
    object: "chat.completion",
    created: 1744360000,
    model: MODEL,
    choices: [
      // Changed by a rule: its logprobs go (they would spell the value again).
      { index: 0, message: { role: "assistant", reasoning_content: null, content: prose(6000, true), tool_calls: [] }, logprobs: logprobs("mail jane.doe@example.com today"), finish_reason: "stop", stop_reason: null },
      // PII only in a tool call's JSON arguments (a long one: held in the skeleton of a request, here read whole).
      {
        index: 1,
        message: {
          role: "assistant",
          content: null,
          tool_calls: [{ id: "call_1", type: "function", function: { name: "notify", arguments: JSON.stringify({ to: "ops@example.net", note: "n".repeat(400), card: "4111 1111 1111 1111" }) } }],
        },
        logprobs: null,
        finish_reason: "tool_calls",
      },
      // Content unchanged, but its logprobs spell an address: they go.
      { index: 2, message: { role: "assistant", content: "a clean answer" }, logprobs: logprobs(`${prose(200, false)} then write to bob.smith@example.org`), finish_reason: "length" },
      // Clean content, clean logprobs (the bulk of the answer: many small objects): kept.
      { index: 3, message: { role: "assistant", content: "plain" }, logprobs: logprobs(prose(300, false)), finish_reason: "stop" },
    ],
    usage: { prompt_tokens: 7, total_tokens: 12352, completion_tokens: 12345, prompt_tokens_details: null },
    prompt_logprobs: null,
  };
}

/** The same shape with no PII anywhere: nothing changes it. */
function cleanAnswer(): JsonObject {
  return {
    id: "chatcmpl-clean",
    object: "chat.completion",
    created: 1744360000,
    model: MODEL,
    choices: [{ index: 0, message: { role: "assistant", content: prose(2000, false), tool_calls: [] }, logprobs: logprobs(prose(200, false)), finish_reason: "stop", stop_reason: null }],
    usage: { prompt_tokens: 7, total_tokens: 9, completion_tokens: 2 },
    prompt_logprobs: null,
  };
}

let stack: Stack;
beforeAll(async () => {
  stack = await startStack(simpleConfig(rulesYaml));
  await warmScanPool();
}, 120_000);
afterAll(() => stack?.close());

function answerWith(json: JsonObject): void {
  stack.fake.setBehavior({ kind: "scripted", json, chunks: [] });
}

const ask = { model: MODEL, messages: [{ role: "user" as const, content: "tell me a long story" }] };

function jobsSince(before: Partial<Record<string, number>>) {
  const now = scanPool().completedByKind;
  return (k: string) => ((now as Record<string, number>)[k] ?? 0) - (before[k] ?? 0);
}

describe("large answers in the policy pool", { timeout: 120_000 }, () => {
  it("an answer from 256 KiB is parsed, checked, filtered and written by workers: byte for byte what the small-answer path gives", async () => {
    const answer = bigAnswer();
    const upstream = JSON.stringify(answer);
    expect(upstream.length).toBeGreaterThan(512 * 1024);
    answerWith(answer);
    const grew = jobsSince({ ...scanPool().completedByKind });
    const memoryBefore = sharedMemoryStats();
    const res = await stack.openai().chat.completions.create(ask).asResponse();
    expect(res.status).toBe(200);
    const got = await res.text();
    expect(grew("parse-answer")).toBe(1);
    expect(grew("answer-chain")).toBe(1);
    // Its bytes went into memory the helper thread made (or reused), never made on the event loop.
    const memoryAfter = sharedMemoryStats();
    expect(memoryAfter.made + memoryAfter.reused - memoryBefore.made - memoryBefore.reused).toBeGreaterThanOrEqual(1);

    const expected = await inlineBytes(answer);
    expect(got.length).toBe(expected.length);
    expect(got === expected).toBe(true);
    for (const raw of ["@example.com", "4111 1111 1111 1111", "ops@example.net", "bob.smith"]) expect(got).not.toContain(raw);
    const body = JSON.parse(got);
    expect(body.choices[0].logprobs).toBeNull();
    expect(body.choices[2].logprobs).toBeNull();
    expect(body.choices[3].logprobs.content.length).toBeGreaterThan(2000);
    expect(JSON.parse(body.choices[1].message.tool_calls[0].function.arguments).to).toBe("[REDACTED:EMAIL]");
    expect(body.usage.completion_tokens).toBe(12345);
  });

  it("the held path's summary and governance events (what the audit record holds) are the small path's", async () => {
    const text = JSON.stringify(bigAnswer());
    const bytes = new SharedArrayBuffer(Buffer.byteLength(text));
    Buffer.from(bytes).write(text);
    const summary = await parseHeldAnswer(bytes, bytes.byteLength, "openllm-llama3");
    // Exactly what noteResponse and the attempt's span read of an answer, and nothing more.
    expect(JSON.parse(JSON.stringify(summary))).toEqual({
      id: "chatcmpl-big",
      model: MODEL,
      usage: { prompt_tokens: 7, completion_tokens: 12345 },
      choices: [{ finish_reason: "stop" }, { finish_reason: "tool_calls" }, { finish_reason: "length" }, { finish_reason: "stop" }],
    });
    const held = await engine.checkResponse(summary, "chat");
    const inline = await engine.checkResponse(JSON.parse(text) as JsonObject, "chat");
    expect(held.events.length).toBeGreaterThan(0);
    expect(held.events).toEqual(inline.events);
    expect(JSON.stringify(held.events)).not.toContain("@example");
  });

  it("the real openai SDK reads a held answer as it reads a small one", async () => {
    answerWith(bigAnswer());
    const r = await stack.openai().chat.completions.create(ask);
    expect(r.id).toBe("chatcmpl-big");
    expect(r.choices).toHaveLength(4);
    expect(r.choices[0]!.message.content).toContain("[REDACTED:EMAIL]");
    expect(r.choices[0]!.message.content).not.toContain("jane.doe");
    expect(r.choices[1]!.finish_reason).toBe("tool_calls");
    expect(r.usage?.prompt_tokens).toBe(7);
  });

  it("an answer no rule changes goes out as the upstream's own bytes", async () => {
    const answer = cleanAnswer();
    answerWith(answer);
    const grew = jobsSince({ ...scanPool().completedByKind });
    const res = await stack.openai().chat.completions.create(ask).asResponse();
    const got = await res.text();
    expect(grew("parse-answer")).toBe(1);
    expect(got === JSON.stringify(answer)).toBe(true);
    expect(got === (await inlineBytes(answer))).toBe(true);
  });

  it("a block in a large answer is the same OpenAI error as in a small one, and names no value", async () => {
    const big = bigAnswer();
    (big.choices as JsonObject[])[3] = { index: 3, message: { role: "assistant", content: `${prose(100, false)} my ssn is 123-45-6789` }, logprobs: null, finish_reason: "stop" };
    const small = { ...big, choices: [(big.choices as JsonObject[])[3]] };
    const errors: unknown[] = [];
    for (const answer of [big, small]) {
      answerWith(answer);
      const err = await stack
        .openai()
        .chat.completions.create(ask)
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(err).toBeDefined();
      errors.push(err);
    }
    const [a, b] = errors as { status: number; error: { type: string; code: string; message: string } }[];
    expect(a!.status).toBe(400);
    expect(a!.error.code).toBe("content_blocked");
    expect(a!.error).toEqual(b!.error);
    expect(JSON.stringify(a!.error)).not.toContain("123-45-6789");
  });

  it("a large answer that is not a JSON object is the upstream protocol error a small one is", async () => {
    const list = Array.from({ length: 20_000 }, (_, i) => `item ${i} of a list that is not an object`);
    const errors: { status: number; error: unknown }[] = [];
    for (const json of [list, ["short"]]) {
      answerWith(json as unknown as JsonObject);
      errors.push(
        (await stack
          .openai()
          .chat.completions.create(ask)
          .then(
            () => undefined,
            (e: unknown) => e,
          )) as { status: number; error: unknown },
      );
    }
    expect(errors[0]!.status).toBe(502);
    expect(errors[0]!.error).toEqual(errors[1]!.error);
  });

  it("a held answer's pooled memory goes back for the next one once it has been sent", async () => {
    answerWith(cleanAnswer());
    // The client may have the last byte before the gateway's response has closed (the release):
    // wait for the kept memory to be back where it was before each next answer.
    const back = async (kept: number) => {
      for (let i = 0; i < 1000 && sharedMemoryStats().keptBytes < kept; i++) await new Promise((r) => setTimeout(r, 10));
      await sharedMemorySettled();
    };
    await stack.openai().chat.completions.create(ask);
    // Until the first answer's memory (and any earlier test's) is back: kept bytes no longer growing.
    for (let last = -1, same = 0; same < 5; ) {
      await new Promise((r) => setTimeout(r, 20));
      await sharedMemorySettled();
      const k = sharedMemoryStats().keptBytes;
      same = k === last ? same + 1 : 0;
      last = k;
    }
    const before = sharedMemoryStats();
    for (let i = 0; i < 3; i++) {
      await stack.openai().chat.completions.create(ask);
      await back(before.keptBytes);
    }
    const after = sharedMemoryStats();
    // Three more answers of the same size, and the helper made no new buffer for them.
    expect(after.reused - before.reused).toBeGreaterThanOrEqual(3);
    expect(after.made).toBe(before.made);
  });

  it.each([
    ["grpc", true],
    ["connect", true],
    ["connect", false],
    ["grpc-web", true],
  ] as const)("over %s (binary %s) a large answer is converted and encoded by a worker: the message a small one's conversion gives", async (protocol, binary) => {
    const answer = bigAnswer();
    answerWith(answer);
    const grew = jobsSince({ ...scanPool().completedByKind });
    const kt = createKeeptrustsClient({ baseUrl: stack.url, protocol, useBinaryFormat: binary });
    const r = await kt.chat.createChatCompletion({ model: MODEL, messages: [{ role: "user", content: "tell me a long story" }] });
    expect(grew("parse-answer")).toBe(1);
    expect(grew("module")).toBe(1);
    const expected = JSON.parse(await inlineBytes(answer));
    expect(r.id).toBe("chatcmpl-big");
    expect(r.choices).toHaveLength(4);
    expect(r.choices[0]!.message!.content === expected.choices[0].message.content).toBe(true);
    expect(r.choices[1]!.message!.toolCalls[0]!.function!.arguments).toBe(expected.choices[1].message.tool_calls[0].function.arguments);
    // Logprobs travel in the choice's `extra` (a Struct): the filter's result, as in the JSON.
    expect(r.choices[2]!.extra?.logprobs ?? null).toBeNull();
    expect(JSON.stringify(r.choices[3]!.extra?.logprobs) === JSON.stringify(expected.choices[3].logprobs)).toBe(true);
    expect(r.usage?.completionTokens).toBe(12345);
  });
});

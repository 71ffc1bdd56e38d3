import { describe, expect, it } from "vitest";
import { ChunkParser, parseChunk } from "../../src/upstream/chunk-parser.js";

// The template reading of plain content deltas (src/upstream/chunk-parser.ts) must give exactly
// what JSON.parse gives, key order included, for every event of every stream: here streams of
// events that share a template with a few that do not, and texts a template must not read.

const M = "meta-llama/Llama-3.1-8B-Instruct";
const chat = (content: string, extra: Record<string, unknown> = {}, id = "chatcmpl-1") =>
  JSON.stringify({ id, object: "chat.completion.chunk", created: 1744360000, model: M, choices: [{ index: 0, delta: { content }, logprobs: null, finish_reason: null }], ...extra });
const completion = (text: string) =>
  JSON.stringify({ id: "cmpl-1", object: "text_completion", created: 1, model: M, choices: [{ index: 0, text, logprobs: null, finish_reason: null, stop_reason: null, prompt_logprobs: null }], usage: null });

/** Parses every event both ways; each must come out the same, in the same key order. */
function same(events: string[]): void {
  const p = new ChunkParser("t");
  for (const data of events) {
    const fast = p.parse(data, undefined);
    const full = parseChunk(data, undefined, "t");
    expect(fast).toEqual(full);
    expect(JSON.stringify(fast)).toBe(JSON.stringify(full));
  }
}

describe("ChunkParser: plain deltas read from a template", () => {
  it("reads a vLLM stream's deltas as JSON.parse does, escaped and unusual texts included", () => {
    const texts = ["a", "Hello", "", " ", "naïve 日本 😀", 'say "hi"', "back\\slash", "line\nbreak", "tab\t", "\u0001", "}", '"}]}', "\\u0041", "</script>", "a".repeat(5000)];
    const events = [JSON.stringify({ id: "chatcmpl-1", object: "chat.completion.chunk", created: 1744360000, model: M, choices: [{ index: 0, delta: { role: "assistant", content: "" }, logprobs: null, finish_reason: null }] })];
    for (let i = 0; i < 200; i++) events.push(chat(texts[i % texts.length]!));
    events.push(JSON.stringify({ id: "chatcmpl-1", object: "chat.completion.chunk", created: 1744360000, model: M, choices: [{ index: 0, delta: { content: "" }, logprobs: null, finish_reason: "stop", stop_reason: null }] }));
    events.push(JSON.stringify({ id: "chatcmpl-1", object: "chat.completion.chunk", created: 1744360000, model: M, choices: [], usage: { prompt_tokens: 1, total_tokens: 2, completion_tokens: 1 } }));
    same(events);
  });

  it("reads completions' text, and follows a stream whose id, model or other fields change", () => {
    const events: string[] = [];
    for (let i = 0; i < 50; i++) events.push(completion(i % 7 === 0 ? 'q"' : "w"));
    for (let i = 0; i < 50; i++) events.push(chat("x", {}, `chatcmpl-${i % 3}`));
    for (let i = 0; i < 50; i++) events.push(chat("y", i % 2 ? { usage: null } : { system_fingerprint: "fp" }));
    // Spaces around the tokens (Python's json.dumps), and a text that ends the way the template's suffix begins.
    for (let i = 0; i < 20; i++) events.push(`{"id": "c", "choices": [{"index": 0, "delta": {"content": "${i}"}, "finish_reason": null}]}`);
    same(events);
  });

  it("never takes the delta mark inside another field for the delta", () => {
    // An id that spells the mark: only the real delta may be replaced.
    const tricky = 'x","choices":[{"index":0,"delta":{"content":"';
    const events: string[] = [];
    for (let i = 0; i < 30; i++) events.push(chat(String(i % 4), {}, tricky));
    for (let i = 0; i < 30; i++) events.push(JSON.stringify({ [`k"delta":{"content":"`]: 1, id: "c", choices: [{ index: 0, delta: { content: `${i}` }, logprobs: null, finish_reason: null }] }));
    // The delta holding a second key after the content, or logprobs: not plain, parsed in full.
    for (let i = 0; i < 30; i++) events.push(JSON.stringify({ id: "c", choices: [{ index: 0, delta: { content: "z", tool_calls: [] }, logprobs: null, finish_reason: null }] }));
    for (let i = 0; i < 30; i++) events.push(JSON.stringify({ id: "c", choices: [{ index: 0, delta: { content: "z" }, logprobs: { content: [{ token: "z", logprob: -0.1 }] }, finish_reason: null }] }));
    same(events);
  });

  it("still refuses what is not a chunk, and a mid-stream error, after a template is learnt", () => {
    const p = new ChunkParser("t");
    p.parse(chat("a"), undefined);
    p.parse(chat("b"), undefined);
    expect(() => p.parse(chat("a").slice(0, -1), undefined)).toThrow(/not JSON/);
    expect(() => p.parse(`{"error":{"message":"boom"}}`, undefined)).toThrow(/failed mid-stream: boom/);
    expect(() => p.parse(chat("c"), "error")).toThrow(/failed mid-stream/);
    expect(p.parse(chat("d"), undefined)).toEqual(JSON.parse(chat("d")));
  });
});

import OpenAI from "openai";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createKeeptrustsClient } from "../../clients/typescript/src/index.js";
import { MODEL, startStack, type Stack } from "../helpers/harness.js";

/**
 * A PII value split across stream events under a field the guard has no name for (a vendor's
 * `foo_text`, a nested object's string, a string in an array of objects, a choice's own unknown
 * key, vLLM's `reasoning`, a field beside the choices): the real openai SDK and the protobuf clients over every transport never
 * see the raw value anywhere in the stream, and see the redacted form once the pieces are joined
 * (#13). Before, such strings were scanned one event at a time, and each piece went out raw.
 */
const config = (mode: "buffered" | "incremental") => (url: string) => `providers:
  targets:
    - id: openllm-llama3
      provider: openllm:chat:llama3:8b-instruct
      model: ${MODEL}
      base_url: ${url}
    - id: openllm-llama3-cmpl
      provider: openllm:completion:llama3:8b
      model: ${MODEL}
      base_url: ${url}
policies:
  - id: gov
    rules:
      - type: pii_detection
        action: redact
        patterns: [ssn, credit_card, email, phone]
        apply_to: response
streaming:
  mode: ${mode}
`;

/** Pieces any of which in an output means a value (or part of one) got through. */
const RAW = ["jane.do", "e@example", "example.com", "(415)", "555-26", "71 today", "4111", "1111 1111", "078-05", "-1120"];
function leaks(x: unknown): string[] {
  const s = JSON.stringify(x, (_k, v) => (typeof v === "bigint" ? String(v) : v));
  return RAW.filter((r) => s.includes(r));
}

/** Each field's text split over events, and what the client must read once the pieces are joined. */
const SPLIT: { path: string; pieces: string[]; want: string }[] = [
  { path: "delta.foo_text", pieces: ["contact jane.do", "e@example.com now"], want: "contact [REDACTED:EMAIL] now" },
  { path: "delta.vendor.detail_text", pieces: ["call (415) 555-26", "71 today"], want: "call [REDACTED:PHONE] today" },
  { path: "delta.notes.0.body", pieces: ["card 4111 1111", " 1111 1111 ok"], want: "card [REDACTED:CREDIT_CARD] ok" },
  { path: "delta.reasoning", pieces: ["ssn 078-05", "-1120 seen"], want: "ssn [REDACTED:SSN] seen" },
  { path: "vendor_text", pieces: ["mail jane.do", "e@example.com please"], want: "mail [REDACTED:EMAIL] please" },
];

/** The same at the chunk's top level, beside its choices. */
const TOP = { pieces: ["top jane.do", "e@example.com end"], want: "top [REDACTED:EMAIL] end" };

/** `value` set at the dotted `path` (numeric steps make arrays) of a new object. */
function at(path: string, value: string): Record<string, unknown> {
  const steps = path.split(".");
  const root: any = {};
  let node = root;
  for (let i = 0; i < steps.length - 1; i++) {
    const next = /^\d+$/.test(steps[i + 1]!) ? [] : {};
    node[steps[i]!] = next;
    node = next;
  }
  node[steps.at(-1)!] = value;
  return root;
}

function deepMerge(a: any, b: any): any {
  if (typeof a !== "object" || a === null || typeof b !== "object" || b === null) return b;
  const out: any = Array.isArray(a) ? [...a] : { ...a };
  for (const k of Object.keys(b)) out[k] = k in out ? deepMerge(out[k], b[k]) : b[k];
  return out;
}

function chatChunks() {
  const base = { id: "chatcmpl-s", object: "chat.completion.chunk", created: 1, model: MODEL };
  const ch = (choice: Record<string, unknown>) => ({ ...base, choices: [{ index: 0, logprobs: null, finish_reason: null, delta: {}, ...choice }] });
  const out: Record<string, unknown>[] = [ch({ delta: { role: "assistant", content: "" } })];
  // Piece k of every field in event k, beside the content and numbers that pass as they are.
  for (let k = 0; k < 2; k++) {
    let choice: Record<string, unknown> = { delta: { content: k === 0 ? "Hello" : " there", score: 0.5 + k, flags: { safe: k === 0 } } };
    for (const f of SPLIT) choice = deepMerge(choice, at(f.path, f.pieces[k]!));
    // And a vendor's field beside the choices.
    out.push({ ...ch(choice), vendor_top: TOP.pieces[k]! });
  }
  out.push(ch({ delta: {}, finish_reason: "stop", stop_reason: null }));
  return out;
}

function completionChunks() {
  const base = { id: "cmpl-s", object: "text_completion", created: 1, model: MODEL };
  const ch = (text: string, note: string | undefined, finish: string | null) => ({
    ...base,
    choices: [{ index: 0, text, ...(note === undefined ? {} : { note }), logprobs: null, finish_reason: finish, stop_reason: null }],
  });
  return [ch("Hi", "ssn 078-05", null), ch(" you", "-1120 ok", null), ch("", undefined, "length")];
}

/** The strings at `path` (dotted, under a choice) of every chunk's choice 0, joined. */
function joined(chunks: unknown[], path: string, choiceOf: (c: any) => any = (c) => c.choices?.[0]): string {
  let s = "";
  for (const c of chunks) {
    let node = choiceOf(c);
    for (const step of path.split(".")) node = node?.[step];
    if (typeof node === "string") s += node;
  }
  return s;
}

/** A dotted path of the OpenAI chunk as the protobuf chunk carries it: unknown fields in `extra`. */
function protoPath(path: string): string {
  return path.startsWith("delta.") && path !== "delta.reasoning_content" ? `delta.extra.${path.slice(6)}` : path.startsWith("delta.") ? path : `extra.${path}`;
}

describe.each(["incremental", "buffered"] as const)("a value split across events under any field, %s streaming", (mode) => {
  let stack: Stack;
  let client: OpenAI;
  beforeAll(async () => {
    stack = await startStack(config(mode));
    client = stack.openai();
  });
  afterAll(() => stack.close());
  beforeEach(() => stack.fake.reset());

  it("chat, SSE, the openai SDK: no raw piece in any chunk; every field joins to its redacted text", async () => {
    stack.fake.setBehavior({ kind: "scripted", json: {}, chunks: chatChunks() });
    const stream = await client.chat.completions.create({ model: "openllm-llama3", messages: [{ role: "user", content: "hi" }], stream: true });
    const chunks: unknown[] = [];
    for await (const c of stream) chunks.push(c);
    expect(leaks(chunks)).toEqual([]);
    for (const f of SPLIT) expect(joined(chunks, f.path), f.path).toBe(f.want);
    expect(joined(chunks, "delta.content")).toBe("Hello there");
    expect(joined(chunks, "vendor_top", (c) => c)).toBe(TOP.want);
    // Numbers and booleans under unknown keys pass as sent.
    expect(chunks.flatMap((c: any) => c.choices.map((ch: any) => ch.delta?.score).filter((x: unknown) => x !== undefined))).toEqual([0.5, 1.5]);
    expect(chunks.flatMap((c: any) => c.choices.map((ch: any) => ch.delta?.flags?.safe).filter((x: unknown) => x !== undefined))).toEqual([true, false]);
  });

  it("completions, SSE, the openai SDK: an unknown key of the choice", async () => {
    stack.fake.setBehavior({ kind: "scripted", json: {}, chunks: completionChunks() });
    const stream = await client.completions.create({ model: "openllm-llama3-cmpl", prompt: "hi", stream: true });
    const chunks: unknown[] = [];
    for await (const c of stream) chunks.push(c);
    expect(leaks(chunks)).toEqual([]);
    expect(joined(chunks, "note")).toBe("ssn [REDACTED:SSN] ok");
    expect(joined(chunks, "text")).toBe("Hi you");
  });

  it("gRPC, Connect and gRPC-Web streams: the same fields, in `extra`", async () => {
    for (const protocol of ["grpc", "connect", "grpc-web"] as const) {
      const kt = createKeeptrustsClient({ baseUrl: stack.url, protocol });
      stack.fake.setBehavior({ kind: "scripted", json: {}, chunks: chatChunks() });
      const chunks: unknown[] = [];
      for await (const c of kt.chat.streamChatCompletion({ model: "openllm-llama3", messages: [{ role: "user", content: "hi" }] } as any)) chunks.push(c);
      expect(leaks(chunks), protocol).toEqual([]);
      for (const f of SPLIT) expect(joined(chunks, protoPath(f.path)), `${protocol} ${f.path}`).toBe(f.want);
      expect(joined(chunks, "delta.content"), protocol).toBe("Hello there");
      expect(joined(chunks, "extra.vendor_top", (c) => c), protocol).toBe(TOP.want);

      stack.fake.setBehavior({ kind: "scripted", json: {}, chunks: completionChunks() });
      const cmpl: unknown[] = [];
      for await (const c of kt.chat.streamCompletion({ model: "openllm-llama3-cmpl", prompt: "hi" } as any)) cmpl.push(c);
      expect(leaks(cmpl), protocol).toEqual([]);
      expect(joined(cmpl, "extra.note"), protocol).toBe("ssn [REDACTED:SSN] ok");
    }
  });
});

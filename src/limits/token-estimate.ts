import { heldBodyOf, type JsonObject, type Operation } from "../wire/index.js";

/**
 * Tokens a request may consume, counted before it is sent, so they can be reserved.
 *
 * Input: the UTF-8 bytes of every text the model reads (message contents, names, tool calls and
 * tool definitions, or the completion prompt), divided by `bytesPerToken`, plus a chat-template
 * allowance per message. With the default `bytesPerToken: 1` this never under-counts a byte-level
 * BPE tokenizer (Llama 3, Mistral, Qwen, GPT-style: a token always covers at least one byte); the
 * error is one-sided and large — English prose is about 4 bytes a token, so the reservation is up
 * to 4x the real count until settlement replaces it with the upstream's. Token-id prompts count
 * exactly. Images and other non-text parts count by the bytes of their JSON (a data URL
 * over-counts, a bare image URL can under-count: vision models are outside this bound).
 *
 * Output: `max_completion_tokens` or `max_tokens`, or the configured default cap for chat
 * requests that set none (then also sent upstream, so the model cannot exceed what was reserved),
 * times `n` choices (and times the prompts of a batched completion).
 */
export interface TokenEstimate {
  input: number;
  output: number;
  /** The cap to send upstream as `max_tokens` when the client set none; undefined when it did. */
  injectMaxTokens: number | undefined;
}

/** Tokens the chat template adds around each message (role header, end-of-turn), generously. */
const PER_MESSAGE = 8;
/** Begin-of-text and the assistant header that opens the reply. */
const PER_REQUEST = 8;
/** vLLM's (and OpenAI's legacy) default `max_tokens` for /v1/completions. */
const COMPLETIONS_DEFAULT_MAX_TOKENS = 16;

export function estimateTokens(body: JsonObject, op: Operation, bytesPerToken: number, defaultMaxTokens: number): TokenEstimate {
  let bytes = 0;
  let tokens = PER_REQUEST;
  let prompts = 1;
  if (op === "chat") {
    const messages = body.messages as unknown[];
    for (const m of messages) {
      tokens += PER_MESSAGE;
      const msg = m as JsonObject;
      const c = msg.content;
      if (typeof c === "string") bytes += Buffer.byteLength(c);
      else if (Array.isArray(c)) for (const part of c) bytes += partBytes(part);
      if (typeof msg.name === "string") bytes += Buffer.byteLength(msg.name);
      if (msg.tool_calls !== undefined && msg.tool_calls !== null) bytes += jsonBytes(msg.tool_calls);
      if (msg.function_call !== undefined && msg.function_call !== null) bytes += jsonBytes(msg.function_call);
    }
    if (body.tools !== undefined && body.tools !== null) bytes += jsonBytes(body.tools);
    if (body.functions !== undefined && body.functions !== null) bytes += jsonBytes(body.functions);
  } else {
    const p = body.prompt;
    if (typeof p === "string") bytes += Buffer.byteLength(p);
    else if (Array.isArray(p)) {
      if (typeof p[0] === "number") tokens += p.length;
      else {
        prompts = p.length;
        for (const x of p) {
          if (typeof x === "string") bytes += Buffer.byteLength(x);
          else if (Array.isArray(x)) tokens += x.length;
        }
      }
    }
  }
  // A large body's long strings are placeholders here (src/wire/held-body.ts): add their bytes,
  // counted as JSON (escapes included), so the estimate still never under-counts.
  bytes += heldBodyOf(body)?.extraBytes ?? 0;
  const input = tokens + Math.ceil(bytes / bytesPerToken);
  const asked = positiveInt(body.max_completion_tokens) ?? positiveInt(body.max_tokens);
  const n = positiveInt(body.n) ?? 1;
  const best = op === "completion" ? Math.max(positiveInt(body.best_of) ?? 1, n) : n;
  let cap = asked;
  let inject: number | undefined;
  if (cap === undefined) {
    if (op === "chat") {
      cap = defaultMaxTokens;
      inject = defaultMaxTokens;
    } else cap = COMPLETIONS_DEFAULT_MAX_TOKENS;
  }
  return { input, output: cap * best * prompts, injectMaxTokens: inject };
}

function partBytes(part: unknown): number {
  if (part && typeof part === "object") {
    const p = part as JsonObject;
    if (p.type === "text" && typeof p.text === "string") return Buffer.byteLength(p.text);
    return jsonBytes(p);
  }
  return typeof part === "string" ? Buffer.byteLength(part) : 0;
}

function jsonBytes(v: unknown): number {
  try {
    return Buffer.byteLength(JSON.stringify(v) ?? "");
  } catch {
    return 0;
  }
}

function positiveInt(v: unknown): number | undefined {
  return typeof v === "number" && Number.isInteger(v) && v > 0 ? v : undefined;
}

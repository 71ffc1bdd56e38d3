/**
 * Pure converters between the generated ChatService messages and the canonical OpenAI JSON objects
 * the chat pipeline works on.
 *
 * Requests go proto → OpenAI JSON: the `extra` Struct is the base, typed fields that are set
 * overwrite it, unset optionals are left out, and the RPC (unary or streaming) decides `stream` and
 * `stream_options`. Responses and chunks go OpenAI JSON → proto and are parsed tolerantly: vLLM's
 * null fields, `stop_reason`, `reasoning_content`, `tool_calls: []`, OpenLLM 0.4's float `created`
 * and newer, unknown fields are all accepted; non-null fields without a typed home are kept in the
 * message's `extra`.
 */
import { create, type JsonObject as PbJsonObject, type JsonValue } from "@bufbuild/protobuf";
import { GatewayError } from "../../errors/index.js";
import {
  ChatCompletionChunkSchema,
  ChatCompletionResponseSchema,
  CompletionChunkSchema,
  CompletionResponseSchema,
  type ChatCompletionChunk,
  type ChatCompletionRequest,
  type ChatCompletionResponse,
  type ChatMessage,
  type CompletionChunk,
  type CompletionRequest,
  type CompletionResponse,
  type Tool,
  type ToolCall,
} from "../../../gen/keeptrusts/v1/chat_pb.js";

/** An OpenAI JSON object, as the chat pipeline's canonical `JsonObject`. */
export type OpenAIJson = Record<string, unknown>;

export interface ToOpenAIOptions {
  /** True for the streaming RPCs: sets `stream: true` and, with `include_usage`, `stream_options`. */
  stream?: boolean;
}

// ---------------------------------------------------------------------------------------------
// Requests: proto → OpenAI JSON
// ---------------------------------------------------------------------------------------------

/** The sampling fields chat and completion requests share, under their OpenAI names. */
function putSampling(out: OpenAIJson, req: ChatCompletionRequest | CompletionRequest): void {
  putNumber(out, "max_tokens", req.maxTokens);
  putNumber(out, "temperature", req.temperature);
  putNumber(out, "top_p", req.topP);
  putNumber(out, "n", req.n);
  if (req.stop.length > 0) out.stop = req.stop.slice();
  putInt64(out, "seed", req.seed);
  putNumber(out, "presence_penalty", req.presencePenalty);
  putNumber(out, "frequency_penalty", req.frequencyPenalty);
}

/** A ChatCompletionRequest as the OpenAI `POST /v1/chat/completions` body. */
export function chatRequestToOpenAI(req: ChatCompletionRequest, opts: ToOpenAIOptions = {}): OpenAIJson {
  const out: OpenAIJson = { ...req.extra };
  out.model = req.model;
  out.messages = req.messages.map(messageToOpenAI);
  putSampling(out, req);
  if (req.user !== undefined) out.user = req.user;
  if (req.tools.length > 0) out.tools = req.tools.map(toolToOpenAI);
  applyStream(out, opts.stream === true, req.includeUsage);
  return out;
}

/** A CompletionRequest as the OpenAI `POST /v1/completions` body. */
export function completionRequestToOpenAI(req: CompletionRequest, opts: ToOpenAIOptions = {}): OpenAIJson {
  const out: OpenAIJson = { ...req.extra };
  out.model = req.model;
  if (req.prompts.length > 0) out.prompt = req.prompts.slice();
  else if (req.prompt !== undefined) out.prompt = req.prompt;
  // Otherwise `extra.prompt` (e.g. token ids) stays as given.
  if (req.suffix !== undefined) out.suffix = req.suffix;
  putSampling(out, req);
  if (req.echo !== undefined) out.echo = req.echo;
  putNumber(out, "logprobs", req.logprobs);
  putNumber(out, "best_of", req.bestOf);
  if (req.user !== undefined) out.user = req.user;
  applyStream(out, opts.stream === true, req.includeUsage);
  return out;
}

function messageToOpenAI(m: ChatMessage): OpenAIJson {
  const out: OpenAIJson = { ...m.extra };
  out.role = m.role;
  if (m.contentParts.length > 0) out.content = m.contentParts.slice();
  else if (m.content !== undefined) out.content = m.content;
  if (m.name !== undefined) out.name = m.name;
  if (m.toolCallId !== undefined) out.tool_call_id = m.toolCallId;
  if (m.toolCalls.length > 0) out.tool_calls = m.toolCalls.map(toolCallToOpenAI);
  if (m.reasoningContent !== undefined) out.reasoning_content = m.reasoningContent;
  return out;
}

function toolCallToOpenAI(c: ToolCall): OpenAIJson {
  return {
    id: c.id,
    type: c.type === "" ? "function" : c.type,
    function: { name: c.function?.name ?? "", arguments: c.function?.arguments ?? "" },
  };
}

function toolToOpenAI(t: Tool): OpenAIJson {
  const fn: OpenAIJson = { name: t.function?.name ?? "" };
  const f = t.function;
  if (f !== undefined) {
    if (f.description !== undefined) fn.description = f.description;
    if (f.parameters !== undefined) fn.parameters = f.parameters;
    if (f.strict !== undefined) fn.strict = f.strict;
  }
  return { type: t.type === "" ? "function" : t.type, function: fn };
}

/** The RPC decides streaming: `extra` may add stream_options keys only to a streaming call. */
function applyStream(out: OpenAIJson, stream: boolean, includeUsage: boolean): void {
  if (!stream) {
    delete out.stream;
    delete out.stream_options;
    return;
  }
  out.stream = true;
  if (includeUsage) {
    const given = out.stream_options;
    out.stream_options = isObject(given) ? { ...given, include_usage: true } : { include_usage: true };
  }
}

function putNumber(out: OpenAIJson, key: string, v: number | undefined): void {
  if (v === undefined) return;
  if (!Number.isFinite(v)) {
    throw new GatewayError("KT_ERR_INVALID_REQUEST", `'${key}' must be a finite number`, { param: key });
  }
  out[key] = v;
}

function putInt64(out: OpenAIJson, key: string, v: bigint | undefined): void {
  if (v === undefined) return;
  const n = Number(v);
  if (!Number.isSafeInteger(n)) {
    throw new GatewayError("KT_ERR_INVALID_REQUEST", `'${key}' must be between -(2^53-1) and 2^53-1`, { param: key });
  }
  out[key] = n;
}

// ---------------------------------------------------------------------------------------------
// Responses and chunks: OpenAI JSON → proto
// ---------------------------------------------------------------------------------------------

const TOP_KNOWN = new Set(["id", "object", "created", "model", "choices", "usage"]);
const CHAT_CHOICE_KNOWN = new Set(["index", "message", "finish_reason"]);
const CHUNK_CHOICE_KNOWN = new Set(["index", "delta", "finish_reason"]);
const COMPLETION_CHOICE_KNOWN = new Set(["index", "text", "finish_reason"]);
const MESSAGE_KNOWN = new Set(["role", "content", "name", "tool_call_id", "tool_calls", "reasoning_content"]);
const DELTA_KNOWN = new Set(["role", "content", "tool_calls", "reasoning_content"]);

/** An OpenAI `chat.completion` object as a ChatCompletionResponse. */
export function chatResponseFromOpenAI(body: OpenAIJson): ChatCompletionResponse {
  return create(ChatCompletionResponseSchema, {
    ...envelopeOf(body),
    choices: objects(body.choices).map((c) => ({
      index: int32(c.index),
      message: isObject(c.message) ? messageFromOpenAI(c.message) : undefined,
      finishReason: str(c.finish_reason) ?? "",
      extra: extraOf(c, CHAT_CHOICE_KNOWN),
    })),
  });
}

/** The fields every response and chunk shares: id, created, model, usage and the unknown rest. */
function envelopeOf(o: OpenAIJson) {
  return {
    id: str(o.id) ?? "",
    created: int64(o.created),
    model: str(o.model) ?? "",
    usage: usageFromOpenAI(o.usage),
    extra: extraOf(o, TOP_KNOWN),
  };
}

/** An OpenAI `chat.completion.chunk` object as a ChatCompletionChunk. */
export function chatChunkFromOpenAI(chunk: OpenAIJson): ChatCompletionChunk {
  assertNotError(chunk);
  return create(ChatCompletionChunkSchema, {
    ...envelopeOf(chunk),
    choices: objects(chunk.choices).map((c) => {
      const d = isObject(c.delta) ? c.delta : undefined;
      return {
        index: int32(c.index),
        delta:
          d === undefined
            ? undefined
            : {
                role: str(d.role),
                content: str(d.content),
                toolCalls: objects(d.tool_calls).map((t) => {
                  const fn = isObject(t.function) ? t.function : undefined;
                  return {
                    index: int32(t.index),
                    id: str(t.id),
                    type: str(t.type),
                    function: fn === undefined ? undefined : { name: str(fn.name), arguments: str(fn.arguments) },
                  };
                }),
                reasoningContent: str(d.reasoning_content),
                extra: extraOf(d, DELTA_KNOWN),
              },
        finishReason: str(c.finish_reason),
        extra: extraOf(c, CHUNK_CHOICE_KNOWN),
      };
    }),
  });
}

/** An OpenAI `text_completion` object as a CompletionResponse. */
export function completionResponseFromOpenAI(body: OpenAIJson): CompletionResponse {
  return create(CompletionResponseSchema, {
    ...envelopeOf(body),
    choices: objects(body.choices).map(completionChoiceFromOpenAI),
  });
}

/** One streamed `text_completion` chunk as a CompletionChunk. */
export function completionChunkFromOpenAI(chunk: OpenAIJson): CompletionChunk {
  assertNotError(chunk);
  return create(CompletionChunkSchema, {
    ...envelopeOf(chunk),
    choices: objects(chunk.choices).map(completionChoiceFromOpenAI),
  });
}

function completionChoiceFromOpenAI(c: OpenAIJson) {
  return {
    index: int32(c.index),
    text: str(c.text) ?? "",
    finishReason: str(c.finish_reason),
    extra: extraOf(c, COMPLETION_CHOICE_KNOWN),
  };
}

function messageFromOpenAI(m: OpenAIJson) {
  const content = m.content;
  return {
    role: str(m.role) ?? "assistant",
    content: typeof content === "string" ? content : undefined,
    contentParts: Array.isArray(content) ? (content.filter(isObject) as PbJsonObject[]) : [],
    name: str(m.name),
    toolCallId: str(m.tool_call_id),
    toolCalls: objects(m.tool_calls).map((t) => {
      const fn = isObject(t.function) ? t.function : undefined;
      return {
        id: str(t.id) ?? "",
        type: str(t.type) ?? "function",
        function: { name: str(fn?.name) ?? "", arguments: argumentsText(fn?.arguments) },
      };
    }),
    reasoningContent: str(m.reasoning_content),
    extra: extraOf(m, MESSAGE_KNOWN),
  };
}

function usageFromOpenAI(u: unknown) {
  if (!isObject(u)) return undefined;
  return {
    promptTokens: int32(u.prompt_tokens),
    completionTokens: int32(u.completion_tokens),
    totalTokens: int32(u.total_tokens),
  };
}

/** A mid-stream `{"error": …}` event must have become a GatewayError upstream; never pass it as data. */
function assertNotError(chunk: OpenAIJson): void {
  if (chunk.error !== undefined && chunk.error !== null && chunk.choices === undefined) {
    throw new GatewayError("KT_ERR_UPSTREAM_FAILED", "upstream reported an error mid-stream");
  }
}

// ---------------------------------------------------------------------------------------------
// Tolerant readers
// ---------------------------------------------------------------------------------------------

function isObject(v: unknown): v is OpenAIJson {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function str(v: unknown): string | undefined {
  return typeof v === "string" ? v : undefined;
}

/** Function arguments are JSON text; a server that sent them as an object gets them serialised. */
function argumentsText(v: unknown): string {
  if (typeof v === "string") return v;
  if (v === undefined || v === null) return "";
  return JSON.stringify(v);
}

function objects(v: unknown): OpenAIJson[] {
  return Array.isArray(v) ? (v.filter(isObject) as OpenAIJson[]) : [];
}

const INT32_MAX = 2147483647;
const INT32_MIN = -2147483648;

function int32(v: unknown): number {
  const n = typeof v === "number" ? v : typeof v === "string" && v.trim() !== "" ? Number(v) : NaN;
  if (!Number.isFinite(n)) return 0;
  return Math.min(INT32_MAX, Math.max(INT32_MIN, Math.trunc(n)));
}

const INT64_LIMIT = 2 ** 63;

function int64(v: unknown): bigint {
  const n = typeof v === "number" ? v : typeof v === "string" && v.trim() !== "" ? Number(v) : NaN;
  if (!Number.isFinite(n) || Math.abs(n) >= INT64_LIMIT) return 0n;
  return BigInt(Math.trunc(n));
}

/**
 * The non-null fields of `o` not in `known`, or undefined when there are none. The objects come
 * from JSON.parse, so every value is already a JSON value.
 */
function extraOf(o: OpenAIJson, known: ReadonlySet<string>): PbJsonObject | undefined {
  let extra: PbJsonObject | undefined;
  for (const key in o) {
    if (!Object.hasOwn(o, key) || known.has(key)) continue;
    const v = o[key];
    if (v === null || v === undefined) continue;
    extra ??= {};
    // defineProperty: a `__proto__` key stays an ordinary own property.
    Object.defineProperty(extra, key, { value: v as JsonValue, enumerable: true, writable: true, configurable: true });
  }
  return extra;
}

import { GatewayError } from "../errors/index.js";
import type { JsonObject, Operation } from "../wire/index.js";
import { isJsonObject } from "../wire/index.js";

/**
 * The texts of a body the chain reads and may rewrite, found by walking the WHOLE body: every string
 * is a text unless it is on the short list below of fields that carry no free text. Unknown and
 * vendor fields (vLLM's `documents`, `chat_template`, an assistant's `reasoning`, tool descriptions
 * and parameter schemas, the protobuf API's `extra` and `contentParts`, which arrive here as the
 * same JSON) are therefore read, not trusted. docs/policies.md lists the same skip list.
 */

/** One piece of text in a body the chain reads and may rewrite. */
export interface TextSegment {
  path: readonly (string | number)[];
  text: string;
  /** Who said it, for the guard model's conversation. */
  role: string;
  /** Inside a JSON document (tool-call arguments): matched on its decoded strings, replacements stay valid JSON string content. */
  json: boolean;
  /** Choice index, for responses. */
  choice: number;
  /**
   * Texts of one flow (a request's message contents, one choice's message) are scanned across their
   * boundaries too: a value split over two parts or two messages is found, each piece redacted in place.
   */
  flow?: string;
}

/** Keys whose string values are identifiers, enums or numbers in disguise: never free text. */
export const SKIPPED_KEYS: ReadonlySet<string> = new Set([
  "model",
  "role",
  "type",
  "id",
  "tool_call_id",
  "object",
  "finish_reason",
  "stop_reason",
  "created",
  "system_fingerprint",
  "service_tier",
  "detail",
  "encoding_format",
  "reasoning_effort",
  "prompt_cache_key",
  "request_id",
]);


/** Binary payloads (base64 audio, files, inline images) are not text: the model does not read them as such. */
function isBinary(key: string | number | undefined, parentKey: string | number | undefined, value: string): boolean {
  if (key === "file_data") return true;
  if (key === "data" && (parentKey === "input_audio" || parentKey === "audio")) return true;
  if (key === "url" && value.startsWith("data:")) return true;
  return false;
}

/** Tool-call arguments that parse as JSON are read as JSON (escapes decoded); anything else as raw text. */
function isJsonText(s: string): boolean {
  const t = s.trimStart();
  if (t[0] !== "{" && t[0] !== "[") return false;
  try {
    JSON.parse(s);
    return true;
  } catch {
    return false;
  }
}

interface WalkContext {
  role: string;
  choice: number;
  flow: string | undefined;
}

/**
 * Pushes every scanned string under `node`. `skipHere` names keys skipped at this level only
 * (`logprobs` of a choice, handled on their own).
 */
function walk(
  node: unknown,
  path: (string | number)[],
  key: string | number | undefined,
  parentKey: string | number | undefined,
  ctx: WalkContext,
  out: TextSegment[],
): void {
  if (typeof node === "string") {
    if (node === "" || (typeof key === "string" && SKIPPED_KEYS.has(key)) || isBinary(key, parentKey, node)) return;
    const json = key === "arguments" && isJsonText(node);
    const seg: TextSegment = { path: path.slice(), text: node, role: ctx.role, json, choice: ctx.choice };
    if (ctx.flow !== undefined && !json) seg.flow = ctx.flow;
    out.push(seg);
    return;
  }
  if (Array.isArray(node)) {
    for (let i = 0; i < node.length; i++) {
      path.push(i);
      walk(node[i], path, i, key, ctx, out);
      path.pop();
    }
    return;
  }
  if (!isJsonObject(node)) return;
  for (const k of Object.keys(node)) {
    const v = node[k];
    if (v === null || typeof v === "number" || typeof v === "boolean") continue;
    path.push(k);
    walk(v, path, k, key, ctx, out);
    path.pop();
  }
}

/** A message: its `content` flows into its neighbours' (cross-boundary scanning); its other fields are texts of their own. */
function walkMessage(m: unknown, path: (string | number)[], key: string | number, parentKey: string, ctx: WalkContext, out: TextSegment[]): void {
  if (!isJsonObject(m)) return walk(m, path, key, parentKey, ctx, out);
  const alone: WalkContext = { ...ctx, flow: undefined };
  for (const k of Object.keys(m)) {
    const v = m[k];
    if (v === null || typeof v === "number" || typeof v === "boolean") continue;
    path.push(k);
    walk(v, path, k, key, k === "content" ? ctx : alone, out);
    path.pop();
  }
}

/** A token-id prompt: a list of integers, or a list of such lists. */
function isTokenPrompt(p: unknown): boolean {
  if (!Array.isArray(p) || p.length === 0) return false;
  return p.every((x) => typeof x === "number" || (Array.isArray(x) && x.length > 0 && x.every((y) => typeof y === "number")));
}

/**
 * Token ids cannot be read by a text rule: refused with a clear 400 while request rules are on,
 * unless the configuration allows them (then the request's record says so).
 */
export function refuseTokenPrompt(): never {
  throw new GatewayError(
    "KT_ERR_INVALID_REQUEST",
    "token-id prompts cannot be checked by the policy chain; send the prompt as text (or set allow_token_prompts: true on the request rules)",
    { param: "prompt" },
  );
}

export function hasTokenPrompt(body: JsonObject): boolean {
  return isTokenPrompt(body.prompt);
}

/** Texts of an OpenAI request: every string of the body but the skipped fields. */
export function requestSegments(body: JsonObject, _op: Operation): TextSegment[] {
  const out: TextSegment[] = [];
  const path: (string | number)[] = [];
  for (const k of Object.keys(body)) {
    const v = body[k];
    if (v === null || typeof v === "number" || typeof v === "boolean") continue;
    path.push(k);
    if (k === "messages" && Array.isArray(v)) {
      v.forEach((m, i) => {
        path.push(i);
        const role = isJsonObject(m) && typeof m.role === "string" ? m.role : "user";
        walkMessage(m, path, i, k, { role, choice: 0, flow: "messages" }, out);
        path.pop();
      });
    } else if (k === "prompt" && Array.isArray(v)) {
      // A list of prompts is a batch: each its own flow.
      v.forEach((p, i) => {
        path.push(i);
        walk(p, path, i, k, { role: "user", choice: 0, flow: undefined }, out);
        path.pop();
      });
    } else walk(v, path, k, undefined, { role: "user", choice: 0, flow: undefined }, out);
    path.pop();
  }
  return out;
}

const CHOICE_SKIP: ReadonlySet<string> = new Set(["logprobs", "index"]);
// `usage` is not skipped: its counts are numbers (passed over at no cost), and a string an upstream
// put there reaches the client like any other text, so it is checked like any other.
const RESPONSE_SKIP: ReadonlySet<string> = new Set(["prompt_logprobs", "prompt_token_ids"]);

/** Texts of a non-streamed response: every string but the skipped fields (logprobs are handled by the engine). */
export function responseSegments(body: JsonObject): TextSegment[] {
  const out: TextSegment[] = [];
  const path: (string | number)[] = [];
  for (const k of Object.keys(body)) {
    const v = body[k];
    if (RESPONSE_SKIP.has(k) || v === null || typeof v === "number" || typeof v === "boolean") continue;
    path.push(k);
    if (k === "choices" && Array.isArray(v)) {
      v.forEach((c, i) => {
        path.push(i);
        const choice = isJsonObject(c) && typeof c.index === "number" ? c.index : i;
        if (!isJsonObject(c)) return path.pop();
        const ctx: WalkContext = { role: "assistant", choice, flow: `choice:${choice}` };
        for (const ck of Object.keys(c)) {
          const cv = c[ck];
          if (CHOICE_SKIP.has(ck) || cv === null || typeof cv === "number" || typeof cv === "boolean") continue;
          path.push(ck);
          if (ck === "message") walkMessage(cv, path, ck, "choices", ctx, out);
          else walk(cv, path, ck, i, ck === "text" ? ctx : { ...ctx, flow: undefined }, out);
          path.pop();
        }
        path.pop();
      });
    } else walk(v, path, k, undefined, { role: "assistant", choice: -1, flow: undefined }, out);
    path.pop();
  }
  return out;
}

/**
 * A copy of `body` with new texts at the given paths. Only containers on a changed path are copied;
 * everything else is shared with the input, which is never mutated.
 */
export function withTexts(body: JsonObject, changes: readonly { path: readonly (string | number)[]; text: string }[]): JsonObject {
  if (changes.length === 0) return body;
  const copied = new Set<unknown>();
  const root: JsonObject = { ...body };
  copied.add(root);
  for (const { path, text } of changes) {
    let node: any = root;
    for (let i = 0; i < path.length - 1; i++) {
      const key = path[i]!;
      let child = node[key];
      if (!copied.has(child)) {
        child = Array.isArray(child) ? [...child] : { ...child };
        copied.add(child);
        node[key] = child;
      }
      node = child;
    }
    node[path[path.length - 1]!] = text;
  }
  return root;
}

import { GatewayError } from "../errors/index.js";
import type { JsonObject, Operation } from "../wire/index.js";

const MAX_CHOICES = 128;
const CHOICE_FIELDS = ["n", "best_of"] as const;

const ROLES = new Set(["system", "developer", "user", "assistant", "tool", "function"]);

/** Checks the fields the gateway itself relies on; everything else is the upstream's to judge. */
export function validateRequest(body: unknown, op: Operation): asserts body is JsonObject & { model: string } {
  if (!body || typeof body !== "object" || Array.isArray(body)) invalid("the request body must be a JSON object");
  const b = body as JsonObject;
  if (typeof b.model !== "string" || b.model.length === 0) invalid("`model` is required and must be a string", "model");
  if (b.stream !== undefined && b.stream !== null && typeof b.stream !== "boolean") invalid("`stream` must be a boolean", "stream");
  // OpenAI's bound: each choice is a generation on the GPU pool, and an answer's choices are what
  // its summary and record carry (src/wire/held-answer.ts, MAX_RECORDED_CHOICES).
  for (const k of CHOICE_FIELDS) {
    const v = b[k];
    if (v !== undefined && v !== null && !(Number.isInteger(v) && (v as number) >= 1 && (v as number) <= MAX_CHOICES)) invalid(`\`${k}\` must be an integer from 1 to ${MAX_CHOICES}`, k);
  }
  if (op === "chat") {
    const messages = b.messages;
    if (!Array.isArray(messages) || messages.length === 0) invalid("`messages` is required and must be a non-empty array", "messages");
    for (let i = 0; i < messages.length; i++) {
      const m = messages[i] as JsonObject | null;
      if (!m || typeof m !== "object" || Array.isArray(m)) invalid(`messages[${i}] must be an object`, `messages[${i}]`);
      if (typeof m.role !== "string" || !ROLES.has(m.role)) invalid(`messages[${i}].role must be one of ${[...ROLES].join(", ")}`, `messages[${i}].role`);
      const c = m.content;
      if (c !== undefined && c !== null && typeof c !== "string" && !Array.isArray(c))
        invalid(`messages[${i}].content must be a string or an array of content parts`, `messages[${i}].content`);
    }
  } else {
    const p = b.prompt;
    const ok = typeof p === "string" || (Array.isArray(p) && p.length > 0 && (p.every((x) => typeof x === "string") || p.every((x) => typeof x === "number") || p.every((x) => Array.isArray(x))));
    if (!ok) invalid("`prompt` is required: a string, an array of strings or token ids", "prompt");
  }
}

function invalid(message: string, param?: string): never {
  throw new GatewayError("KT_ERR_INVALID_REQUEST", message, { param });
}

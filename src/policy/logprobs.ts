import type { JsonObject } from "../wire/index.js";
import { isJsonObject } from "../wire/index.js";

/**
 * Logprobs spell the text token by token (` jane`, `.doe`, `@example`, with `bytes` and
 * `top_logprobs`), so a redacted answer's logprobs would give the value back. The rule: a choice
 * whose text the guard changed loses its `logprobs` (set to null); a choice left unchanged keeps
 * them, unless the text its tokens spell (which need not be the content: `refusal`, a completion's
 * tokens) holds a finding. vLLM's `prompt_logprobs` spell the prompt: dropped when they hold one.
 * Rewriting entries instead would need the tokenizer (a replacement is not a token), so we drop.
 */


/** The text a choice's logprobs spell: chat `content[]`/`refusal[]` tokens, or completions `tokens`. */
export function logprobsText(lp: unknown): string {
  if (!isJsonObject(lp)) return "";
  let out = "";
  for (const key of ["content", "refusal"]) {
    const list = lp[key];
    if (Array.isArray(list)) for (const e of list) if (isJsonObject(e) && typeof e.token === "string") out += e.token;
  }
  if (Array.isArray(lp.tokens)) for (const t of lp.tokens) if (typeof t === "string") out += t;
  return out;
}

/** The prompt as vLLM's `prompt_logprobs` spell it: each position's first entry is the prompt's own token. */
export function promptLogprobsText(pl: unknown): string {
  if (!Array.isArray(pl)) return "";
  let out = "";
  for (const pos of pl) {
    if (!isJsonObject(pos)) continue;
    for (const k of Object.keys(pos)) {
      const e = pos[k];
      if (isJsonObject(e) && typeof e.decoded_token === "string") out += e.decoded_token;
      break;
    }
  }
  return out;
}

/**
 * `body` with the logprobs that could leak a value dropped. `changed`: choice indexes whose text a
 * rule changed; `holdsValue`: whether a text holds something a rule would remove.
 */
export function withoutLeakedLogprobs(body: JsonObject, changed: ReadonlySet<number>, holdsValue: (text: string) => boolean): JsonObject {
  let out = body;
  const copy = (): JsonObject => (out === body ? (out = { ...body }) : out);
  if (body.prompt_logprobs != null && holdsValue(promptLogprobsText(body.prompt_logprobs))) copy().prompt_logprobs = null;
  if (!Array.isArray(body.choices)) return out;
  let choices: unknown[] | undefined;
  body.choices.forEach((c, i) => {
    if (!isJsonObject(c)) return;
    const index = typeof c.index === "number" ? c.index : i;
    let nc: JsonObject | undefined;
    if (c.logprobs != null && (changed.has(index) || holdsValue(logprobsText(c.logprobs)))) nc = { ...c, logprobs: null };
    if (c.prompt_logprobs != null && holdsValue(promptLogprobsText(c.prompt_logprobs))) nc = { ...(nc ?? c), prompt_logprobs: null };
    if (nc) {
      choices ??= [...(body.choices as unknown[])];
      choices[i] = nc;
    }
  });
  if (choices) copy().choices = choices;
  return out;
}

import type { ContentCategory } from "../../config/index.js";

export type GuardMessage = { role: string; content: string };
/** One chat-completions call to a guard model target; `extra` holds body fields of its format (e.g. chat_template_kwargs). */
export type AskGuard = (targetId: string, messages: GuardMessage[], signal?: AbortSignal, extra?: Record<string, unknown>) => Promise<string>;

/**
 * Llama Guard 3/4 hazard codes (MLCommons taxonomy) onto our categories. Choices where the fit is
 * loose: S6 specialised advice, S8 intellectual property, S13 elections and S14 code-interpreter
 * abuse are all "illicit" (help with something unlawful or abusive); S7 privacy is "harassment"
 * because in practice it is doxxing and exposure of a person; S4 child exploitation is "sexual".
 * Llama Guard 2 numbers its codes differently; it is not supported.
 */
export const llamaGuardCategories: Readonly<Record<string, ContentCategory>> = {
  S1: "violence",
  S2: "illicit",
  S3: "sexual",
  S4: "sexual",
  S5: "harassment",
  S6: "illicit",
  S7: "harassment",
  S8: "illicit",
  S9: "violence",
  S10: "hate",
  S11: "self_harm",
  S12: "sexual",
  S13: "illicit",
  S14: "illicit",
};

export type GuardVerdict = { safe: true } | { safe: false; codes: string[] };

/**
 * Reads "safe", or "unsafe" followed (on the next line or the same one) by comma-separated codes.
 * Anything else is not a verdict: the caller treats it as an engine failure.
 */
export function parseGuardReply(reply: string): GuardVerdict | undefined {
  const text = reply.trim().toLowerCase();
  const m = /^(safe|unsafe)\b([\s\S]*)$/.exec(text);
  if (!m) return undefined;
  if (m[1] === "safe") return m[2]!.trim() === "" ? { safe: true } : undefined;
  const rest = m[2]!.trim();
  if (rest === "") return { safe: false, codes: [] };
  const codes = rest.split(/[\s,]+/).filter((c) => c !== "");
  if (!codes.every((c) => /^s\d{1,2}$/.test(c))) return undefined;
  return { safe: false, codes: codes.map((c) => c.toUpperCase()) };
}

/**
 * Categories an unsafe verdict falls in. A verdict with no codes, or only codes we do not know,
 * counts against every category asked about: the model said unsafe, and the rule fails closed.
 */
export function verdictCategories(v: GuardVerdict, asked: readonly ContentCategory[]): ContentCategory[] {
  if (v.safe) return [];
  const mapped = v.codes.map((c) => llamaGuardCategories[c]).filter((c): c is ContentCategory => c !== undefined);
  if (mapped.length === 0) return [...asked];
  return asked.filter((c) => mapped.includes(c));
}

/**
 * Llama Guard's chat template insists on user/assistant turns that alternate, starting with the user.
 * System prompts are the operator's, not the conversation's, so they are left out; tool output is
 * untrusted input and is judged as the user's; consecutive turns of one role are merged.
 */
export function guardConversation(messages: readonly GuardMessage[]): GuardMessage[] {
  const out: GuardMessage[] = [];
  for (const m of messages) {
    if (m.role === "system" || m.role === "developer" || m.content === "") continue;
    const role = m.role === "assistant" ? "assistant" : "user";
    const last = out[out.length - 1];
    if (last && last.role === role) last.content += "\n\n" + m.content;
    else out.push({ role, content: m.content });
  }
  if (out.length === 0 || out[0]!.role !== "user") out.unshift({ role: "user", content: "" });
  return out;
}

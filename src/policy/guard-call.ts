import type { ContentCategory } from "../config/index.js";
import { GatewayError } from "../errors/index.js";
import type { CompiledContentRule } from "./compiled-rule.js";
import { parseGuardReply, verdictCategories, type AskGuard, type GuardMessage } from "./content/index.js";

export type GuardOutcome = { ok: true; categories: ContentCategory[] } | { ok: false; cause: unknown };

/**
 * Asks the guard model for a verdict. A throw, a hang cut off by the caller's timeout, or a reply
 * that is not a verdict all come back as `ok: false` for the rule to fail closed or open; a client
 * that went away is not an engine failure and is rethrown.
 */
export async function askVerdict(
  rule: CompiledContentRule,
  messages: GuardMessage[],
  askGuard: AskGuard | undefined,
  signal: AbortSignal | undefined,
): Promise<GuardOutcome> {
  if (askGuard === undefined || rule.target === undefined) return { ok: false, cause: new Error("no guard model client configured") };
  let reply: string;
  try {
    reply = await askGuard(rule.target, messages, signal);
  } catch (e) {
    if (signal?.aborted) throw new GatewayError("KT_ERR_CANCELLED", "request cancelled", { cause: e });
    return { ok: false, cause: e };
  }
  const verdict = typeof reply === "string" ? parseGuardReply(reply) : undefined;
  if (verdict === undefined) return { ok: false, cause: new Error("guard model reply is not a safe/unsafe verdict") };
  return { ok: true, categories: verdictCategories(verdict, rule.categories) };
}

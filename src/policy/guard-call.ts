import { createHash } from "node:crypto";
import type { ContentCategory } from "../config/index.js";
import { GatewayError } from "../errors/index.js";
import type { CompiledContentRule } from "./compiled-rule.js";
import { guardFormats, type AskGuard, type GuardMessage, type GuardRequest } from "./content/index.js";

export type GuardOutcome = { ok: true; categories: ContentCategory[]; cached: boolean } | { ok: false; cause: unknown };

/**
 * Each rule keeps verdicts by the hash of what was judged (engine, target, the guard request's
 * messages and extra fields): a repeated conversation, or a retried request, does not ask the guard
 * model again. Bounded (`verdict_cache`); the oldest entry goes first. Only verdicts are kept,
 * never failures.
 */
function cacheKey(rule: CompiledContentRule, req: GuardRequest): string {
  return createHash("sha256").update(JSON.stringify([rule.engine, rule.target, req.messages, req.extra ?? null])).digest("base64");
}

function remember(rule: CompiledContentRule, key: string, categories: ContentCategory[]): void {
  if (rule.verdictCacheSize === 0) return;
  if (rule.verdictCache.size >= rule.verdictCacheSize) rule.verdictCache.delete(rule.verdictCache.keys().next().value!);
  rule.verdictCache.set(key, categories);
}

/**
 * Asks the guard model for a verdict in its own format (one or more calls, made concurrently). A
 * throw, a hang cut off by the caller's timeout, or a reply that is not a verdict all come back as
 * `ok: false` for the rule to fail closed or open; a client that went away is not an engine
 * failure and is rethrown.
 */
export async function askVerdict(
  rule: CompiledContentRule,
  messages: GuardMessage[],
  askGuard: AskGuard | undefined,
  signal: AbortSignal | undefined,
): Promise<GuardOutcome> {
  if (askGuard === undefined || rule.target === undefined || rule.engine === "builtin")
    return { ok: false, cause: new Error("no guard model client configured") };
  const format = guardFormats[rule.engine];
  const target = rule.target;
  const requests = format.requests(messages, rule.categories);
  let cached = true;
  const answers = await Promise.all(
    requests.map(async (req): Promise<ContentCategory[] | Error> => {
      const key = cacheKey(rule, req);
      const hit = rule.verdictCacheSize > 0 ? rule.verdictCache.get(key) : undefined;
      if (hit) return hit;
      cached = false;
      let reply: string;
      try {
        reply = await askGuard(target, req.messages, signal, req.extra);
      } catch (e) {
        if (signal?.aborted) throw new GatewayError("KT_ERR_CANCELLED", "request cancelled", { cause: e });
        return e instanceof Error ? e : new Error(String(e));
      }
      const cats = typeof reply === "string" ? format.read(reply, req) : undefined;
      if (cats === undefined) return new Error(`${rule.engine} reply is not a verdict in its format`);
      remember(rule, key, cats);
      return cats;
    }),
  );
  const failed = answers.find((a): a is Error => a instanceof Error);
  if (failed) return { ok: false, cause: failed };
  const categories = [...new Set((answers as ContentCategory[][]).flat())].filter((c) => rule.categories.includes(c));
  return { ok: true, categories, cached };
}

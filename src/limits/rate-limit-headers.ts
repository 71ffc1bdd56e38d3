import type { RateState } from "./limits-store.js";

/**
 * OpenAI's rate-limit headers from the windows a request was checked against: for requests and
 * for tokens, the window with the least room left among the key's own and its team's (the one
 * that will refuse first). Resets in OpenAI's duration form (`1m30s`, `6s`, `250ms`).
 */
export function rateLimitHeaders(rates: readonly RateState[], into: Record<string, string>): void {
  let req: RateState | undefined;
  let tok: RateState | undefined;
  for (const r of rates) {
    if (r.subject.startsWith("target:")) continue;
    if (r.name === "rpm") {
      if (!req || room(r) < room(req)) req = r;
      continue;
    }
    // Tokens: the combined window when there is one, else the tighter of input and output.
    const better = !tok || (r.name === "tpm") !== (tok.name === "tpm") ? r.name === "tpm" || !tok : room(r) < room(tok);
    if (better) tok = r;
  }
  if (req) {
    into["x-ratelimit-limit-requests"] = limitText(req.limit);
    into["x-ratelimit-remaining-requests"] = countText(Math.max(0, req.limit - req.used));
    into["x-ratelimit-reset-requests"] = duration(req.resetMs);
  }
  if (tok) {
    into["x-ratelimit-limit-tokens"] = limitText(tok.limit);
    into["x-ratelimit-remaining-tokens"] = countText(Math.max(0, tok.limit - tok.used));
    into["x-ratelimit-reset-tokens"] = duration(tok.resetMs);
  }
}

/**
 * The headers are written for every admitted request (issue #20): their numbers are formatted
 * without the runtime's slow paths where the text is provably the same. A limit is a configured
 * number (a handful per configuration): its text is kept. Token limits are large (10^12 is
 * common), past V8's small integers, and String() of such a number goes to the runtime
 * (NumberToStringSlow) when its per-process cache misses, as it does for a count that changes on
 * every request.
 */
const limitTexts = new Map<number, string>();
function limitText(n: number): string {
  let t = limitTexts.get(n);
  if (t === undefined) {
    t = String(n);
    if (limitTexts.size < 256) limitTexts.set(n, t);
  }
  return t;
}

/** String(n), for a count: an integer up to 2^53 in two small-integer halves, anything else as String() has it. */
function countText(n: number): string {
  if (n < 1_000_000_000 || !Number.isSafeInteger(n)) return String(n);
  const hi = Math.floor(n / 1_000_000_000);
  const lo = String(n - hi * 1_000_000_000);
  return `${hi}${"000000000".slice(lo.length)}${lo}`;
}

function room(r: RateState): number {
  return r.limit - r.used;
}

/** `1m30s`, `6s`, `1.5s`, `250ms`: how OpenAI writes its reset headers. */
export function duration(ms: number): string {
  if (ms <= 0) return "0s";
  if (ms < 1000) return `${Math.ceil(ms)}ms`;
  const s = ms / 1000;
  if (s < 60) {
    // A whole number of ms not halfway between two tenths (ms % 100 !== 50): its tenths are
    // Math.round(ms / 100), which is what toFixed(1) rounds s to (s is within 1e-16 of ms / 1000
    // and at least 0.001 from a halfway point), and `${n / 10}` is the text of Number("d.d"). The
    // rest, as written below, through toFixed's exact rounding (two runtime calls).
    if (Number.isInteger(ms) && ms % 100 !== 50) return `${Math.round(ms / 100) / 10}s`;
    return `${Number.isInteger(s) ? s : Number(s.toFixed(1))}s`;
  }
  const m = Math.floor(s / 60);
  const rest = Math.round(s - m * 60);
  return rest === 0 ? `${m}m` : `${m}m${rest}s`;
}

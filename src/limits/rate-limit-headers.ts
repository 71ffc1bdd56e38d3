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
    into["x-ratelimit-limit-requests"] = String(req.limit);
    into["x-ratelimit-remaining-requests"] = String(Math.max(0, req.limit - req.used));
    into["x-ratelimit-reset-requests"] = duration(req.resetMs);
  }
  if (tok) {
    into["x-ratelimit-limit-tokens"] = String(tok.limit);
    into["x-ratelimit-remaining-tokens"] = String(Math.max(0, tok.limit - tok.used));
    into["x-ratelimit-reset-tokens"] = duration(tok.resetMs);
  }
}

function room(r: RateState): number {
  return r.limit - r.used;
}

/** `1m30s`, `6s`, `1.5s`, `250ms`: how OpenAI writes its reset headers. */
export function duration(ms: number): string {
  if (ms <= 0) return "0s";
  if (ms < 1000) return `${Math.ceil(ms)}ms`;
  const s = ms / 1000;
  if (s < 60) return `${Number.isInteger(s) ? s : Number(s.toFixed(1))}s`;
  const m = Math.floor(s / 60);
  const rest = Math.round(s - m * 60);
  return rest === 0 ? `${m}m` : `${m}m${rest}s`;
}

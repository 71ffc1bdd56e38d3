/**
 * The x-ratelimit-* headers' numbers are formatted without the runtime's slow paths (issue #20):
 * the text must be exactly what String() and the toFixed(1) form gave, for every value the
 * stores hand out and for the values around the shortcuts' edges.
 */
import { describe, expect, it } from "vitest";
import { duration, rateLimitHeaders } from "../../src/limits/rate-limit-headers.js";
import type { RateState } from "../../src/limits/limits-store.js";

/** The formatting as it was written before the shortcuts (frozen here as the reference). */
function referenceDuration(ms: number): string {
  if (ms <= 0) return "0s";
  if (ms < 1000) return `${Math.ceil(ms)}ms`;
  const s = ms / 1000;
  if (s < 60) return `${Number.isInteger(s) ? s : Number(s.toFixed(1))}s`;
  const m = Math.floor(s / 60);
  const rest = Math.round(s - m * 60);
  return rest === 0 ? `${m}m` : `${m}m${rest}s`;
}

function referenceHeaders(rates: readonly RateState[]): Record<string, string> {
  const room = (r: RateState) => r.limit - r.used;
  let req: RateState | undefined;
  let tok: RateState | undefined;
  for (const r of rates) {
    if (r.subject.startsWith("target:")) continue;
    if (r.name === "rpm") {
      if (!req || room(r) < room(req)) req = r;
      continue;
    }
    const better = !tok || (r.name === "tpm") !== (tok.name === "tpm") ? r.name === "tpm" || !tok : room(r) < room(tok);
    if (better) tok = r;
  }
  const out: Record<string, string> = {};
  if (req) {
    out["x-ratelimit-limit-requests"] = String(req.limit);
    out["x-ratelimit-remaining-requests"] = String(Math.max(0, req.limit - req.used));
    out["x-ratelimit-reset-requests"] = referenceDuration(req.resetMs);
  }
  if (tok) {
    out["x-ratelimit-limit-tokens"] = String(tok.limit);
    out["x-ratelimit-remaining-tokens"] = String(Math.max(0, tok.limit - tok.used));
    out["x-ratelimit-reset-tokens"] = referenceDuration(tok.resetMs);
  }
  return out;
}

describe("rate-limit header formatting", () => {
  it("writes every whole-ms reset up to two minutes as the reference does", () => {
    for (let ms = -5; ms <= 120_000; ms++) expect(duration(ms), String(ms)).toBe(referenceDuration(ms));
  });

  it("writes fractional and unusual resets as the reference does", () => {
    const odd = [0.5, 999.5, 1000.5, 1049.999, 1050, 1150, 1250, 1149.9999999, 59_949.5, 59_950, 59_999.9, 60_000.4, Number.MIN_VALUE, 1e15, NaN, Infinity, -Infinity];
    for (let i = 0; i < 5000; i++) odd.push(Math.random() * 70_000, Math.floor(Math.random() * 70_000) + 0.05 * Math.floor(Math.random() * 20));
    for (const ms of odd) expect(duration(ms), String(ms)).toBe(referenceDuration(ms));
  });

  it("writes limits and remaining counts as String() does, small, large and past 2^53", () => {
    const limits = [1, 60, 100_000_000, 999_999_999, 1_000_000_000, 1_000_000_001, 2 ** 31, 1e12, 1e15, 2 ** 53 - 1, 2 ** 53, 1e21, 1.5, 1e12 + 0.5];
    const used = [0, 1, 999, 1_000_000_000, 123_456_789_012, 2 ** 53, 1e21, 0.25];
    for (const limit of limits)
      for (const u of used) {
        const rates: RateState[] = [
          { subject: "key:k", name: "rpm", limit, used: u, resetMs: 59_321 },
          { subject: "key:k", name: "tpm", limit, used: u, resetMs: 1_234 },
          { subject: "target:t", name: "tpm", limit: 1, used: 0, resetMs: 0 },
        ];
        const into: Record<string, string> = {};
        rateLimitHeaders(rates, into);
        expect(into, `${limit} ${u}`).toEqual(referenceHeaders(rates));
      }
    for (let i = 0; i < 20_000; i++) {
      const limit = Math.floor(Math.random() * 2 ** (1 + Math.floor(Math.random() * 53)));
      const rates: RateState[] = [
        { subject: "key:k", name: "rpm", limit, used: Math.floor(Math.random() * limit), resetMs: Math.floor(Math.random() * 61_000) },
        { subject: "key:k", name: "itpm", limit: limit * 7, used: Math.floor(Math.random() * limit), resetMs: Math.random() * 61_000 },
        { subject: "team:t", name: "otpm", limit, used: Math.floor(Math.random() * limit * 2), resetMs: Math.floor(Math.random() * 61_000) },
      ];
      const into: Record<string, string> = {};
      rateLimitHeaders(rates, into);
      expect(into).toEqual(referenceHeaders(rates));
    }
  });
});

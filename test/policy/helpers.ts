import type { GatewayConfig, Policy } from "../../src/config/index.js";
import { ruleSchema } from "../../src/config/schema.js";

/** A GatewayConfig holding just these policies; rules go through the real schema for defaults. */
export function configWith(policies: { id: string; rules: unknown[] }[], packEnabled = true): GatewayConfig {
  return {
    source: "test.yaml",
    pack: { name: "p", version: "1", enabled: packEnabled },
    targets: [],
    policies: policies.map((p): Policy => ({ id: p.id, description: undefined, rules: p.rules.map((r) => ruleSchema.parse(r)) })),
    audit: undefined,
    streaming: { mode: "buffered" },
    apiKeys: [],
    // The policy engine never reads limits; left empty so config changes elsewhere do not break these tests.
    limits: {} as GatewayConfig["limits"],
  };
}

/** Deterministic PRNG so generated data is reproducible. */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function digits(r: () => number, n: number): string {
  let s = "";
  for (let i = 0; i < n; i++) s += Math.floor(r() * 10);
  return s;
}

export function luhnComplete(partial: string): string {
  for (let d = 0; d <= 9; d++) {
    const s = partial + d;
    let sum = 0;
    let dbl = false;
    for (let i = s.length - 1; i >= 0; i--) {
      let v = s.charCodeAt(i) - 48;
      if (dbl) {
        v *= 2;
        if (v > 9) v -= 9;
      }
      sum += v;
      dbl = !dbl;
    }
    if (sum % 10 === 0) return s;
  }
  throw new Error("unreachable");
}

/** A valid card number for an issuer prefix and length. */
export function card(r: () => number, prefix: string, length: number): string {
  return luhnComplete(prefix + digits(r, length - prefix.length - 1));
}

/** A valid IBAN for a country, BBAN of digits, check digits computed by mod-97. */
export function ibanFor(r: () => number, country: string, length: number): string {
  const bban = digits(r, length - 4);
  const rearranged = bban + country + "00";
  let rem = 0;
  for (const ch of rearranged) {
    const v = /\d/.test(ch) ? ch : String(ch.charCodeAt(0) - 55);
    for (const d of v) rem = (rem * 10 + Number(d)) % 97;
  }
  const check = String(98 - rem).padStart(2, "0");
  return country + check + bban;
}

export function spaced(s: string): string {
  return s.replace(/(.{4})(?=.)/g, "$1 ");
}

import type { Recogniser } from "../scan/index.js";
import { digitLedKinds, K_CONTINUES, runIn, seekDigitLed } from "./candidates.js";
import { codeAt, isDigit } from "./chars.js";
import { luhnValid } from "./luhn.js";

/**
 * Issuer ranges (IIN prefixes) and the lengths each network issues, from the networks' published
 * tables. A number must fit one of them and pass Luhn; that keeps order ids and other long digit runs
 * out. Ranges are [digits of prefix, low, high].
 */
const issuers: { name: string; ranges: readonly (readonly [number, number, number])[]; lengths: readonly number[] }[] = [
  { name: "visa", ranges: [[1, 4, 4]], lengths: [13, 16, 19] },
  { name: "mastercard", ranges: [[2, 51, 55], [4, 2221, 2720]], lengths: [16] },
  { name: "amex", ranges: [[2, 34, 34], [2, 37, 37]], lengths: [15] },
  { name: "discover", ranges: [[4, 6011, 6011], [3, 644, 649], [2, 65, 65], [6, 622126, 622925]], lengths: [16, 17, 18, 19] },
  { name: "jcb", ranges: [[4, 3528, 3589]], lengths: [16, 17, 18, 19] },
  { name: "jcb-15", ranges: [[4, 2131, 2131], [4, 1800, 1800]], lengths: [15] },
  { name: "diners", ranges: [[3, 300, 305], [4, 3095, 3095], [2, 36, 36], [2, 38, 39]], lengths: [14, 15, 16, 17, 18, 19] },
  // UnionPay issues some non-Luhn numbers; we still require Luhn, trading those for fewer false positives.
  { name: "unionpay", ranges: [[2, 62, 62], [2, 81, 81]], lengths: [14, 15, 16, 17, 18, 19] },
  { name: "maestro", ranges: [[2, 50, 50], [2, 56, 69], [4, 6759, 6759], [4, 6761, 6763]], lengths: [12, 13, 14, 15, 16, 17, 18, 19] },
  { name: "mir", ranges: [[4, 2200, 2204]], lengths: [16, 17, 18, 19] },
  { name: "borica", ranges: [[4, 2205, 2205]], lengths: [16] },
  { name: "rupay", ranges: [[2, 60, 60], [2, 65, 65], [2, 81, 82], [3, 508, 508], [3, 353, 353], [3, 356, 356]], lengths: [16] },
  { name: "verve", ranges: [[6, 506099, 506198], [6, 650002, 650027], [6, 507865, 507964]], lengths: [16, 18, 19] },
  { name: "dankort", ranges: [[4, 5019, 5019]], lengths: [16] },
  { name: "troy", ranges: [[4, 9792, 9792]], lengths: [16] },
  { name: "humo", ranges: [[4, 9860, 9860]], lengths: [16] },
  { name: "uzcard", ranges: [[4, 8600, 8600]], lengths: [16] },
  { name: "gpn", ranges: [[4, 1946, 1946]], lengths: [16, 18, 19] },
  { name: "instapayment", ranges: [[3, 637, 639]], lengths: [16] },
  { name: "interpayment", ranges: [[3, 636, 636]], lengths: [16, 17, 18, 19] },
  { name: "lankapay", ranges: [[6, 357111, 357111]], lengths: [16] },
];

function prefixOf(d: string, n: number): number {
  let v = 0;
  for (let i = 0; i < n; i++) v = v * 10 + (d.charCodeAt(i) - 48);
  return v;
}

function fits(i: (typeof issuers)[number], digits: string): boolean {
  return i.lengths.includes(digits.length) && i.ranges.some(([n, lo, hi]) => digits.length >= n && prefixOf(digits, n) >= lo && prefixOf(digits, n) <= hi);
}

export function isValidCardNumber(digits: string): boolean {
  if (!/^\d{12,19}$/.test(digits)) return false;
  return issuers.some((i) => fits(i, digits)) && luhnValid(digits);
}

const CARD_CUE = /card|maestro|debit|credit|\bcc\b|pan\b|karte|carte|tarjeta/i;

/** Separators that may stand between printed groups (one run of up to three of them). */
function isSeparator(c: number): boolean {
  return c === 32 || c === 45 || c === 46 || c === 47 || c === 10 || c === 13 || c === 9;
}

/** The digits read so far by `cardEnd` (one decision at a time, so one buffer). */
const held = new Uint8Array(20);

/** Per number length (12-19): the issuer ranges as [prefix digits, low, high, 1 if Maestro], flat. */
const rangesByLength: Int32Array[] = [];
for (let n = 12; n <= 19; n++) {
  const flat: number[] = [];
  for (const i of issuers) if (i.lengths.includes(n)) for (const [k, lo, hi] of i.ranges) flat.push(k, lo, hi, i.name === "maestro" ? 1 : 0);
  rangesByLength[n] = Int32Array.from(flat);
}
/** The numbers of the first 0-6 held digits. */
const prefixes = new Int32Array(7);

/**
 * isValidCardNumber on the first `n` held digits (12-19), without a string; with `exceptMaestro`,
 * only whether a network other than Maestro issues such a number (no Luhn).
 */
function heldValid(n: number, exceptMaestro: boolean): boolean {
  if (!exceptMaestro) {
    // Luhn first: it refuses nine numbers in ten, for less than the issuer table costs.
    let sum = 0;
    let double = false;
    for (let i = n - 1; i >= 0; i--) {
      let d = held[i]!;
      if (double) {
        d *= 2;
        if (d > 9) d -= 9;
      }
      sum += d;
      double = !double;
    }
    if (sum % 10 !== 0) return false;
  }
  let v = 0;
  for (let k = 1; k <= 6; k++) prefixes[k] = v = v * 10 + held[k - 1]!;
  const r = rangesByLength[n]!;
  for (let j = 0; j < r.length; j += 4) {
    if (exceptMaestro && r[j + 3] === 1) continue;
    const p = prefixes[r[j]!]!;
    if (p >= r[j + 1]! && p <= r[j + 2]!) return true;
  }
  return false;
}

/**
 * The validator: the longest run of whole groups from `start` within `end` that is a card number,
 * or -1. Reads the text in place (a text of random digits is a candidate every few characters).
 */
function cardEnd(text: string, start: number, end: number): number {
  // A number after another number and one separator (`1.4111…`, `12-4111…`) is part of something else.
  if (start >= 2 && isDigit(text.charCodeAt(start - 2))) {
    const p = text.charCodeAt(start - 1);
    if (p === 46 || p === 44 || p === 45 || p === 47 || p === 32) return -1;
  }
  let n = 0;
  let best = -1;
  let i = start;
  while (i < end) {
    // One group.
    while (i < end && isDigit(text.charCodeAt(i))) {
      if (n < 20) held[n] = text.charCodeAt(i) - 48;
      n++;
      i++;
    }
    if (n > 19) break;
    const next = i < text.length ? text.charCodeAt(i) : 0;
    // A group followed by a letter or digit (past the regex's end) is not a whole group.
    const cont = i >= end && (isDigit(next) || (next >= 65 && next <= 90) || (next >= 97 && next <= 122));
    if (!cont && n >= 12 && heldValid(n, false)) {
      const printed = i - start > n;
      // Only Maestro issues 12–15 digit numbers besides Amex/Diners/JCB-15; alone and unprinted, such a run is more often an id.
      const shortMaestroOnly = n < 16 && !heldValid(n, true);
      if (printed || !shortMaestroOnly || CARD_CUE.test(text.slice(Math.max(0, start - 40), start))) best = i;
    }
    // Skip the separator run.
    while (i < end && isSeparator(text.charCodeAt(i))) i++;
  }
  if (best === -1) return -1;
  // Stopping before the number's own continuation (`-123`, `.5`) would cut an id in two.
  const a = best < text.length ? text.charCodeAt(best) : 0;
  const b = best + 1 < text.length ? text.charCodeAt(best + 1) : 0;
  if ((a === 45 || a === 46 || a === 47) && isDigit(b) && best < end) {
    // The same separator as inside the number continues it: an id, not a card.
    const inner = text.slice(start, best);
    if (inner.includes(String.fromCharCode(a)) || !/[ \-./]/.test(inner)) return -1;
  }
  return best;
}

export const creditCard: Recogniser = {
  type: "credit_card",
  // Compact, or in groups of digits with one run of separators (space, dash, dot, slash, line
  // break; mixed and doubled allowed) between groups. The regex over-reaches on purpose (a trailing
  // expiry date, another number); the validator finds the longest run of whole groups that is a card.
  // The first character is consumed before the lookbehind: V8 then rejects most positions on it.
  pattern: String.raw`\d(?<![A-Za-z0-9]\d|\d[.,\-/ ]\d)\d{1,18}(?:[ \-./\n\r\t]{1,3}\d{1,8}){0,7}`,
  maxLength: 19 + 7 * 11,
  seek: seekDigitLed,
  // Its lookbehind refuses a digit run right after another number and one separator.
  kinds: { of: digitLedKinds, admits: (k) => runIn(k, 2, Infinity) && (k & K_CONTINUES) === 0 },
  lookbehind: 2,
  // Twelve digits in groups joined by runs of up to three separators: a number that stops short
  // (a date, a phone number, an amount) is refused on its first few characters.
  possible(text, start) {
    let n = 0;
    let seps = 0;
    for (let i = start; i < start + 12 + 3 * 7; i++) {
      const c = codeAt(text, i);
      if (isDigit(c)) {
        if (++n === 12) return true;
        seps = 0;
      } else if (!isSeparator(c) || ++seps > 3) return false;
    }
    return false;
  },
  validate: cardEnd,
};

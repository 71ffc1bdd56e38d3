import type { CandidateKinds } from "../scan/index.js";
import { codeAt } from "./chars.js";

/**
 * Candidate finders shared by several recognisers (Recogniser.seek). As alternatives of one
 * combined regex, the built-in shapes made V8 try some twenty patterns at every letter of a text
 * (an IBAN or a passport may start at any capital, a secret at any `s`, `e` or `g`), about 50 ns a
 * byte on prose. Every one of those shapes hinges on something rare instead — a digit within its
 * first three characters, or one of a few literals — so candidates are found from that, with a
 * one-class regex V8 runs at memchr speed, and only there are the recognisers tried.
 *
 * The scanner calls a seek function once per list however many recognisers share it, and tries
 * every recogniser of the rule at each candidate, so a finder may report positions where nothing
 * matches; it must never skip one where something does.
 */

/**
 * The next occurrence of each of a few characters, found with indexOf (memchr: some 30 GB/s,
 * where a regex character class walks the text at about 1 ns a character) and remembered while the
 * same text is scanned forward, so each character's search passes over the text once per scan.
 */
export class NextOf {
  private scan: object | undefined;
  /** Each string's next position (-1: none) at or after the `from` it was last searched from. */
  private readonly at: Int32Array;
  private readonly base: Int32Array;

  constructor(private readonly strings: readonly string[]) {
    this.at = new Int32Array(strings.length);
    this.base = new Int32Array(strings.length);
  }

  /** Leftmost position at or after `from` of any of the strings, or -1. */
  next(text: string, from: number, scan: object | undefined): number {
    const { at, base, strings } = this;
    // Another pass (or a lone call) starts the searches afresh.
    if (scan === undefined || scan !== this.scan) {
      this.scan = scan;
      // Plain loops: TypedArray.prototype.fill is a runtime call, dearer than a few stores (this
      // runs once per scanned text, so a short text paid it as a fixed cost).
      for (let k = 0; k < at.length; k++) {
        at[k] = -2;
        base[k] = 0;
      }
    }
    let best = -1;
    for (let k = 0; k < at.length; k++) {
      let p = at[k]!;
      const b = base[k]!;
      if (from < b) {
        // A step back (the caller looks a little behind where it last asked): only the gap is new.
        if (b - from <= 64) {
          for (let j = from; j < b; j++)
            if (text.startsWith(strings[k]!, j)) {
              p = j;
              break;
            }
          at[k] = p;
        } else at[k] = p = text.indexOf(strings[k]!, from);
        base[k] = from;
      } else if (p !== -1 && p < from) {
        at[k] = p = text.indexOf(strings[k]!, from);
        base[k] = from;
      }
      if (p !== -1 && (best === -1 || p < best)) best = p;
    }
    return best;
  }
}

const digits = new NextOf(["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]);

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/** Any digit, from lastIndex: a native pass over the text (~10 instructions a character, its call ~400). */
const DIGIT = /[0-9]/g;

/**
 * The next digit: looked for by hand a few characters ahead first (in numeric text it is there,
 * and ten indexOf calls cost more); past those, in the last 128 characters of a text, by one
 * regex run (a JS loop's charCodeAt is some 30 instructions a character: 2 k for a chat
 * message's words before its first number), further by the indexOf searches.
 */
function nextDigit(text: string, from: number, scan: object): number {
  const n = text.length;
  const end = Math.min(n, from + 16);
  for (let i = from; i < end; i++) if (isDigit(text.charCodeAt(i))) return i;
  if (end === n) return -1;
  if (n - from > 128) return digits.next(text, end, scan);
  DIGIT.lastIndex = end;
  return DIGIT.test(text) ? DIGIT.lastIndex - 1 : -1;
}

function isLetter(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}

/** Characters a phone number may have between its `+` or `(` and its first digit. */
function isPhoneGap(c: number): boolean {
  return c === 32 || c === 40 || c === 41 || c === 46 || c === 45 || c === 47;
}

/** How far before its first digit a phone number may start: `[+(]` and up to 24 of the gap characters. */
const PHONE_LEAD = 25;

/**
 * Leftmost position at or after `from` where a digit-led shape may start. Every such shape
 * (cards, SSNs, NHS numbers, passports, IPv4, phone numbers, IBANs, postal codes, Bitcoin and
 * Ethereum addresses) starts at the first digit of a run, one or two letters before it (IBAN
 * `GB82`, passport `A1234…`, postcode `NW1`, `bc1`), or at a `+`/`(` before it with only phone
 * separators in between; none starts inside a run of digits (each has a lookbehind refusing a
 * digit before its first one). Nor does any start at a digit right after a letter (each refuses
 * a letter there too): after one, only the letters are candidates — a capital right before the
 * digits (postcode `W1`, passport `A1234…`), or two letters (`GB82`, `NW1`, `bc1`).
 */
export function seekDigitLed(text: string, from: number, scan: object = {}): number {
  for (let r = nextDigit(text, from, scan); r !== -1; ) {
    // Only the first digit of a run starts anything.
    if (r > 0 && isDigit(text.charCodeAt(r - 1))) {
      let e = r + 1;
      while (isDigit(codeAt(text, e))) e++;
      r = nextDigit(text, e, scan);
      continue;
    }
    const b = r > 0 ? text.charCodeAt(r - 1) : 0;
    if (isLetter(b)) {
      // Letters right before the run: two (`GB82`, `bc1`), or a capital alone (`W1`, `A1234…`).
      // Every shape that starts at a lone capital refuses a letter, digit, `_` or `-` before it
      // (postcodes, passports), so in `GB00` or `AKIA12` the second letter is no candidate: a
      // text of such near-misses is one candidate per number, not two.
      let best = -1;
      const b2 = r > 1 ? text.charCodeAt(r - 2) : 0;
      if (r - 1 >= from && b <= 90 && !isLetter(b2) && !isDigit(b2) && b2 !== 95 && b2 !== 45) best = r - 1;
      if (r - 2 >= from && isLetter(b2)) best = r - 2;
      if (best !== -1) return best;
      let e = r + 1;
      while (isDigit(codeAt(text, e))) e++;
      r = nextDigit(text, e, scan);
      continue;
    }
    let best = r;
    // A `+` or `(` opening a phone number, with only separators between it and the digits.
    for (let k = r - 1; k >= from && r - k <= PHONE_LEAD; k--) {
      const c = text.charCodeAt(k);
      if (c === 43) {
        if (k < best) best = k;
        break;
      }
      if (!isPhoneGap(c)) break;
      if (c === 40 && k < best) best = k;
    }
    return best;
  }
  return -1;
}

/*
 * The kind of a digit-led candidate (Recogniser.kinds), as bits: the length of the digit run it
 * starts with and the character after that run, or what it starts with instead (a `+` or `(`, a
 * letter). Each shape's recogniser admits the kinds it can start at, so at a candidate of random
 * digits only the card and phone shapes are tried, at `GB00` only the IBAN and the postcode.
 */
/** Bits 0-3: the digit run at the candidate, 0 when it does not start with a digit (RUNS gives each value's lengths). */
const RUN_MASK = 0xf;
const RUNS: readonly (readonly [number, number])[] = [[0, 0], [1, 1], [2, 2], [3, 3], [4, 4], [5, 5], [6, 8], [9, 9], [10, 10], [11, Infinity]];
/** Bits 4-6: the character after the run. */
const AFTER_SHIFT = 4;
const AFTERS = ["", ".", " ", "-", "x"];
export const K_13 = 1 << 7;
export const K_ZERO = 1 << 8;
/** A `+` or `(` (a phone number's start). */
export const K_LEAD = 1 << 9;
export const K_LETTER = 1 << 10;
export const K_UPPER = 1 << 11;
/** The second character is a letter too. */
export const K_LETTER2 = 1 << 12;
/** `b` or `t` (bech32's `bc1`, `tb1`). */
export const K_BT = 1 << 13;
/** A digit run right after another number and one of ` .-/` (`4111 1111`, `12-34`): no card or phone starts there. */
export const K_CONTINUES = 1 << 14;

/** Whether the kind's digit run may be from `min` to `max` digits long. */
export function runIn(kind: number, min: number, max: number): boolean {
  const [lo, hi] = RUNS[kind & RUN_MASK]!;
  return lo > 0 && lo <= max && hi >= min;
}

/** Whether the character after the kind's digit run is `ch` (one of `.`, ` `, `-`, `x`). */
export function after(kind: number, ch: string): boolean {
  return AFTERS[(kind >> AFTER_SHIFT) & 7] === ch;
}

function runValue(n: number): number {
  if (n <= 5) return n;
  if (n <= 8) return 6;
  return n - 2;
}

function afterValue(c: number): number {
  if (c === 46) return 1;
  if (c === 32) return 2;
  if (c === 45) return 3;
  if (c === 120) return 4;
  return 0;
}

export const digitLedKinds: CandidateKinds = {
  kinds: 1 << 15,
  kindAt(text, at) {
    const c = text.charCodeAt(at);
    if (isDigit(c)) {
      let j = at + 1;
      while (j < at + 11 && isDigit(codeAt(text, j))) j++;
      const b = codeAt(text, at - 1);
      const continues = (b === 32 || b === 46 || b === 45 || b === 47) && isDigit(codeAt(text, at - 2));
      return (
        runValue(j - at) |
        (afterValue(codeAt(text, j)) << AFTER_SHIFT) |
        (c === 49 || c === 51 ? K_13 : 0) |
        (c === 48 ? K_ZERO : 0) |
        (continues ? K_CONTINUES : 0)
      );
    }
    if (c === 43 || c === 40) return K_LEAD;
    if (!isLetter(c)) return 0;
    return K_LETTER | (c <= 90 ? K_UPPER : 0) | (isLetter(codeAt(text, at + 1)) ? K_LETTER2 : 0) | (c === 98 || c === 116 ? K_BT : 0);
  },
};

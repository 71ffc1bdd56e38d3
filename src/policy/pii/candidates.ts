import type { CandidateKinds } from "../scan/index.js";

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
class NextOf {
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

/**
 * How far ahead the character-by-character look goes before the indexOf searches take over: to the
 * end of a text when this little of it is left. Ten indexOf calls (six for the secrets' anchors)
 * cost ~1.6 k instructions of call overhead whatever the length, more than the loop over a chat
 * message's last hundred characters; for long texts the searches (memchr) stay.
 */
function handEnd(text: string, from: number, ahead: number, whole: number): number {
  return text.length - from <= whole ? text.length : Math.min(text.length, from + ahead);
}

/** The next digit: looked for by hand a few characters ahead first (in numeric text it is there, and ten indexOf calls cost more). */
function nextDigit(text: string, from: number, scan: object): number {
  const end = handEnd(text, from, 16, 128);
  for (let i = from; i < end; i++) if (isDigit(text.charCodeAt(i))) return i;
  return end === text.length ? -1 : digits.next(text, end, scan);
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
      while (isDigit(text.charCodeAt(e))) e++;
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
      while (isDigit(text.charCodeAt(e))) e++;
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
      while (j < at + 11 && isDigit(text.charCodeAt(j))) j++;
      const b = text.charCodeAt(at - 1);
      const continues = (b === 32 || b === 46 || b === 45 || b === 47) && isDigit(text.charCodeAt(at - 2));
      return (
        runValue(j - at) |
        (afterValue(text.charCodeAt(j)) << AFTER_SHIFT) |
        (c === 49 || c === 51 ? K_13 : 0) |
        (c === 48 ? K_ZERO : 0) |
        (continues ? K_CONTINUES : 0)
      );
    }
    if (c === 43 || c === 40) return K_LEAD;
    if (!isLetter(c)) return 0;
    return K_LETTER | (c <= 90 ? K_UPPER : 0) | (isLetter(text.charCodeAt(at + 1)) ? K_LETTER2 : 0) | (c === 98 || c === 116 ? K_BT : 0);
  },
};

/**
 * The literals secrets begin with, each found from a character that is rare in prose (a search
 * for `e` or `s` would stop every few bytes): every alternative starts with that character, and
 * says how far before it the literal starts.
 */
const secretAnchors: readonly { re: string; back: number; near: readonly [number, string]; body?: readonly [number, number, string] }[] = [
  // Each also reads the shortest body its pattern needs after the literal: text made of the literal
  // alone (`eyJa.` repeated) then yields no candidates at all. `near`: one character next to the
  // anchor that the literal has (offset, characters), checked before the regex: a dash or an
  // underscore in ordinary text fails there.
  // `body`: the characters the regex reads at a fixed offset from the anchor (offset, count, class),
  // checked by hand before it: a near-miss (`AKIA12 `) fails at its first wrong character.
  { re: "-(?<=sk-)[A-Za-z0-9_-]{20}", back: 2, near: [-1, "k"], body: [1, 20, "A-Za-z0-9_-"] },
  { re: "-(?<=xox[abposr]-)[A-Za-z0-9-]{10}", back: 4, near: [-1, "abposr"], body: [1, 10, "A-Za-z0-9-"] },
  { re: "-----BEGIN ", back: 0, near: [1, "-"] },
  { re: "_(?<=[srp]k_)(?:live|test)_[A-Za-z0-9]{16}", back: 2, near: [-1, "k"], body: [6, 16, "A-Za-z0-9"] },
  { re: "_(?<=gh[pousr]_)[A-Za-z0-9]{36}", back: 3, near: [-1, "pousr"], body: [1, 36, "A-Za-z0-9"] },
  { re: "_(?<=github_)pat_[A-Za-z0-9_]{22}", back: 6, near: [-1, "b"], body: [5, 22, "A-Za-z0-9_"] },
  { re: "J(?<=eyJ)[A-Za-z0-9_-]{8}", back: 2, near: [-1, "y"], body: [1, 8, "A-Za-z0-9_-"] },
  { re: "A(?:KIA|SIA|GPA|IDA|ROA|NPA|NVA|IPA)[0-9A-Z]{16}", back: 0, near: [1, "KSGIRN"], body: [4, 16, "0-9A-Z"] },
  { re: "AIza[0-9A-Za-z_-]{35}", back: 0, near: [1, "I"], body: [4, 35, "0-9A-Za-z_-"] },
  { re: "[Bb]earer [A-Za-z0-9._~+/-]{16}", back: 0, near: [1, "e"], body: [7, 16, "A-Za-z0-9._~+/-"] },
];

interface SecretAlternative {
  re: RegExp;
  /** The pattern itself when it is a plain literal (`-----BEGIN `): compared, not run. */
  literal: string | undefined;
  back: number;
  off: number;
  near: string;
  /** `body` of its anchor: offset, count, and its class as a table by ASCII code (undefined: none). */
  bodyAt: number;
  bodyCount: number;
  bodyClass: Uint8Array | undefined;
}

/** A regex character class (ASCII) as a table by character code. */
function classTable(cls: string): Uint8Array {
  const re = new RegExp(`[${cls}]`);
  const t = new Uint8Array(128);
  for (let c = 0; c < 128; c++) t[c] = re.test(String.fromCharCode(c)) ? 1 : 0;
  return t;
}
/** The alternatives by the character they are found at. */
const secretAt = new Map<number, SecretAlternative[]>();
for (const a of secretAnchors)
  for (const c of a.re.startsWith("[Bb]") ? "Bb" : a.re[0]!) {
    const code = c.charCodeAt(0);
    secretAt.set(code, [
      ...(secretAt.get(code) ?? []),
      {
        re: new RegExp(a.re, "y"),
        literal: /^[\w -]+$/.test(a.re) ? a.re : undefined,
        back: a.back,
        off: a.near[0],
        near: a.near[1],
        bodyAt: a.body?.[0] ?? 0,
        bodyCount: a.body?.[1] ?? 0,
        bodyClass: a.body === undefined ? undefined : classTable(a.body[2]),
      },
    ]);
  }
/** secretAt as an array by character code (every anchor is ASCII). */
const secretAtAscii: (SecretAlternative[] | undefined)[] = [];
for (const [code, alternatives] of secretAt) secretAtAscii[code] = alternatives;
const anchorChars = new NextOf(["-", "_", "J", "A", "B", "bearer"]);
const MAX_BACK = Math.max(...secretAnchors.map((a) => a.back));

/**
 * The leftmost start at or after `from` of a secret literal anchored at `a`, or -1. One character
 * may anchor several (`xoxb-----BEGIN `: the dash ends one literal and starts another).
 */
function literalAt(text: string, a: number, from: number, below = Infinity): number {
  const c = text.charCodeAt(a);
  const alternatives = c < 128 ? secretAtAscii[c] : undefined;
  if (alternatives === undefined) return -1;
  let best = -1;
  for (let i = 0; i < alternatives.length; i++) {
    const { re, literal, back, off, near, bodyAt, bodyCount, bodyClass } = alternatives[i]!;
    const s = a - back;
    if (s < from || s >= below || (best !== -1 && s >= best)) continue;
    const n = text.charCodeAt(a + off);
    let k = near.length - 1;
    while (k >= 0 && near.charCodeAt(k) !== n) k--;
    if (k < 0) continue;
    if (literal !== undefined) {
      if (text.startsWith(literal, a)) best = s;
      continue;
    }
    if (bodyClass !== undefined) {
      let j = a + bodyAt;
      const stop = j + bodyCount;
      for (let c = text.charCodeAt(j); j < stop && c < 128 && bodyClass[c] === 1; c = text.charCodeAt(++j));
      if (j < stop) continue;
    }
    re.lastIndex = a;
    if (re.test(text)) best = s;
  }
  return best;
}

/** Whether one of anchorChars' strings starts at `i`. */
function anchorAt(text: string, i: number): boolean {
  const c = text.charCodeAt(i);
  return c === 45 || c === 95 || c === 74 || c === 65 || c === 66 || (c === 98 && text.startsWith("bearer", i));
}

/**
 * The next anchor at or after `from`: looked for by hand a few characters ahead first (in text
 * dense with anchors, `AKIA12 ` or `-----BEGIN ` repeated, it is there, and six indexOf calls cost more).
 */
function nextAnchor(text: string, from: number, scan: object): number {
  const end = handEnd(text, from, 16, 64);
  for (let i = from; i < end; i++) if (anchorAt(text, i)) return i;
  return end === text.length ? -1 : anchorChars.next(text, end, scan);
}

/** Leftmost position at or after `from` where a secret's literal starts. */
export function seekSecret(text: string, from: number, scan: object = {}): number {
  for (let a = nextAnchor(text, from, scan); a !== -1; ) {
    let best = -1;
    let base = a;
    if (text.charCodeAt(a) === 45) {
      // A run of dashes: a dash after a dash ends no `sk-` or `xox?-`, and `-----BEGIN ` can only
      // start five before the run's end; no other literal holds a dash before its anchor. So only
      // the run's first dash and its fifth-last are tried, and the run is passed over in one step.
      let e = a + 1;
      while (text.charCodeAt(e) === 45) e++;
      if (text.charCodeAt(a - 1) !== 45 || a === e - 5) best = literalAt(text, a, from);
      if (best === -1 && e - 5 > a) best = literalAt(text, (base = e - 5), from);
      if (best === -1) {
        a = nextAnchor(text, e, scan);
        continue;
      }
    } else {
      best = literalAt(text, a, from);
      if (best === -1) {
        a = nextAnchor(text, a + 1, scan);
        continue;
      }
    }
    // A literal anchored a little later may start earlier (`github_` is found at its `_`).
    const end = Math.min(text.length, base + MAX_BACK + 1);
    for (let k = base + 1; k < end; k++) {
      const s = literalAt(text, k, from, best);
      if (s !== -1) best = s;
    }
    return best;
  }
  return -1;
}

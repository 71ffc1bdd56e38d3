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
      at.fill(-2);
      base.fill(0);
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

/** The next digit: looked for by hand a few characters ahead first (in numeric text it is there, and ten indexOf calls cost more). */
function nextDigit(text: string, from: number, scan: object): number {
  const end = Math.min(text.length, from + 16);
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
 * digit before its first one).
 */
export function seekDigitLed(text: string, from: number, scan: object = {}): number {
  let r = nextDigit(text, from, scan);
  // Only the first digit of a run starts anything.
  while (r > 0 && isDigit(text.charCodeAt(r - 1))) {
    let e = r + 1;
    while (isDigit(text.charCodeAt(e))) e++;
    r = nextDigit(text, e, scan);
  }
  if (r === -1) return -1;
  let best = r;
  // Letters right before the run.
  if (r - 1 >= from && isLetter(text.charCodeAt(r - 1))) {
    best = r - 1;
    if (r - 2 >= from && isLetter(text.charCodeAt(r - 2))) best = r - 2;
  }
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

/**
 * The literals secrets begin with, each found from a character that is rare in prose (a search
 * for `e` or `s` would stop every few bytes): every alternative starts with that character, and
 * says how far before it the literal starts.
 */
const secretAnchors: readonly { re: string; back: number; near: readonly [number, string] }[] = [
  // Each also reads the shortest body its pattern needs after the literal: text made of the literal
  // alone (`eyJa.` repeated) then yields no candidates at all. `near`: one character next to the
  // anchor that the literal has (offset, characters), checked before the regex: a dash or an
  // underscore in ordinary text fails there.
  { re: "-(?<=sk-)[A-Za-z0-9_-]{20}", back: 2, near: [-1, "k"] },
  { re: "-(?<=xox[abposr]-)[A-Za-z0-9-]{10}", back: 4, near: [-1, "abposr"] },
  { re: "-----BEGIN ", back: 0, near: [1, "-"] },
  { re: "_(?<=[srp]k_)(?:live|test)_[A-Za-z0-9]{16}", back: 2, near: [-1, "k"] },
  { re: "_(?<=gh[pousr]_)[A-Za-z0-9]{36}", back: 3, near: [-1, "pousr"] },
  { re: "_(?<=github_)pat_[A-Za-z0-9_]{22}", back: 6, near: [-1, "b"] },
  { re: "J(?<=eyJ)[A-Za-z0-9_-]{8}", back: 2, near: [-1, "y"] },
  { re: "A(?:KIA|SIA|GPA|IDA|ROA|NPA|NVA|IPA)[0-9A-Z]{16}", back: 0, near: [1, "KSGIRN"] },
  { re: "AIza[0-9A-Za-z_-]{35}", back: 0, near: [1, "I"] },
  { re: "[Bb]earer [A-Za-z0-9._~+/-]{16}", back: 0, near: [1, "e"] },
];

/** The alternatives by the character they are found at. */
const secretAt = new Map<number, { re: RegExp; back: number; off: number; near: string }[]>();
for (const a of secretAnchors)
  for (const c of a.re.startsWith("[Bb]") ? "Bb" : a.re[0]!) {
    const code = c.charCodeAt(0);
    secretAt.set(code, [...(secretAt.get(code) ?? []), { re: new RegExp(a.re, "y"), back: a.back, off: a.near[0], near: a.near[1] }]);
  }
const anchorChars = new NextOf(["-", "_", "J", "A", "B", "bearer"]);
const MAX_BACK = Math.max(...secretAnchors.map((a) => a.back));

/**
 * The leftmost start at or after `from` of a secret literal anchored at `a`, or -1. One character
 * may anchor several (`xoxb-----BEGIN `: the dash ends one literal and starts another).
 */
function literalAt(text: string, a: number, from: number): number {
  const alternatives = secretAt.get(text.charCodeAt(a));
  if (alternatives === undefined) return -1;
  let best = -1;
  for (const { re, back, off, near } of alternatives) {
    const s = a - back;
    if (s < from || (best !== -1 && s >= best)) continue;
    const n = text.charCodeAt(a + off);
    if (n !== n || !near.includes(String.fromCharCode(n))) continue;
    re.lastIndex = a;
    if (re.test(text)) best = s;
  }
  return best;
}

/** Leftmost position at or after `from` where a secret's literal starts. */
export function seekSecret(text: string, from: number, scan: object = {}): number {
  for (let a = anchorChars.next(text, from, scan); a !== -1; a = anchorChars.next(text, a + 1, scan)) {
    let best = literalAt(text, a, from);
    if (best === -1) continue;
    // A literal anchored a little later may start earlier (`github_` is found at its `_`).
    const end = Math.min(text.length, a + MAX_BACK + 1);
    for (let k = a + 1; k < end; k++) {
      const s = literalAt(text, k, from);
      if (s !== -1 && s < best) best = s;
    }
    return best;
  }
  return -1;
}

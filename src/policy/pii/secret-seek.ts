import { RIGHT_CONTEXT } from "../scan/index.js";
import { NextOf } from "./candidates.js";
import { isJsonText } from "./json-text.js";

/**
 * Where secrets start, decided by hand (Recogniser.seek and .decided for the recognisers of
 * secret.ts). Each secret pattern hinges on a rare character (an anchor: `-`, `_`, `J`, `A`, `B`,
 * `bearer`) and, past its literal, reads runs of one character class with fixed bounds and at most
 * a one-character look on either side, so whether it matches at a position, and where the match
 * ends, follows from a few maximal runs: no backtracking is needed to know what the regex would do.
 * The seek reports only positions where one of the patterns matches and its validator agrees (a
 * JWT the validator refuses is reported when its match ends within RIGHT_CONTEXT of the text's
 * end, see secretAt), and remembers the ends there for the scanner's `decided` ask, so neither a near-miss (`AKIA12 `,
 * `eyJa.`, `-----BEGIN ` with no label) nor a finding (a PEM header line) costs a regex run.
 * Each decision below is the pattern of secret.ts it is named after, read the way V8's backtracking
 * reads it; test/policy/secret-equivalence.test.ts holds them to the patterns.
 */

/** The recognisers' order in secret.ts (the scanner reports a finding's recogniser by it). */
export const SK = 0;
export const STRIPE = 1;
export const AWS = 2;
export const GITHUB = 3;
export const SLACK = 4;
export const GOOGLE = 5;
export const PEM_BLOCK = 6;
export const PEM_HEADER = 7;
export const BEARER = 8;
export const BEARER_LOWER = 9;
export const JWT = 10;

/** Bits of a character class table by ASCII code. */
const WORD = 1; // [A-Za-z0-9_]
const WORD_DASH = 2; // [A-Za-z0-9_-]
const ALNUM = 4; // [A-Za-z0-9]
const UPPER_DIGIT = 8; // [0-9A-Z]
const BASE64 = 16; // [A-Za-z0-9+/=]
const TOKEN = 32; // [A-Za-z0-9._~+/-]
const ALNUM_DASH = 64; // [A-Za-z0-9-]

const classes = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  const ch = String.fromCharCode(c);
  const alnum = /[A-Za-z0-9]/.test(ch);
  classes[c] =
    (alnum || ch === "_" ? WORD : 0) |
    (alnum || ch === "_" || ch === "-" ? WORD_DASH : 0) |
    (alnum ? ALNUM : 0) |
    (/[0-9A-Z]/.test(ch) ? UPPER_DIGIT : 0) |
    (alnum || ch === "+" || ch === "/" || ch === "=" ? BASE64 : 0) |
    (alnum || "._~+/-".includes(ch) ? TOKEN : 0) |
    (alnum || ch === "-" ? ALNUM_DASH : 0);
}

/**
 * The character code at `i`, -1 outside the text. The reads below go through it where they may
 * fall outside: one read past the end, once seen, leaves V8 calling the charCodeAt builtin at that
 * site for every read (round 11 measured 18 % of the seek's instructions in those calls).
 */
function code(text: string, i: number): number {
  return i >= 0 && i < text.length ? text.charCodeAt(i) : -1;
}

/** Whether the character at `i` is in `cls` (false outside the text and beyond ASCII). */
function is(text: string, i: number, cls: number): boolean {
  const c = code(text, i);
  return c >= 0 && c < 128 && (classes[c]! & cls) !== 0;
}

/** Length of the run of `cls` characters from `i`, counted up to `cap` (a longer run reads as cap). */
function runOf(text: string, i: number, cls: number, cap: number): number {
  let j = i;
  const stop = Math.min(text.length, i + cap);
  while (j < stop) {
    const c = text.charCodeAt(j);
    if (c >= 128 || (classes[c]! & cls) === 0) break;
    j++;
  }
  return j - i;
}

/** The character codes of `s`, for litAt. */
function codesOf(s: string): Uint8Array {
  return Uint8Array.from(s, (ch) => ch.charCodeAt(0));
}

/**
 * Whether the ASCII literal `lit` (its codes) stands at i: text.startsWith, read by hand. V8's
 * optimising compiler inlines startsWith only for a literal of at most three characters
 * (JSCallReducer's kMaxInlineMatchSequence); on PEM header lines (`PRIVATE KEY-----`, `BEGIN `
 * twice a line) the calls for the longer ones took a sixth of the secrets' scan (CPU profile).
 */
function litAt(text: string, i: number, lit: Uint8Array): boolean {
  const n = lit.length;
  if (i < 0 || i + n > text.length) return false;
  for (let k = 0; k < n; k++) if (text.charCodeAt(i + k) !== lit[k]) return false;
  return true;
}

/** A JWT's first part must decode to a JSON object header naming `alg` or `typ`. */
export function jwtHeaderValid(text: string, start: number, end: number): number {
  const dot = text.indexOf(".", start);
  const json = Buffer.from(text.slice(start, dot), "base64url").toString("utf8");
  // Not JSON (some other base64 that happens to start with eyJ): refused without JSON.parse's throw.
  if (!isJsonText(json)) return -1;
  try {
    const header: unknown = JSON.parse(json);
    if (header !== null && typeof header === "object" && ("alg" in header || "typ" in header)) return end;
  } catch {
    // isJsonText and JSON.parse disagree (the tests say they do not): not JSON.
  }
  return -1;
}

/** `s(?<![\w-]s)k-[A-Za-z0-9_-]{20,200}(?![\w-])` at s (the dash at s + 2): its end, or -1. */
function skAt(text: string, s: number): number {
  if (text.charCodeAt(s) !== 115 || text.charCodeAt(s + 1) !== 107 || is(text, s - 1, WORD_DASH)) return -1;
  // Greedy up to 200, then the look-ahead: only a maximal run of 20 to 200 is followed by no [\w-].
  const r = runOf(text, s + 3, WORD_DASH, 201);
  return r >= 20 && r <= 200 ? s + 3 + r : -1;
}

/** `x(?<![\w-]x)ox[abposr]-[A-Za-z0-9-]{10,250}` at s (the dash at s + 4). */
function slackAt(text: string, s: number): number {
  if (text.charCodeAt(s) !== 120 || text.charCodeAt(s + 1) !== 111 || text.charCodeAt(s + 2) !== 120) return -1;
  if (!"abposr".includes(text[s + 3] ?? "") || is(text, s - 1, WORD_DASH)) return -1;
  // No look-ahead: greedy, capped at 250.
  const r = runOf(text, s + 5, ALNUM_DASH, 250);
  return r >= 10 ? s + 5 + r : -1;
}

/** `[srp](?<!\w[srp])k_(?:live|test)_[A-Za-z0-9]{16,99}(?![\w])` at s (the first `_` at s + 2). */
function stripeAt(text: string, s: number): number {
  const c = text.charCodeAt(s);
  if ((c !== 115 && c !== 114 && c !== 112) || text.charCodeAt(s + 1) !== 107 || text.charCodeAt(s + 2) !== 95 || is(text, s - 1, WORD)) return -1;
  if (!(text.startsWith("live_", s + 3) || text.startsWith("test_", s + 3))) return -1;
  // The run stops at a non-alphanumeric; the look-ahead then refuses `_` (and any shorter take an alphanumeric).
  const r = runOf(text, s + 8, ALNUM, 100);
  return r >= 16 && r <= 99 && text.charCodeAt(s + 8 + r) !== 95 ? s + 8 + r : -1;
}

/** `g(?<!\wg)(?:h[pousr]_[A-Za-z0-9]{36,251}|ithub_pat_[A-Za-z0-9_]{22,244})(?![\w])` at s. */
function githubAt(text: string, s: number): number {
  if (text.charCodeAt(s) !== 103 || is(text, s - 1, WORD)) return -1;
  if (text.charCodeAt(s + 1) === 104) {
    if (!"pousr".includes(text[s + 2] ?? "") || text.charCodeAt(s + 3) !== 95) return -1;
    const r = runOf(text, s + 4, ALNUM, 252);
    return r >= 36 && r <= 251 && text.charCodeAt(s + 4 + r) !== 95 ? s + 4 + r : -1;
  }
  if (!text.startsWith("ithub_pat_", s + 1)) return -1;
  const r = runOf(text, s + 11, WORD, 245);
  return r >= 22 && r <= 244 ? s + 11 + r : -1;
}

const AWS_CODES = new Set(["KIA", "SIA", "GPA", "IDA", "ROA", "NPA", "NVA", "IPA"]);

/** `A(?<![A-Za-z0-9]A)(?:KIA|…|IPA)[0-9A-Z]{16}(?![A-Za-z0-9])` at s. */
function awsAt(text: string, s: number): number {
  if (is(text, s - 1, ALNUM)) return -1;
  const k = text.charCodeAt(s + 1);
  // K S G I R N: the codes' first letters, checked before the set is asked.
  if (k !== 75 && k !== 83 && k !== 71 && k !== 73 && k !== 82 && k !== 78) return -1;
  if (runOf(text, s + 4, UPPER_DIGIT, 16) !== 16 || is(text, s + 20, ALNUM)) return -1;
  return AWS_CODES.has(text.slice(s + 1, s + 4)) ? s + 20 : -1;
}

/** `A(?<![\w-]A)Iza[0-9A-Za-z_-]{35}(?![\w-])` at s. */
function googleAt(text: string, s: number): number {
  if (text.charCodeAt(s + 1) !== 73 || text.charCodeAt(s + 2) !== 122 || text.charCodeAt(s + 3) !== 97 || is(text, s - 1, WORD_DASH)) return -1;
  return runOf(text, s + 4, WORD_DASH, 35) === 35 && !is(text, s + 39, WORD_DASH) ? s + 39 : -1;
}

/** `[Bb]earer [A-Za-z0-9._~+/-]{16,4096}={0,3}` at s (no look-behind, no look-ahead: greedy). */
function bearerAt(text: string, s: number): number {
  if (!text.startsWith("earer ", s + 1)) return -1;
  const r = runOf(text, s + 7, TOKEN, 4096);
  if (r < 16) return -1;
  let e = s + 7 + r;
  for (let k = 0; k < 3 && text.charCodeAt(e) === 61; k++) e++;
  return e;
}

/**
 * `e(?<![\w-]e)yJ[A-Za-z0-9_-]{8,1024}\.[A-Za-z0-9_-]{2,4096}\.[A-Za-z0-9_-]{0,1024}(?![\w-])` at s:
 * its end or -1 (the validator is asked apart). `.` is outside the class, so each dot must end a
 * maximal run, and the last run must be whole (a longer one leaves a [\w-] after every take).
 */
function jwtAt(text: string, s: number): number {
  if (text.charCodeAt(s) !== 101 || text.charCodeAt(s + 1) !== 121 || is(text, s - 1, WORD_DASH)) return -1;
  const r1 = runOf(text, s + 3, WORD_DASH, 1025);
  const d1 = s + 3 + r1;
  if (r1 < 8 || r1 > 1024 || text.charCodeAt(d1) !== 46) return -1;
  const r2 = runOf(text, d1 + 1, WORD_DASH, 4097);
  const d2 = d1 + 1 + r2;
  if (r2 < 2 || r2 > 4096 || text.charCodeAt(d2) !== 46) return -1;
  const r3 = runOf(text, d2 + 1, WORD_DASH, 1025);
  return r3 > 1024 ? -1 : d2 + 1 + r3;
}

/** Base64url digit values by ASCII code (the JWT's first part is all [A-Za-z0-9_-]). */
const B64_VALUE = new Uint8Array(128);
for (let v = 0; v < 64; v++) B64_VALUE["ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".charCodeAt(v)] = v;

/**
 * jwtHeaderValid, whose JSON.parse of a header that is not JSON costs a thrown exception (some
 * 50 k instructions): a JSON object's text ends with `}` and then JSON whitespace only, so when
 * the last byte the first part decodes to is neither, the answer is -1 without decoding it.
 * Base64 puts a byte's last bits in its last digit; a lone digit after whole groups of four is
 * dropped by the decoder (test/policy/secret-equivalence.test.ts holds this to Buffer's decoding).
 */
export function jwtDecided(text: string, s: number, end: number): number {
  const dot = text.indexOf(".", s);
  let n = dot - s;
  if (n % 4 === 1) n--;
  const e = s + n;
  let last: number;
  if (n % 4 === 0) last = ((B64_VALUE[text.charCodeAt(e - 2)]! & 3) << 6) | B64_VALUE[text.charCodeAt(e - 1)]!;
  else if (n % 4 === 3) last = ((B64_VALUE[text.charCodeAt(e - 2)]! & 15) << 4) | (B64_VALUE[text.charCodeAt(e - 1)]! >> 2);
  else last = (B64_VALUE[text.charCodeAt(e - 2)]! << 2) | (B64_VALUE[text.charCodeAt(e - 1)]! >> 4);
  last &= 255;
  if (last !== 125 && last !== 32 && last !== 9 && last !== 10 && last !== 13) return -1;
  return jwtHeaderValid(text, s, end);
}

const BEGIN_ = codesOf("BEGIN ");
const END_ = codesOf("END ");
const PRIVATE_KEY = codesOf("PRIVATE KEY-----");

/**
 * The end of `(?:[A-Z0-9]{1,16} ){0,3}PRIVATE KEY-----` at i, or -1. The label's characters are
 * [A-Z0-9 ] and a `-` follows it, so it is the maximal run of those: one parse, no choice.
 */
function labelEnd(text: string, i: number): number {
  let j = i;
  let words = 0;
  // Words of 1 to 16 [A-Z0-9], each followed by one space, then PRIVATE KEY; at most 3 before it.
  for (;;) {
    if (litAt(text, j, PRIVATE_KEY)) return j + 16;
    if (words === 3) return -1;
    const w = runOf(text, j, UPPER_DIGIT, 17);
    if (w === 0 || w > 16 || text.charCodeAt(j + w) !== 32) return -1;
    j += w + 1;
    words++;
  }
}

/** Characters the PEM block's lazy body may take before its END line. */
const PEM_BODY = 16384;

/**
 * `-----BEGIN L-----(?:[^-]|-(?!----BEGIN )){0,16384}?-----END L-----` with the header ending at h:
 * the end of the first END line the lazy body reaches, or -1. Only a `-` can start the END line or
 * stop the body (one followed by `----BEGIN `), and in a run of dashes only the fifth-last can do
 * either: the runs are passed over whole.
 */
function pemBlockEnd(text: string, h: number): number {
  let i = h;
  for (;;) {
    const d = text.indexOf("-", i);
    if (d === -1) return -1;
    let e = d + 1;
    while (text.charCodeAt(e) === 45) e++;
    const j = e - 5;
    if (j >= d) {
      // The body has taken j - h characters when the END line is tried at j.
      if (j - h > PEM_BODY) return -1;
      if (litAt(text, e, END_)) {
        const end = labelEnd(text, e + 4);
        if (end !== -1) return end;
      } else if (litAt(text, e, BEGIN_)) return -1;
    } else if (e - h > PEM_BODY) return -1;
    i = e;
  }
}

/** `(?:\r?\n[A-Za-z0-9+/=]{1,100}){0,200}` from h, greedy with nothing after it: where it stops. */
function pemLinesEnd(text: string, h: number): number {
  let q = h;
  for (let k = 0; k < 200; k++) {
    let b = q;
    if (text.charCodeAt(b) === 13) b++;
    if (text.charCodeAt(b) !== 10) break;
    const r = runOf(text, b + 1, BASE64, 100);
    if (r === 0) break;
    q = b + 1 + r;
  }
  return q;
}

/** What the seek decided at its last candidate (Recogniser.decided). */
let memoText: string | undefined;
let memoStart = -1;
/** The recogniser that matched there and its end; for a PEM block, the header's own end too. */
let memoRec = -1;
let memoEnd = -1;
let memoHeaderEnd = -1;

/** Records the decision at s for recogniser `rec` (with `headerEnd` for a PEM start). */
function remember(text: string, s: number, rec: number, end: number, headerEnd = -1): void {
  memoText = text;
  memoStart = s;
  memoRec = rec;
  memoEnd = end;
  memoHeaderEnd = headerEnd;
}

/** Recogniser.forget for every secret recogniser: the scanned text is let go as the scan ends. */
export function forgetSecret(): void {
  memoText = undefined;
  denseScan = undefined;
  nearScan = undefined;
  memoStart = -1;
}

/** Recogniser.decided of the secret recogniser `rec` (its index in secret.ts). */
export function secretDecided(rec: number): (text: string, start: number) => number | undefined {
  return (text, start) => {
    if (start !== memoStart || text !== memoText) return undefined;
    if (rec === memoRec) return memoEnd;
    return rec === PEM_HEADER && memoRec === PEM_BLOCK ? memoHeaderEnd : -1;
  };
}

/**
 * Decides a PEM start at s (`-----BEGIN ` there): remembers it and returns s, or -1. The header
 * pattern takes the header alone, so every whole header is a finding; the block is longer when
 * it matches (its END line lies past every base64 line the header pattern takes).
 */
function pemAt(text: string, s: number): number {
  const h = labelEnd(text, s + 11);
  if (h === -1) return -1;
  const block = pemBlockEnd(text, h);
  const lines = pemLinesEnd(text, h);
  if (block !== -1) remember(text, s, PEM_BLOCK, block, lines);
  else remember(text, s, PEM_HEADER, lines);
  return s;
}

/** The leftmost secret starting from anchor a at or after `from`, below `below`, decided and remembered: its start or -1. */
function secretAt(text: string, a: number, from: number, below: number): number {
  const c = text.charCodeAt(a);
  let s: number;
  let end: number;
  switch (c) {
    case 45: {
      // `sk-` and `xox?-` at a dash after their letters; a PEM header at the fifth-last dash of a run.
      const p = text.charCodeAt(a - 1);
      if (p === 107 && (s = a - 2) >= from && s < below && (end = skAt(text, s)) !== -1) {
        remember(text, s, SK, end);
        return s;
      }
      if (p !== 45 && (s = a - 4) >= from && s < below && (end = slackAt(text, s)) !== -1) {
        remember(text, s, SLACK, end);
        return s;
      }
      let e = a + 1;
      while (text.charCodeAt(e) === 45) e++;
      if ((s = e - 5) >= a && s >= from && s < below && litAt(text, e, BEGIN_)) return pemAt(text, s);
      return -1;
    }
    case 95: {
      // `[srp]k_`, `gh[pousr]_`, `github_`.
      const p = text.charCodeAt(a - 1);
      if (p === 107) {
        if ((s = a - 2) >= from && s < below && (end = stripeAt(text, s)) !== -1) {
          remember(text, s, STRIPE, end);
          return s;
        }
      } else if (p === 98) {
        // `github_` (its first `_`)
        if ((s = a - 6) >= from && s < below && text.charCodeAt(s + 1) === 105 && (end = githubAt(text, s)) !== -1) {
          remember(text, s, GITHUB, end);
          return s;
        }
      } else if (text.charCodeAt(a - 2) === 104 && (s = a - 3) >= from && s < below && (end = githubAt(text, s)) !== -1) {
        remember(text, s, GITHUB, end);
        return s;
      }
      return -1;
    }
    case 74:
      // `eyJ`
      if (text.charCodeAt(a - 1) === 121 && (s = a - 2) >= from && s < below && (end = jwtAt(text, s)) !== -1) {
        const valid = jwtDecided(text, s, end);
        // A match the validator refuses is reported (decided: -1) only when it ends past a growing
        // text's horizon (its length less RIGHT_CONTEXT, Scanner.scanUntil), where the scanner
        // stops whatever the validator says. Elsewhere it decides nothing, and reporting it cost
        // the scanner a pass of its loop and every bounded seek a stop there (a JWT-shaped run of
        // random base64 every 26 characters: 4.2x prose through the full set, 2.9x without).
        if (valid === -1 && end + RIGHT_CONTEXT <= text.length) return -1;
        remember(text, s, JWT, valid);
        return s;
      }
      return -1;
    case 65:
      if (a < from || a >= below) return -1;
      if ((end = awsAt(text, a)) !== -1) {
        remember(text, a, AWS, end);
        return a;
      }
      if ((end = googleAt(text, a)) !== -1) {
        remember(text, a, GOOGLE, end);
        return a;
      }
      return -1;
    case 66:
    case 98:
      if (a >= from && a < below && (end = bearerAt(text, a)) !== -1) {
        remember(text, a, c === 66 ? BEARER : BEARER_LOWER, end);
        return a;
      }
      return -1;
    default:
      return -1;
  }
}

/** The anchor characters by ASCII code: `-`, `_`, `J`, `A`, `B` and the `b` of `bearer`. */
const ANCHOR = new Uint8Array(128);
for (const ch of "-_JABb") ANCHOR[ch.charCodeAt(0)] = 1;

/**
 * Whether a secret may be anchored at i, where c (an anchor character) stands: the neighbours
 * that every pattern secretAt tries from c needs, read first. In random base64 (a JWT's parts, a
 * key's body) one character in thirteen is an anchor and a call of secretAt each cost more than
 * the rest of the seek; these reads pass all but a few in a thousand. False only where secretAt
 * finds nothing, whatever its `from` and `below`.
 */
function anchored(text: string, i: number, c: number): boolean {
  switch (c) {
    case 45: {
      // `sk-` (k before), `xox?-` (x two before), a run of dashes (one after: a PEM line).
      const p = code(text, i - 1);
      return p === 107 || code(text, i - 2) === 120 || code(text, i + 1) === 45;
    }
    case 95: {
      // `[srp]k_`, `github_` (b before), `gh?_` (h two before).
      const p = code(text, i - 1);
      return p === 107 || p === 98 || code(text, i - 2) === 104;
    }
    case 74:
      // `eyJ`
      return code(text, i - 1) === 121;
    case 65: {
      // `A(KIA|SIA|GPA|IDA|ROA|NPA|NVA|IPA)` and `AIza`, after no letter or digit.
      const n = code(text, i + 1);
      return (n === 75 || n === 83 || n === 71 || n === 73 || n === 82 || n === 78) && !is(text, i - 1, ALNUM);
    }
    case 66:
      return code(text, i + 1) === 101;
    default:
      return text.startsWith("bearer", i);
  }
}

/**
 * Whether the character at i may anchor a secret that starts before it: `sk-`, `xox?-` (their
 * dash), the `_` of `[srp]k_`, `gh?_` and `github_`, the `J` of `eyJ`. The others (a PEM line, an
 * AWS or Google key, a bearer token) start at or after their anchor, so never before a secret
 * already found to its left.
 */
function anchorsBack(text: string, i: number): boolean {
  const c = code(text, i);
  if (c === 45) return code(text, i - 1) === 107 || code(text, i - 2) === 120;
  if (c === 95) return anchored(text, i, c);
  return c === 74 && code(text, i - 1) === 121;
}

const anchorChars = new NextOf(["-", "_", "J", "A", "B", "bearer"]);

/**
 * The anchors secretAt may find a secret at, with the neighbours each pattern needs there (tighter
 * than `anchored`): `sk-`, `xox?-`, a dash before `----BEGIN ` and a label (a PEM line),
 * `[srp]k_`, `gh?_`, `github_`, `eyJ`, `A` of an AWS key or a Google key, `[Bb]earer ` and 16
 * token characters. Each alternative takes its anchor alone, so the anchor is just before
 * lastIndex, and starts with it (a look-behind first would cost irregexp its scan for the first
 * character: some 150 instructions a character on prose). The anchors whose pattern is a literal
 * and a run of fixed bounds (the PEM header, AWS, Google, bearer) carry that pattern whole in a
 * look-ahead (look-behind after it): a near-miss (`AKIA12 `, `-----BEGIN ` with a bad label,
 * `Bearer x `) is then passed over inside the regex, not returned to JS for secretAt to refuse
 * (the seek alone, callgrind: `AKIA12 ` repeated 134 -> 54 instructions a byte, `Bearer x ` 118
 * -> 21). The PEM label is read lazily there, a superset of the pattern's (which backtracks over
 * `PRIVATE` as a label word: 17 more instructions a byte on PEM lines). A look-ahead may be
 * looser than its pattern, never tighter.
 */
const anchorRe =
  /-(?<=sk-|xox[abposr]-)|-(?=----BEGIN [A-Z0-9 ]{0,51}?PRIVATE KEY-----)|_(?<=[srp]k_|gh[pousr]_|github_)|J(?<=eyJ)|A(?=(?:KIA|SIA|GPA|IDA|ROA|NPA|NVA|IPA)[0-9A-Z]{16}(?![A-Za-z0-9]))(?<![A-Za-z0-9]A)|A(?=Iza[0-9A-Za-z_-]{35}(?![\w-]))(?<![\w-]A)|[Bb](?=earer [A-Za-z0-9._~+/-]{16})/g;

/** The scan (Recogniser.seek's `scan`) whose text reads dense with anchor characters: nextAnchor reads it with anchorRe. */
let denseScan: object | undefined;
/** The scan whose anchor characters nextAnchor is counting, and how many in a row came within 16 characters of the last. */
let nearScan: object | undefined;
let near = 0;

/**
 * The next anchor at or after `from` that may anchor a secret (anchored). Where anchor characters
 * are sparse (prose), from the indexOf searches (memchr, each string's next place remembered: a
 * pass over the text per string). Where they come one after another and fail (random base64, a
 * JWT's parts or a key's body: one character in thirteen is `-`, `_`, `J`, `A` or `B`), a call
 * and a look-up each cost more than the text between them: there, and for the rest of the scan
 * until they thin out, anchorRe, whose compiled character tests and neighbour reads run without
 * a call back to JS (a JS loop's charCodeAt dispatches on the string's representation at every
 * read; the regex is compiled per representation), but read every character (some 10
 * instructions a character of prose, where memchr reads about one).
 */
function nextAnchor(text: string, from: number, scan: object): number {
  if (scan === denseScan) {
    anchorRe.lastIndex = from;
    if (!anchorRe.test(text)) return -1;
    const a = anchorRe.lastIndex - 1;
    if (a - from > 256) denseScan = undefined;
    return a;
  }
  if (scan !== nearScan) {
    nearScan = scan;
    near = 0;
  }
  for (let i = from; ; ) {
    const a = anchorChars.next(text, i, scan);
    if (a === -1) return -1;
    if (a - i >= 16) near = 0;
    else if (++near === 4) {
      denseScan = scan;
      return nextAnchor(text, a, scan);
    }
    if (anchored(text, a, text.charCodeAt(a))) return a;
    i = a + 1;
  }
}

/** How far before its anchor a secret may start (`github_` at its `_`). */
const MAX_BACK = 6;

/**
 * Leftmost position at or after `from` where a secret pattern matches (its validator agreeing), or
 * -1; what matched there is remembered for Recogniser.decided.
 */
export function seekSecret(text: string, from: number, scan: object = {}): number {
  for (let a = nextAnchor(text, from, scan); a !== -1; ) {
    const s = secretAt(text, a, from, Infinity);
    if (s === -1) {
      // A run of dashes is passed over whole: only its first dash and its fifth-last anchor anything.
      let e = a + 1;
      if (text.charCodeAt(a) === 45) while (text.charCodeAt(e) === 45) e++;
      a = nextAnchor(text, e, scan);
      continue;
    }
    // A secret anchored a little later may start earlier (`github_` is found at its `_`), but only
    // before one that starts before its own anchor: one that starts at its anchor or after it (a
    // PEM line, an AWS, Google or bearer key) begins with `-`, `A`, `B` or `b`, and no literal of
    // anchorsBack's secrets holds one of these before its anchor where such a secret could begin
    // (the `b` of `xoxb-` and `github_` is followed by `-` or `_`, bearer's by `e`); inside a run
    // of dashes only another PEM line could start, and not before. On PEM header lines the look
    // at the six characters after each was some 20 instructions a byte.
    if (s >= a) return s;
    let best = s;
    let rec = memoRec;
    let end = memoEnd;
    let headerEnd = memoHeaderEnd;
    const stop = Math.min(text.length, a + MAX_BACK + 1);
    for (let k = a + 1; k < stop; k++) {
      if (!anchorsBack(text, k)) continue;
      const t = secretAt(text, k, from, best);
      if (t !== -1) {
        best = t;
        rec = memoRec;
        end = memoEnd;
        headerEnd = memoHeaderEnd;
      }
    }
    remember(text, best, rec, end, headerEnd);
    return best;
  }
  return -1;
}

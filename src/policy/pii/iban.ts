import type { Recogniser } from "../scan/index.js";
import { digitLedKinds, K_LETTER, K_LETTER2, seekDigitLed } from "./candidates.js";
import { codeAt, isAlnum, isDigit } from "./chars.js";

/** IBAN length per country (ISO 13616 registry). A country not listed is not an IBAN. */
export const ibanLengths: Readonly<Record<string, number>> = {
  AD: 24, AE: 23, AL: 28, AT: 20, AZ: 28, BA: 20, BE: 16, BG: 22, BH: 22, BI: 27, BR: 29, BY: 28,
  CH: 21, CR: 22, CY: 28, CZ: 24, DE: 22, DJ: 27, DK: 18, DO: 28, EE: 20, EG: 29, ES: 24, FI: 18,
  FK: 18, FO: 18, FR: 27, GB: 22, GE: 22, GI: 23, GL: 18, GR: 27, GT: 28, HR: 21, HU: 28, IE: 22,
  IL: 23, IQ: 23, IS: 26, IT: 27, JO: 30, KW: 30, KZ: 20, LB: 28, LC: 32, LI: 21, LT: 20, LU: 20,
  LV: 21, LY: 25, MC: 27, MD: 24, ME: 22, MK: 19, MN: 20, MR: 27, MT: 31, MU: 30, NI: 28, NL: 18,
  NO: 15, OM: 23, PK: 24, PL: 28, PS: 29, PT: 25, QA: 29, RO: 24, RS: 22, RU: 33, SA: 24, SC: 31,
  SD: 18, SE: 24, SI: 19, SK: 24, SM: 27, SO: 23, ST: 25, SV: 28, TL: 23, TN: 24, TR: 26, UA: 29,
  VA: 22, VG: 24, XK: 20, YE: 30,
};

/** ISO 7064 mod 97-10 over the rearranged IBAN, computed in chunks to stay within doubles. */
export function ibanChecksumValid(iban: string): boolean {
  const s = iban.slice(4) + iban.slice(0, 4);
  let rem = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) rem = (rem * 10 + (c - 48)) % 97;
    else if (c >= 65 && c <= 90) rem = (rem * 100 + (c - 55)) % 97;
    else return false;
  }
  return rem === 1;
}

/** IBAN length by the two letters' codes (either case), 0 when the country has none. */
const lengthTable = new Uint8Array(26 * 26);
for (const [cc, n] of Object.entries(ibanLengths)) lengthTable[(cc.charCodeAt(0) - 65) * 26 + (cc.charCodeAt(1) - 65)] = n;

function lengthOf(a: number, b: number): number {
  // Upper-case ASCII letters (the pattern admits only letters here).
  a &= ~32;
  b &= ~32;
  if (a < 65 || a > 90 || b < 65 || b > 90) return 0;
  return lengthTable[(a - 65) * 26 + (b - 65)]!;
}

export function isValidIban(compact: string): boolean {
  const len = ibanLengths[compact.slice(0, 2)];
  return len !== undefined && compact.length === len && ibanChecksumValid(compact);
}

/** A character's value in mod 97-10 by code below 128: a digit, a letter of either case as 10-35, SEP for a space or dash, -1 for anything else. */
const SEP = -2;
const values = new Int8Array(128).fill(-1);
for (let c = 48; c <= 57; c++) values[c] = c - 48;
for (let c = 65; c <= 90; c++) values[c] = values[c + 32] = c - 55;
values[32] = values[45] = SEP;

/** A character's value in mod 97-10 (see `values`). */
function valueOf(c: number): number {
  return c < 128 ? values[c]! : -1;
}

/** Whether a character (codeAt's: -1 outside the text) is a letter or digit, one of a run. */
function inRun(c: number): boolean {
  return c >= 0 && c < 128 && values[c]! >= 0;
}

/** v followed by the value x (one or two decimal digits). */
function append(v: number, x: number): number {
  return x < 10 ? v * 10 + x : v * 100 + x;
}

/**
 * The IBAN check from `start`: the country's number of characters, read skipping spaces and
 * dashes before `limit`, must pass mod 97-10. The offset after the last one read, or -1.
 */
function checksumEnd(text: string, start: number, limit: number): number {
  // The same decision as building the compact string and checking it, without building it: a
  // text of near-misses (`GB00 ` repeated) is a candidate every five characters. The number is
  // reduced mod 97 only when it passes 10^7 (it stays a small integer): the remainder is the same.
  const len = lengthOf(text.charCodeAt(start), text.charCodeAt(start + 1));
  if (len === 0) return -1;
  // The first four characters (country, check digits) go last; where they stand together (as
  // the pattern has them) they are read once, outside the loop.
  if (start + 4 > limit) return -1;
  const h0 = valueOf(text.charCodeAt(start));
  const h1 = valueOf(text.charCodeAt(start + 1));
  const h2 = valueOf(text.charCodeAt(start + 2));
  const h3 = valueOf(text.charCodeAt(start + 3));
  if (h0 < 0 || h1 < 0 || h2 < 0 || h3 < 0) return h0 === -1 || h1 === -1 || h2 === -1 || h3 === -1 ? -1 : checksumEndSpaced(text, start, limit, len);
  let count = 4;
  let i = start + 4;
  let v = 0;
  while (i < limit && count < len) {
    const c = text.charCodeAt(i++);
    const x = c < 128 ? values[c]! : -1;
    if (x === SEP) continue;
    if (x < 0) return -1;
    // Kept a 32-bit integer (below 10^9), so the remainder is an integer one, not fmod.
    v = (x < 10 ? v * 10 + x : v * 100 + x) | 0;
    if (v >= 10_000_000) v = v % 97 | 0;
    count++;
  }
  if (count !== len) return -1;
  // ISO 7064 mod 97-10 over the rearranged IBAN: the first four characters go last.
  v = append(append(append(append(v % 97, h0), h1), h2), h3) % 97;
  return v === 1 ? i : -1;
}

/** checksumEnd where a space or dash stands among the first four characters (the pattern has none there). */
function checksumEndSpaced(text: string, start: number, limit: number, len: number): number {
  let count = 0;
  let i = start;
  let v = 0;
  let h0 = 0;
  let h1 = 0;
  let h2 = 0;
  let h3 = 0;
  while (i < limit && count < len) {
    const c = text.charCodeAt(i);
    const x = valueOf(c);
    if (x !== SEP) {
      if (x < 0) return -1;
      if (count === 0) h0 = x;
      else if (count === 1) h1 = x;
      else if (count === 2) h2 = x;
      else if (count === 3) h3 = x;
      else {
        v = (x < 10 ? v * 10 + x : v * 100 + x) | 0;
        if (v >= 10_000_000) v = v % 97 | 0;
      }
      count++;
    }
    i++;
  }
  if (count !== len) return -1;
  v = append(append(append(append(v % 97, h0), h1), h2), h3) % 97;
  return v === 1 ? i : -1;
}

/**
 * Where the runs of letters and digits end in the stretch of text the precheck last walked (its
 * letters, digits, spaces and dashes), kept while the scan asks about later candidates of the same
 * stretch. An IBAN's last character must end such a run (the validator refuses one that stops inside
 * a run), so a candidate is checked only where some run ends exactly the country's length of letters
 * and digits after it. Candidates that overlap (`GB00 GB00 …`, every five characters, or any text of
 * spaced groups) share one walk of the stretch instead of each reading some 25 characters with the
 * checksum's arithmetic: a near-miss costs the characters of its own group and a look at the run ends
 * ahead. Not a memo of decisions: whatever the text, each candidate is decided from the runs after it.
 */
const RUNS = 64;
/** Ring of run ends (the offset after a run's last character) and the letters and digits counted up to each, from the stretch's start. */
const runEnd = new Int32Array(RUNS);
const runCount = new Int32Array(RUNS);
/** The text walked (undefined: none). */
let runText: string | undefined;
/**
 * The walk, by W_ index: where its stretch starts; the last candidate asked about; the walk's
 * position (at a run's end, a separator, or the stretch's end) and the letters and digits counted
 * there; 1 once the stretch has ended; ring indices of the first run end after the last candidate
 * and one past the last recorded; the count at that candidate (the run end before it).
 */
const walk = new Int32Array(8);
const W_STRETCH = 0;
const W_ASKED = 1;
const W_AT = 2;
const W_COUNT = 3;
const W_DONE = 4;
const W_HEAD = 5;
const W_TAIL = 6;
const W_AT_HEAD = 7;

/** lengthEndsRun's answers: the validator would refuse; unknown (the checksum is still to run); the checksum passed, ending where the walk did. */
const NO = 0;
const UNSURE = 1;
const VALID = 2;

/**
 * Whether, from the candidate `start` (a run's first character, as the precheck has it), the
 * `len`-th letter or digit, counted across single or repeated spaces and dashes and before any other
 * character, is the last of its run: NO where the validator would refuse whatever the checksum.
 * A candidate that starts a stretch of its own (no earlier one walked it) also gets the checksum,
 * folded into the same walk, so a lone IBAN's characters are read once, as before: VALID (it ends
 * at the walk's position, `walk[W_AT]`) or NO.
 */
function lengthEndsRun(text: string, start: number, len: number): number {
  // The state is read into locals and written back once: module variables in the loops cost V8 a
  // context load and store per character.
  let walkAt = walk[W_AT]!;
  let head = walk[W_HEAD]!;
  let tail = walk[W_TAIL]!;
  let count = walk[W_COUNT]!;
  let atHead = walk[W_AT_HEAD]!;
  let done = walk[W_DONE]!;
  let fresh = false;
  if (text !== runText || start < walk[W_ASKED]! || start > walkAt || start < walk[W_STRETCH]!) {
    // Another text, a step back, or a candidate past the stretch walked: a new stretch from here.
    runText = text;
    walk[W_STRETCH] = start;
    walkAt = start;
    count = head = tail = atHead = done = 0;
    fresh = true;
  }
  walk[W_ASKED] = start;
  // The letters and digits before the candidate: those of the runs that end at or before it.
  while (head !== tail && runEnd[head & (RUNS - 1)]! <= start) atHead = runCount[head++ & (RUNS - 1)]!;
  const target = atHead + len;
  // The checksum of a fresh candidate: the value of its characters after the first four (reduced
  // mod 97 whenever it passes 10^7, as checksumEnd does: the remainder is the same).
  let v = 0;
  let answer = NO;
  if (fresh) {
    // One character at a time, as checksumEnd reads them, noting each run's end on the way. The
    // first four characters are letters and digits (the precheck has read them).
    let i = start + 4;
    count = 4;
    while (count < target) {
      const c = codeAt(text, i);
      const x = c >= 0 && c < 128 ? values[c]! : -1;
      if (x >= 0) {
        v = (x < 10 ? v * 10 + x : v * 100 + x) | 0;
        if (v >= 10_000_000) v = v % 97 | 0;
        count++;
        i++;
        continue;
      }
      // A run ends before i (the one the first four characters begin, or one after a separator).
      const prev = text.charCodeAt(i - 1);
      if (prev < 128 && values[prev]! >= 0) {
        runEnd[tail & (RUNS - 1)] = i;
        runCount[tail++ & (RUNS - 1)] = count;
      }
      if (x !== SEP) {
        done = 1;
        break;
      }
      i++;
    }
    walkAt = i;
    if (count === target) {
      // The target-th character must end its run.
      if (!inRun(codeAt(text, i))) {
        runEnd[tail & (RUNS - 1)] = i;
        runCount[tail++ & (RUNS - 1)] = count;
        const h =
          append(append(append(append(v % 97, values[text.charCodeAt(start)]!), values[text.charCodeAt(start + 1)]!), values[text.charCodeAt(start + 2)]!), values[text.charCodeAt(start + 3)]!) % 97;
        answer = h === 1 ? VALID : NO;
      } else {
        // Inside a run: finish it, so the walk stands at a run's end.
        let e = i + 1;
        while (inRun(codeAt(text, e))) e++;
        count += e - i;
        walkAt = e;
        runEnd[tail & (RUNS - 1)] = e;
        runCount[tail++ & (RUNS - 1)] = count;
      }
    }
  } else {
    // Walk whole runs until one ends at or past the target (or the stretch does).
    while (count < target && done === 0) {
      const c = codeAt(text, walkAt);
      const x = c >= 0 && c < 128 ? values[c]! : -1;
      if (x >= 0) {
        let e = walkAt + 1;
        while (inRun(codeAt(text, e))) e++;
        // The runs past the head are at most those within len (34) of it and one more; were the
        // ring ever full, the answer is "unsure" and the next candidate starts a new stretch.
        if (tail - head === RUNS) {
          runText = undefined;
          return UNSURE;
        }
        count += e - walkAt;
        walkAt = e;
        runEnd[tail & (RUNS - 1)] = e;
        runCount[tail++ & (RUNS - 1)] = count;
      } else if (x === SEP) walkAt++;
      else done = 1;
    }
    // The run ends' counts rise: look back from the last one walked.
    let k = tail - 1;
    while (k >= head && runCount[k & (RUNS - 1)]! > target) k--;
    if (k >= head && runCount[k & (RUNS - 1)]! === target) answer = UNSURE;
  }
  walk[W_AT] = walkAt;
  walk[W_HEAD] = head;
  walk[W_TAIL] = tail;
  walk[W_COUNT] = count;
  walk[W_AT_HEAD] = atHead;
  walk[W_DONE] = done;
  return answer;
}

/** Recogniser.forget: the walk's text is let go as a scan ends. */
function forgetRuns(): void {
  runText = undefined;
}

/**
 * The IBAN the precheck last passed (its text, start and the checksum's end): the validator is
 * asked about it next, and answered from here once (then it is forgotten, not to keep the text).
 */
let passed: string | undefined;
let passedAt = -1;
let passedEnd = -1;

export const iban: Recogniser = {
  type: "iban",
  // Any case, compact or in groups of four separated by a space or a dash; the country's length
  // decides where it really ends.
  pattern: String.raw`[A-Za-z](?<![A-Za-z0-9][A-Za-z])[A-Za-z]\d{2}(?:[ -]?[A-Za-z0-9]){11,30}(?![A-Za-z0-9])`,
  maxLength: 4 + 30 * 2,
  seek: seekDigitLed,
  kinds: { of: digitLedKinds, admits: (k) => (k & K_LETTER) !== 0 && (k & K_LETTER2) !== 0 },
  lookbehind: 1,
  // The checksum over the text as it stands (the validator's reads, not bounded by the pattern's
  // end): near-misses fail it without a regex run.
  possible(text, start) {
    if (start > 0 && isAlnum(text.charCodeAt(start - 1))) return false;
    if (!isDigit(codeAt(text, start + 2)) || !isDigit(codeAt(text, start + 3))) return false;
    const len = lengthOf(text.charCodeAt(start), text.charCodeAt(start + 1));
    if (len === 0) return false;
    const runs = lengthEndsRun(text, start, len);
    if (runs === NO) return false;
    const i = runs === VALID ? walk[W_AT]! : checksumEnd(text, start, text.length);
    if (i === -1) return false;
    passed = text;
    passedAt = start;
    passedEnd = i;
    return true;
  },
  // As every scan ends: a precheck whose candidate the pattern then refused (`…5432x`) leaves no
  // text referenced here, nor does the walk of run ends.
  forget() {
    passed = undefined;
    passedAt = -1;
    forgetRuns();
  },
  validate(text, start, end) {
    // Within `end`, the check reads what the precheck read, or stops short of the count.
    let i: number;
    if (start === passedAt && text === passed) {
      i = passedEnd <= end ? passedEnd : -1;
      passed = undefined;
      passedAt = -1;
    } else i = checksumEnd(text, start, end);
    if (i === -1) return -1;
    // Stopped inside a run of characters: the IBAN would continue, so this is something else.
    if (i < end && text.charCodeAt(i) !== 32 && text.charCodeAt(i) !== 45) return -1;
    return i;
  },
};

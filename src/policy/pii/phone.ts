import { getCountryCallingCode, isSupportedCountry, parsePhoneNumberFromString, type CountryCode, type PhoneNumber } from "libphonenumber-js/min";
import type { Recogniser } from "../scan/index.js";
import { after as runThen, digitLedKinds, K_CONTINUES, K_LEAD, runIn, seekDigitLed } from "./candidates.js";
import { codeAt } from "./chars.js";

/**
 * Phone numbers, judged by libphonenumber's metadata (the library Google's libphonenumber ports):
 * every `+CC` number anywhere, and national numbers of the regions the rule names (default US).
 *
 * The regex finds a run of digits with separators and parentheses; the validator asks
 * libphonenumber whether the run — or the longest run of whole digit groups at its start — is a
 * possible number, and then requires the number to be written as people write it: its digits
 * exactly those of the national format (trunk prefix included), grouped along that format's groups
 * or with its area code as the first group. A bare run of digits needs a phone word before it.
 * That is what keeps dates, times, order numbers and ids out. `isPossible` (length) rather than
 * `isValid` (per-range patterns): fictional and newly assigned ranges (`07700 900123`, 555 area
 * codes) are still someone's number to the reader.
 */
export const DEFAULT_PHONE_REGIONS: readonly string[] = ["US"];

const EXT = /[ \t]{0,2}[,;]?[ \t]{0,2}(?:[Ee][Xx][Tt](?:[Ee][Nn][Ss][Ii][Oo][Nn])?\.?|[Xx]|#)[ \t]{0,2}[.:]?[ \t]{0,2}\d{1,6}(?![A-Za-z0-9])/y;
const PHONE_CUE = /(?:phone|\btel\b|\btel\.|call|mobile|\bcell|\bfax|whatsapp|\bsms\b|text me|\bring\b|contact|\bdial|\bhandy|t[ée]l[ée]phone|portable|telefon|\bph\b|\bmob\b)/i;

interface Group {
  /** Offset just past the group's last digit. */
  end: number;
  digits: string;
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/** What may stand between a number and a phone number that continues it: " .-/(". */
function isNumberGap(c: number): boolean {
  return c === 32 || c === 46 || c === 45 || c === 47 || c === 40;
}

/**
 * Whether a number starting at `start` continues a number before it: a digit, then one to three
 * of " .-/(". Except after a list's separator (spaces, ` / `, ` - `) when it is written as a number
 * of its own (`415-555-2671 415-555-2672`, `+1 415 555 2671 / +1 415 555 2672`, `(415) 555-2671
 * (415) 555-2672`, `415 555 2671 415 555 2672`): it opens with `+` or `(`, its first group of at
 * most four digits is closed by `-` or `.`, or it is exactly three, three and four digits apart,
 * or ten digits. Other digits grouped by spaces after
 * a number (`4111 1111 …`, `123 456 7890 123`) still continue it: a list, not a new number.
 */
function continuesNumber(text: string, start: number): boolean {
  let b = start - 1;
  let spaces = true;
  while (b >= 0 && start - b <= 3 && isNumberGap(text.charCodeAt(b))) {
    if (text.charCodeAt(b) !== 32) spaces = false;
    b--;
  }
  if (!(b >= 0 && b < start - 1 && isDigit(text.charCodeAt(b)))) return false;
  // A list's separator: spaces, or ` / ` or ` - ` (a number's own dashes and slashes have no spaces around them).
  const mid = text.charCodeAt(b + 2);
  const listGap = spaces || (start - b === 4 && text.charCodeAt(b + 1) === 32 && (mid === 47 || mid === 45) && text.charCodeAt(b + 3) === 32);
  return !(listGap && opensNumber(text, start));
}

/** `+`, `(`, one to four digits and then `-` or `.` and a digit, or the whole of `ddd ddd dddd` or of ten digits. */
function opensNumber(text: string, start: number): boolean {
  const c = text.charCodeAt(start);
  if (c === 43 || c === 40) return true;
  let i = start;
  while (i < start + 4 && i < text.length && isDigit(text.charCodeAt(i))) i++;
  const s = i < text.length ? text.charCodeAt(i) : 0;
  if (i > start && (s === 45 || s === 46) && i + 1 < text.length && isDigit(text.charCodeAt(i + 1))) return true;
  // A number grouped as the North American one is written (3, 3, 4), and nothing more.
  if (i === start + 3 && s === 32 && digitsAt(text, i + 1, 3) && codeAt(text, i + 4) === 32 && digitsAt(text, i + 5, 4) && !isDigit(codeAt(text, i + 9))) return true;
  // Ten digits and nothing more (a bare number still needs a phone word before it: the validator).
  return digitsAt(text, start, 10) && !isDigit(codeAt(text, start + 10));
}

function digitsAt(text: string, at: number, n: number): boolean {
  for (let k = 0; k < n; k++) if (!isDigit(codeAt(text, at + k))) return false;
  return true;
}

function isAlnum(c: number): boolean {
  return isDigit(c) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
}

function groupsOf(text: string, start: number, end: number): Group[] {
  const out: Group[] = [];
  let i = start;
  while (i < end) {
    const c = text.charCodeAt(i);
    if (!isDigit(c)) {
      i++;
      continue;
    }
    let j = i;
    while (j < end && isDigit(text.charCodeAt(j))) j++;
    out.push({ end: j, digits: text.slice(i, j) });
    i = j;
  }
  return out;
}

/** Digit-group lengths of a formatted number (`(415) 555-2671` → 3,3,4). */
function formatGroups(s: string): number[] {
  const out: number[] = [];
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    if (isDigit(s.charCodeAt(i))) n++;
    else if (n > 0) {
      out.push(n);
      n = 0;
    }
  }
  if (n > 0) out.push(n);
  return out;
}

/** Every boundary between the written groups is a boundary of the format's groups, or the first group is the format's first. */
function groupingFits(written: readonly string[], format: readonly number[]): boolean {
  if (written.length === 1) return true;
  if (written[0]!.length === format[0]) return written.every((g) => g.length >= 2);
  const bounds = new Set<number>();
  let at = 0;
  for (const f of format) bounds.add((at += f));
  at = 0;
  for (let k = 0; k < written.length - 1; k++) if (!bounds.has((at += written[k]!.length))) return false;
  return true;
}

function parse(s: string, region?: string): PhoneNumber | undefined {
  try {
    return parsePhoneNumberFromString(s, region as CountryCode | undefined);
  } catch {
    return undefined;
  }
}

function nanpShapeOk(national: string): boolean {
  // NANP area code and exchange both start 2–9.
  return national.length === 10 && national.charCodeAt(0) >= 50 && national.charCodeAt(3) >= 50;
}

function isNationalNumber(written: readonly string[], digits: string, region: string): boolean {
  const nanp = region === "US" || region === "CA";
  let groups = written;
  let d = digits;
  if (nanp && d.length === 11 && d[0] === "1") {
    // 1-800-555-0199: the trunk 1 in its own group.
    if (groups[0] !== "1" && groups.length > 1) return false;
    groups = groups.length > 1 ? groups.slice(1) : [d.slice(1)];
    d = d.slice(1);
  }
  if (d.length < 6 || d.length > 13) return false;
  if (nanp && !nanpShapeOk(d)) return false;
  // Every ten digits of that shape are a possible NANP number, written (AAA) EEE-NNNN: what
  // libphonenumber says of each (a test holds it to that), without its 50 us parse.
  if (nanp) return groupingFits(groups, NANP_GROUPS);
  const fmt = nationalFormat(d, region);
  return fmt !== undefined && groupingFits(groups, fmt);
}

const NANP_GROUPS: readonly number[] = [3, 3, 4];

/** libphonenumber's verdicts by region and digits: a parse costs some 50 us, and a text repeats its numbers. */
const formats = new Map<string, readonly number[] | null>();

/** The digit groups of `d`'s national format in `region`, or undefined when it is no possible number there. */
function nationalFormat(d: string, region: string): readonly number[] | undefined {
  const key = region + d;
  let f = formats.get(key);
  if (f === undefined) {
    const n = parse(d, region);
    f = null;
    // Under a shared calling code the country may be another one, or unassigned: still a number there.
    if (n && n.isPossible() && n.countryCallingCode === getCountryCallingCode(region as CountryCode)) {
      const fmt = n.formatNational();
      if (fmt.replace(/\D+/g, "") === d) f = formatGroups(fmt);
    }
    if (formats.size >= 4096) formats.clear();
    formats.set(key, f);
  }
  return f ?? undefined;
}

const international = new Map<string, boolean>();

function isInternationalNumber(digits: string): boolean {
  if (digits.length < 8 || digits.length > 15) return false;
  let ok = international.get(digits);
  if (ok === undefined) {
    const n = parse("+" + digits);
    ok = n !== undefined && n.isPossible() && (n.countryCallingCode !== "1" || nanpShapeOk(n.nationalNumber));
    if (international.size >= 4096) international.clear();
    international.set(digits, ok);
  }
  return ok;
}

function hasCue(text: string, start: number): boolean {
  const from = Math.max(0, start - 30);
  let before = text.slice(from, start);
  const nl = before.lastIndexOf("\n");
  if (nl !== -1) before = before.slice(nl + 1);
  return PHONE_CUE.test(before);
}

/** The validator's digit groups (one decision at a time): start, end, digits and parentheses up to each. */
const MAX_GROUPS = 64;
const gStart = new Int32Array(MAX_GROUPS);
const gEnd = new Int32Array(MAX_GROUPS);
const gDigits = new Int32Array(MAX_GROUPS);
const gOpen = new Int32Array(MAX_GROUPS);
const gClose = new Int32Array(MAX_GROUPS);

/** The digits of the first k groups. */
function writtenOf(text: string, k: number): string[] {
  const out: string[] = [];
  for (let j = 0; j < k; j++) out.push(text.slice(gStart[j]!, gEnd[j]!));
  return out;
}

function digitsOf(text: string, k: number): string {
  let d = "";
  for (let j = 0; j < k; j++) d += text.slice(gStart[j]!, gEnd[j]!);
  return d;
}

/** The character code of the m-th digit of the groups. */
function digitAt(text: string, m: number): number {
  for (let j = 0; ; j++) {
    const n = gEnd[j]! - gStart[j]!;
    if (m < n) return text.charCodeAt(gStart[j]! + m);
    m -= n;
  }
}

/** isNationalNumber(first k groups, their digits, "US" or "CA"), read from the groups in place. */
function nanpNational(text: string, k: number): boolean {
  let dl = gDigits[k - 1]!;
  let from = 0;
  let skip = 0;
  if (dl === 11 && digitAt(text, 0) === 49) {
    // 1-800-555-0199: the trunk 1 in its own group.
    if (gEnd[0]! - gStart[0]! !== 1 && k > 1) return false;
    // A single group of eleven is read as one group of the ten after the 1.
    if (k > 1) from = 1;
    skip = 1;
    dl = 10;
  }
  // nanpShapeOk: ten digits, area code and exchange starting 2-9.
  if (dl !== 10 || digitAt(text, skip) < 50 || digitAt(text, skip + 3) < 50) return false;
  // groupingFits(groups, NANP_GROUPS).
  if (k - from === 1) return true;
  if (gEnd[from]! - gStart[from]! === 3) {
    for (let j = from; j < k; j++) if (gEnd[j]! - gStart[j]! < 2) return false;
    return true;
  }
  let at = 0;
  for (let j = from; j < k - 1; j++) {
    at += gEnd[j]! - gStart[j]!;
    if (at !== 3 && at !== 6 && at !== 10) return false;
  }
  return true;
}

/** The validator's decision with strings, for a match of more groups than the arrays hold. */
function slowValidate(text: string, start: number, end: number, plus: boolean, wanted: readonly string[]): number {
  const groups = groupsOf(text, start, end);
  for (let k = groups.length; k >= 1; k--) {
    const g = groups[k - 1]!;
    const after = g.end < text.length ? text.charCodeAt(g.end) : 0;
    if (isAlnum(after) && after !== 120 && after !== 88 && after !== 101 && after !== 69) continue;
    if (k < groups.length) {
      const b = g.end + 1 < text.length ? text.charCodeAt(g.end + 1) : 0;
      if ((after === 45 || after === 46 || after === 47) && isDigit(b)) continue;
    }
    const written = groups.slice(0, k).map((x) => x.digits);
    const digits = written.join("");
    if (digits.length < 7 || digits.length > 17) continue;
    const sub = text.slice(start, g.end);
    if ((sub.match(/\(/g)?.length ?? 0) !== (sub.match(/\)/g)?.length ?? 0)) continue;
    let ok = false;
    if (plus) ok = isInternationalNumber(digits);
    else if (written.length > 1 || hasCue(text, start)) ok = wanted.some((r) => isNationalNumber(written, digits, r));
    if (!ok) continue;
    EXT.lastIndex = g.end;
    return EXT.test(text) ? EXT.lastIndex : after === 120 || after === 88 || after === 101 || after === 69 ? -1 : g.end;
  }
  return -1;
}

export function phoneRecogniser(regions: readonly string[] = DEFAULT_PHONE_REGIONS): Recogniser {
  const wanted = [...new Set(regions.map((r) => r.toUpperCase()))];
  for (const r of wanted) if (!isSupportedCountry(r)) throw new Error(`phone: unknown region '${r}' (use ISO 3166 two-letter codes such as US, GB, DE)`);
  const usOnly = !wanted.some((r) => r !== "US" && r !== "CA");
  return {
    type: "phone",
    // Starts at `+`, `(` or a digit not continuing a number; then digits, spaces, dots, dashes,
    // slashes and parentheses, ending on a digit; maybe an extension.
    pattern:
      String.raw`[+(\d](?<![A-Za-z0-9+][+(\d])(?:(?<!\d[ .\-/(]{1,3}[+(\d])|(?<=\d(?: {1,3}| [\/\-] )[+(\d])(?:(?<=[+(])|(?=\d{0,3}[.\-]\d|\d{2} \d{3} \d{4}(?!\d)|\d{9}(?!\d))))` +
      String.raw`[\d ().\-/]{5,24}\d` +
      String.raw`(?:[ \t]{0,2}[,;]?[ \t]{0,2}(?:[Ee][Xx][Tt](?:[Ee][Nn][Ss][Ii][Oo][Nn])?\.?|[Xx]|#)[ \t]{0,2}[.:]?[ \t]{0,2}\d{1,6})?`,
    maxLength: 1 + 24 + 1 + 30,
    seek: seekDigitLed,
    // Not right after another number and one separator: the validator's first rule refuses that.
    // After a number, only a first group of up to four digits closed by `-` or `.`, or of three and a space (continuesNumber).
    kinds: { of: digitLedKinds, admits: (k) => (k & K_LEAD) !== 0 || (runIn(k, 1, Infinity) && ((k & K_CONTINUES) === 0 || (runIn(k, 1, 4) && (runThen(k, "-") || runThen(k, "."))) || (runIn(k, 3, 3) && runThen(k, " ")) || runIn(k, 10, 10))) },
    lookbehind: 32,
    // The pattern's lookbehind and the validator's first two rules, read in place: most digit runs
    // follow another number (random digits, a list of numbers) or hold too few digits.
    possible(text, start) {
      const c0 = text.charCodeAt(start);
      const plus = c0 === 43;
      if (!plus && c0 !== 40 && !isDigit(c0)) return false;
      if (start > 0) {
        // [A-Za-z0-9+] (not isAlnum: that one counts `_`).
        const b = text.charCodeAt(start - 1);
        if (isDigit(b) || (b >= 65 && b <= 90) || (b >= 97 && b <= 122) || b === 43) return false;
      }
      if (continuesNumber(text, start)) return false;
      // Digits the pattern's body can hold: it ends within 25 characters of the start.
      let nd = isDigit(c0) ? 1 : 0;
      let i = start + 1;
      for (; i <= start + 25; i++) {
        const c = codeAt(text, i);
        if (isDigit(c)) nd++;
        else if (c !== 32 && c !== 40 && c !== 41 && c !== 46 && c !== 45 && c !== 47) break;
      }
      if (nd >= (plus || !usOnly ? 7 : 10)) return true;
      // An extension's digits count too; its word (`ext`, `x`, `#`) stands where the body's
      // characters stop, after at most a few of ` \t,;`.
      if (i > start + 25) return true;
      for (let j = i; j < i + 6; j++) {
        const s = codeAt(text, j);
        if (s === 69 || s === 101 || s === 88 || s === 120 || s === 35) return true;
        if (s !== 32 && s !== 9 && s !== 44 && s !== 59) return false;
      }
      return false;
    },
    validate(text, start, end) {
      // Not after another number and a short run of separators: part of a longer sequence.
      if (continuesNumber(text, start)) return -1;
      const plus = text.charCodeAt(start) === 43;
      // The digit groups, with the digits and parentheses up to each group's end, read once into
      // the shared arrays (no strings: the phone shape repeated is a candidate every 15 characters).
      let ng = 0;
      let nd = 0;
      let open = 0;
      let close = 0;
      for (let i = start; i < end; ) {
        const c = text.charCodeAt(i);
        if (!isDigit(c)) {
          if (c === 40) open++;
          else if (c === 41) close++;
          i++;
          continue;
        }
        const s0 = i;
        while (i < end && isDigit(text.charCodeAt(i))) i++;
        if (ng < MAX_GROUPS) {
          gStart[ng] = s0;
          gEnd[ng] = i;
          gDigits[ng] = nd + i - s0;
          gOpen[ng] = open;
          gClose[ng] = close;
        }
        ng++;
        nd += i - s0;
      }
      // Cheap first: most candidates are short numbers, dates and amounts.
      if (nd < 7 || (!plus && ng === 1 && !hasCue(text, start))) return -1;
      if (!plus && usOnly && nd < 10) return -1;
      // (The pattern bounds a match to 56 characters, so to 28 groups; the bound only guards the arrays.)
      if (ng > MAX_GROUPS) return slowValidate(text, start, end, plus, wanted);
      // Longest run of whole groups first; an extension is read after the number it follows.
      let cue = -1;
      for (let k = ng; k >= 1; k--) {
        const gEndK = gEnd[k - 1]!;
        const after = gEndK < text.length ? text.charCodeAt(gEndK) : 0;
        if (isAlnum(after) && after !== 120 && after !== 88 && after !== 101 && after !== 69) continue;
        if (k < ng) {
          // Stopping before the number's own continuation (`-1234`) would cut an id in two; a
          // shorter run may still end at a space (the first of `415-555-2671 415-555-2672`).
          const b = gEndK + 1 < text.length ? text.charCodeAt(gEndK + 1) : 0;
          if ((after === 45 || after === 46 || after === 47) && isDigit(b)) continue;
        }
        const dl = gDigits[k - 1]!;
        if (dl < 7 || dl > 17) continue;
        // Unbalanced parentheses: `(1) 2345 …` list markers and the like. (Counted before the
        // group's digits, which is the same count up to its end.)
        if (gOpen[k - 1] !== gClose[k - 1]) continue;
        let ok = false;
        if (plus) ok = isInternationalNumber(digitsOf(text, k));
        else if (k > 1 || (cue === -1 ? (cue = hasCue(text, start) ? 1 : 0) : cue) === 1) {
          for (const r of wanted) {
            if (r === "US" || r === "CA" ? nanpNational(text, k) : isNationalNumber(writtenOf(text, k), digitsOf(text, k), r)) {
              ok = true;
              break;
            }
          }
        }
        if (!ok) continue;
        EXT.lastIndex = gEndK;
        return EXT.test(text) ? EXT.lastIndex : after === 120 || after === 88 || after === 101 || after === 69 ? -1 : gEndK;
      }
      return -1;
    },
  };
}

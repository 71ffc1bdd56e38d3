// The phone recogniser as it was before its validator read the text in place (issue #13), kept
// verbatim as the reference test/policy/digit-led-kinds.test.ts holds the new one to. One change
// since, in both: round 17's lists of phone numbers (a number after another and spaces only is a
// new one when written as one; a longer run cut at `-1234` still lets a shorter one end at a space),
// written here with regexes, there in place.
import { getCountryCallingCode, isSupportedCountry, parsePhoneNumberFromString, type CountryCode, type PhoneNumber } from "libphonenumber-js/min";
import type { Recogniser } from "../../src/policy/scan/index.js";
import { seekDigitLed } from "../../src/policy/pii/candidates.js";

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

export function phoneReference(regions: readonly string[] = DEFAULT_PHONE_REGIONS): Recogniser {
  const wanted = [...new Set(regions.map((r) => r.toUpperCase()))];
  for (const r of wanted) if (!isSupportedCountry(r)) throw new Error(`phone: unknown region '${r}' (use ISO 3166 two-letter codes such as US, GB, DE)`);
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
    lookbehind: 32,
    validate(text, start, end) {
      // Not after another number and a short run of separators: part of a longer sequence.
      const gap = /\d([ .\-/(]{1,3})$/.exec(text.slice(Math.max(0, start - 4), start));
      if (gap && !(/^(?: +| [/-] )$/.test(gap[1]!) && /^(?:[+(]|\d{1,4}[.\-]\d|\d{3} \d{3} \d{4}(?!\d)|\d{10}(?!\d))/.test(text.slice(start, start + 13)))) return -1;
      const plus = text.charCodeAt(start) === 43;
      // Cheap first: most candidates are short numbers, dates and amounts.
      let nd = 0;
      let ng = 0;
      for (let i = start; i < end; i++) {
        if (isDigit(text.charCodeAt(i))) {
          nd++;
          if (i === start || !isDigit(text.charCodeAt(i - 1))) ng++;
        }
      }
      if (nd < 7 || (!plus && ng === 1 && !hasCue(text, start))) return -1;
      if (!plus && !wanted.some((r) => r !== "US" && r !== "CA") && nd < 10) return -1;
      const groups = groupsOf(text, start, end);
      // Longest run of whole groups first; an extension is read after the number it follows.
      for (let k = groups.length; k >= 1; k--) {
        const g = groups[k - 1]!;
        const after = g.end < text.length ? text.charCodeAt(g.end) : 0;
        if (isAlnum(after) && after !== 120 && after !== 88 && after !== 101 && after !== 69) continue;
        if (k < groups.length) {
          // Stopping before the number's own continuation (`-1234`) would cut an id in two.
          const b = g.end + 1 < text.length ? text.charCodeAt(g.end + 1) : 0;
          if ((after === 45 || after === 46 || after === 47) && isDigit(b)) continue;
        }
        const written = groups.slice(0, k).map((x) => x.digits);
        const digits = written.join("");
        if (digits.length < 7 || digits.length > 17) continue;
        const sub = text.slice(start, g.end);
        // Unbalanced parentheses: `(1) 2345 …` list markers and the like.
        if ((sub.match(/\(/g)?.length ?? 0) !== (sub.match(/\)/g)?.length ?? 0)) continue;
        let ok = false;
        if (plus) ok = isInternationalNumber(digits);
        else if (written.length > 1 || hasCue(text, start)) ok = wanted.some((r) => isNationalNumber(written, digits, r));
        if (!ok) continue;
        EXT.lastIndex = g.end;
        return EXT.test(text) ? EXT.lastIndex : after === 120 || after === 88 || after === 101 || after === 69 ? -1 : g.end;
      }
      return -1;
    },
  };
}

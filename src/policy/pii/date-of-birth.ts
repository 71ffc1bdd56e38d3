import type { Recogniser } from "../scan/index.js";
import { SeekMemo } from "./seek-memo.js";

/**
 * Dates of birth: a date (numeric, ISO, or with the month written in English, French or German)
 * with a birth word shortly before it on the same line — `born on`, `DOB:`, `date of birth`,
 * `né le`, `geboren am`. A date alone is not personal data; one said to be a birth date is.
 */

const monthsEn = "January|February|March|April|May|June|July|August|September|October|November|December|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec";
const monthsFr = "janvier|février|fevrier|mars|avril|mai|juin|juillet|août|aout|septembre|octobre|novembre|décembre|decembre";
const monthsDe = "Januar|Jänner|Februar|März|Maerz|April|Mai|Juni|Juli|August|September|Oktober|November|Dezember";
const months = `(?:${monthsEn}|${monthsDe}|${monthsFr}|${monthsFr.replace(/(^|\|)(.)/g, (_m, a: string, b: string) => a + b.toUpperCase())})`;
const day = `(?:[12]\\d|3[01]|0?[1-9])`;
const ord = `(?:st|nd|rd|th|er|\\.)?`;

const dateShapes = [
  // 12/05/1980, 12.05.1980, 12-05-80, 5/12/1980
  `\\d(?<![\\w.,/-]\\d)\\d?[./-]\\d{1,2}[./-](?:\\d{4}|\\d{2})(?![\\w/-]|[.]\\d)`,
  // 1980-05-12, 1980/05/12
  `\\d(?<![\\w.,/-]\\d)\\d{3}[-/.]\\d{1,2}[-/.]\\d{1,2}(?![\\w/-]|[.]\\d)`,
  // 12 May 1980, 12th of May, 1980, 1er mai 1980, 12. Mai 1980
  `\\d(?<![\\w.,/-]\\d)\\d?${ord}(?: of)? ${months}\\.?,? \\d{4}(?!\\w)`,
  // May 12, 1980, May 12th 1980, May 1980
  `(?<![\\w])${months}\\.?(?: ${day}${ord})?,? \\d{4}(?!\\w)`,
];
export const dateOfBirthPattern = `(?:${dateShapes.join("|")})`;

const CUE_SPAN = 40;
// Factored by first letter behind one \b (`birthday` is `birth`'s): V8 tries the alternatives one
// by one at every position, so sixteen of them cost four times these five.
const cue =
  /\b(?:b(?:orn\b|irth|\. )|d(?:ob\b|\.o\.b\.?|ata di nascita)|n(?:ée?(?=[\s:])|ee\b|aissance|acid[oa]\b|at[oa]\b)|g(?:eboren\b|eb\.|eburt)|fecha de nacimiento)/i;
const cueAll = new RegExp(cue.source, "gi");
const cueInSpan = new RegExp(cue.source, "gi");

function accept(text: string, start: number, end: number): number {
  // The line before the date, at most CUE_SPAN characters.
  const from = Math.max(0, start - CUE_SPAN);
  let lineStart = from;
  for (let k = start - 1; k >= from; k--)
    if (text.charCodeAt(k) === 10) {
      lineStart = k + 1;
      break;
    }
  const before = text.slice(lineStart, start);
  // The birth word must be the nearest thing before the date: `DOB: 1980-05-12, seen 2024-01-15`
  // makes only the first a birth date.
  // test(), not exec(): only where the last one ends is wanted (no cue matches empty), and exec()
  // builds a match array for each.
  cueInSpan.lastIndex = 0;
  let last = -1;
  while (cueInSpan.test(before)) last = cueInSpan.lastIndex;
  let ok = last !== -1;
  for (let k = lineStart + last; ok && k < start; k++) if (text.charCodeAt(k) >= 48 && text.charCodeAt(k) <= 57) ok = false;
  return ok ? end : -1;
}

/** The date the seek last accepted: the scanner asks about it at once (Recogniser.decided). */
const memo = new SeekMemo();

const sticky = new RegExp(dateOfBirthPattern, "y");
const dateStart = /(?<![\w.,/-])\d|(?<![\w])[A-Za-zéû]/g;

/** Candidates only within CUE_SPAN characters after a birth word. */
function seek(text: string, from: number): number {
  let lo = from;
  cueAll.lastIndex = Math.max(0, from - CUE_SPAN);
  for (let m = cueAll.exec(text); m !== null; m = cueAll.exec(text)) {
    const cueEnd = m.index + m[0].length;
    dateStart.lastIndex = Math.max(lo, m.index + 1);
    const stop = m.index + CUE_SPAN + 1;
    // Each date start is one character: test() leaves lastIndex just past it (exec() would build a
    // match array for every word start near a birth word).
    while (dateStart.test(text)) {
      const p = dateStart.lastIndex - 1;
      if (p >= stop) break;
      if (p < cueEnd) continue;
      sticky.lastIndex = p;
      if (sticky.test(text)) {
        const r = accept(text, p, sticky.lastIndex);
        if (r > p) {
          memo.remember(text, p, r);
          return p;
        }
      }
    }
    lo = Math.max(lo, stop);
  }
  return -1;
}

export const dateOfBirth: Recogniser = {
  type: "date_of_birth",
  pattern: dateOfBirthPattern,
  maxLength: 40,
  lookbehind: CUE_SPAN,
  seek,
  decided: memo.decided,
  forget: memo.forget,
  validate: accept,
};

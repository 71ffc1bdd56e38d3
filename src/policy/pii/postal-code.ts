import type { Recogniser } from "../scan/index.js";
import { digitLedKinds, K_UPPER, runIn, seekDigitLed } from "./candidates.js";
import { codeAt, digitsAt, isDigit, isLetter, isUpper, isWord } from "./chars.js";
import { gazetteers } from "./gazetteer.js";
import { LOWER as L, UPPER as U } from "./name-words.js";

/**
 * Postal codes. A UK postcode (`NW1 6XE`, `SW1A 1AA`) has a shape of its own and is taken alone. A
 * five-digit code (US ZIP, German PLZ, French code postal) is any number, so it needs company: a
 * word that names it nearby (`ZIP`, `PLZ`, `code postal`, `postcode`), a US state before it
 * (`Springfield, IL 62704`), or a known town after it (`10115 Berlin`, `75002 Paris`).
 */

/** UK postcode: outward code (area letters, district) and inward code (sector digit, unit letters). */
export const ukPostcode = `[A-Z](?<![\\w-][A-Z])[A-Z]?\\d[A-Z\\d]? \\d[ABD-HJLNP-UW-Z]{2}(?![\\w-])`;

const usStates =
  "AL|AK|AZ|AR|CA|CO|CT|DE|DC|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|NV|NH|NJ|NM|NY|NC|ND|OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY|PR|GU|VI";

const LOOKBEHIND = 32;
const cue = /(?:\bzip(?: ?code)?|\bpostal ?code|\bpost ?code|\bplz|\bpostleitzahl|\bcode postal|\bcp|\bc\.p\.|\bcódigo postal|\bcap)\b[^\n\d]{0,12}$/i;
const stateBefore = new RegExp(`(?:\\b(?:${usStates})|[${U}][${L}]+)\\.?,? $`);
const stateAbbrBefore = new RegExp(`\\b(?:${usStates}),? $`);
const stateNames = new Set(
  "Alabama Alaska Arizona Arkansas California Colorado Connecticut Delaware Florida Georgia Hawaii Idaho Illinois Indiana Iowa Kansas Kentucky Louisiana Maine Maryland Massachusetts Michigan Minnesota Mississippi Missouri Montana Nebraska Nevada Ohio Oklahoma Oregon Pennsylvania Tennessee Texas Utah Vermont Virginia Washington Wisconsin Wyoming".split(
    " ",
  ),
);
const townAfter = new RegExp(`^ ([${U}][${L}]+(?:[ -][${U}][${L}]+){0,2})`);

function acceptDigits(text: string, start: number, end: number): number {
  const digitsEnd = text.charCodeAt(start + 5) === 45 ? start + 10 : start + 5;
  if (digitsEnd > end) return -1;
  const beforeText = text.slice(Math.max(0, start - LOOKBEHIND), start);
  const nl = beforeText.lastIndexOf("\n");
  const line = nl === -1 ? beforeText : beforeText.slice(nl + 1);
  if (cue.test(line)) return digitsEnd;
  if (stateAbbrBefore.test(line)) return digitsEnd;
  const st = stateBefore.exec(line);
  if (st && stateNames.has(st[0].replace(/[.,\s]+$/, ""))) return digitsEnd;
  // A known town after the code (German and French order): only for the plain five digits.
  if (digitsEnd === start + 5) {
    const m = townAfter.exec(text.slice(digitsEnd, end));
    if (m) {
      const places = gazetteers().places;
      const words = m[1]!.split(/(?=[ -])/);
      for (let n = words.length; n > 0; n--) if (places.has(words.slice(0, n).join(""))) return digitsEnd;
    }
  }
  return -1;
}

/** The inward code's unit letters: [ABD-HJLNP-UW-Z]. */
function isUnitLetter(c: number): boolean {
  return isUpper(c) && c !== 67 && c !== 73 && c !== 75 && c !== 77 && c !== 79 && c !== 86;
}

/** The UK postcode pattern, read in place (it never backtracks: each optional part is decided by the next character). */
function ukPossible(text: string, start: number): boolean {
  if (!isUpper(text.charCodeAt(start))) return false;
  if (start > 0) {
    const b = text.charCodeAt(start - 1);
    if (isWord(b) || b === 45) return false;
  }
  let i = start + 1;
  if (isUpper(codeAt(text, i))) i++;
  if (!isDigit(codeAt(text, i++))) return false;
  const c = codeAt(text, i);
  if (isUpper(c) || isDigit(c)) i++;
  if (codeAt(text, i) !== 32 || !isDigit(codeAt(text, i + 1))) return false;
  if (!isUnitLetter(codeAt(text, i + 2)) || !isUnitLetter(codeAt(text, i + 3))) return false;
  const a = codeAt(text, i + 4);
  return !isWord(a) && a !== 45;
}

/** (?![\w-]|[.,/:]\d) at i. */
function codeEndsAt(text: string, i: number): boolean {
  const a = codeAt(text, i);
  if (isWord(a) || a === 45) return false;
  return !((a === 46 || a === 44 || a === 47 || a === 58) && isDigit(codeAt(text, i + 1)));
}

/**
 * The five-digit pattern's shape, and what acceptDigits needs: a letter on the line in the
 * LOOKBEHIND characters before (a cue word or a state), or a space after the five digits (a town).
 */
function digitsPossible(text: string, start: number): boolean {
  if (start > 0) {
    const b = text.charCodeAt(start - 1);
    if (isWord(b) || b === 46 || b === 44 || b === 47 || b === 58 || b === 45) return false;
  }
  if (!digitsAt(text, start, start + 5)) return false;
  const plus4 = codeAt(text, start + 5) === 45 && digitsAt(text, start + 6, start + 10) && codeEndsAt(text, start + 10);
  if (!plus4 && !codeEndsAt(text, start + 5)) return false;
  if (codeAt(text, start + 5) === 32) return true;
  for (let k = start - 1; k >= 0 && k >= start - LOOKBEHIND; k--) {
    const c = text.charCodeAt(k);
    if (c === 10) break;
    if (isLetter(c) || c >= 0xc0) return true;
  }
  return false;
}

export const postalCode: readonly Recogniser[] = [
  {
    type: "postal_code",
    pattern: ukPostcode,
    maxLength: 8,
    lookbehind: 1,
    // Sought from its digit: as an alternative of a shared regex it would make every capital letter a candidate.
    seek: seekDigitLed,
    kinds: { of: digitLedKinds, admits: (k) => (k & K_UPPER) !== 0 },
    possible: ukPossible,
  },
  {
    type: "postal_code",
    pattern: `\\d(?<![\\w.,/:-]\\d)\\d{4}(?:-\\d{4})?(?![\\w-]|[.,/:]\\d)(?: [${U}][${L}]{1,30}(?:[ -][${U}][${L}]{1,30}){0,2})?(?=[\\s\\S]{0,2})`,
    maxLength: 10 + 3 * 32,
    seek: seekDigitLed,
    kinds: { of: digitLedKinds, admits: (k) => runIn(k, 5, 5) },
    lookbehind: LOOKBEHIND,
    possible: digitsPossible,
    validate: acceptDigits,
  },
];

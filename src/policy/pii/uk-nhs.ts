import type { Recogniser } from "../scan/index.js";
import { after, digitLedKinds, runIn, seekDigitLed } from "./candidates.js";
import { codeAt, digitsAt, isDigit, isWord } from "./chars.js";
import { digitsOnly, keywordBefore } from "./context.js";

const CONTEXT = 40;

/** NHS number check digit: weights 10..2 over the first nine digits, 11 − (sum mod 11), 11 → 0, 10 invalid. */
export function isValidNhsNumber(digits: string): boolean {
  if (!/^\d{10}$/.test(digits)) return false;
  let sum = 0;
  for (let i = 0; i < 9; i++) sum += (digits.charCodeAt(i) - 48) * (10 - i);
  let check = 11 - (sum % 11);
  if (check === 11) check = 0;
  if (check === 10) return false;
  return check === digits.charCodeAt(9) - 48;
}

/** The spaced 3-3-4 form is how NHS numbers are printed; other forms need "NHS" nearby. */
export const ukNhs: Recogniser = {
  type: "uk_nhs",
  pattern: String.raw`\d(?<![\w-]\d)(?:\d{2} \d{3} \d{4}|\d{2}-\d{3}-\d{4}|\d{9})(?![\w-]|\.\d)`,
  maxLength: 12,
  seek: seekDigitLed,
  kinds: { of: digitLedKinds, admits: (k) => (runIn(k, 3, 3) && (after(k, " ") || after(k, "-"))) || runIn(k, 10, 10) },
  lookbehind: CONTEXT,
  // The pattern's shape and the check digit, read in place.
  possible(text, start) {
    if (start > 0) {
      const b = text.charCodeAt(start - 1);
      if (isWord(b) || b === 45) return false;
    }
    if (!digitsAt(text, start, start + 3)) return false;
    const sep = codeAt(text, start + 3);
    let sum = 0;
    let k = 0;
    let last = 0;
    for (let i = start; k < 10; i++) {
      const c = codeAt(text, i);
      if (!isDigit(c)) {
        if ((sep === 32 || sep === 45) && (i === start + 3 || i === start + 7) && c === sep) continue;
        return false;
      }
      if (k < 9) sum += (c - 48) * (10 - k);
      else last = c - 48;
      k++;
    }
    let check = 11 - (sum % 11);
    if (check === 11) check = 0;
    return check !== 10 && check === last;
  },
  validate(text, start, end) {
    const s = text.slice(start, end);
    if (!isValidNhsNumber(digitsOnly(s))) return -1;
    if (s.includes(" ")) return end;
    return keywordBefore(text, start, "nhs", CONTEXT) ? end : -1;
  },
};

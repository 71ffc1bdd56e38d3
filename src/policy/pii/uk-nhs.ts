import type { Recogniser } from "../scan/index.js";
import { seekDigitLed } from "./candidates.js";
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
  lookbehind: CONTEXT,
  validate(text, start, end) {
    const s = text.slice(start, end);
    if (!isValidNhsNumber(digitsOnly(s))) return -1;
    if (s.includes(" ")) return end;
    return keywordBefore(text, start, "nhs", CONTEXT) ? end : -1;
  },
};

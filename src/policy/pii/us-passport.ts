import type { Recogniser } from "../scan/index.js";
import { digitLedKinds, K_LETTER2, K_UPPER, runIn, seekDigitLed } from "./candidates.js";
import { codeAt, digitsAt, isDigit, isUpper, isWord } from "./chars.js";
import { keywordBefore } from "./context.js";

const CONTEXT = 40;

/** US passport book numbers (nine digits, or a letter and eight digits) when "passport" is nearby. */
export const usPassport: Recogniser = {
  type: "us_passport",
  pattern: String.raw`[A-Z0-9](?<![\w-][A-Z0-9])\d{8}(?![\w-])`,
  maxLength: 9,
  seek: seekDigitLed,
  kinds: { of: digitLedKinds, admits: (k) => runIn(k, 9, 9) || ((k & K_UPPER) !== 0 && (k & K_LETTER2) === 0) },
  lookbehind: CONTEXT,
  // The pattern's shape, read in place: a capital or digit, then eight digits ending a word.
  possible(text, start) {
    const c = text.charCodeAt(start);
    if (!isDigit(c) && !isUpper(c)) return false;
    if (start > 0) {
      const b = text.charCodeAt(start - 1);
      if (isWord(b) || b === 45) return false;
    }
    if (!digitsAt(text, start + 1, start + 9)) return false;
    const a = codeAt(text, start + 9);
    return !isWord(a) && a !== 45;
  },
  validate(text, start, end) {
    return keywordBefore(text, start, "passport", CONTEXT) ? end : -1;
  },
};

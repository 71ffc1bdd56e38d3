import type { Recogniser } from "../scan/index.js";
import { seekDigitLed } from "./candidates.js";
import { keywordBefore } from "./context.js";

const CONTEXT = 40;

/** US passport book numbers (nine digits, or a letter and eight digits) when "passport" is nearby. */
export const usPassport: Recogniser = {
  type: "us_passport",
  pattern: String.raw`[A-Z0-9](?<![\w-][A-Z0-9])\d{8}(?![\w-])`,
  maxLength: 9,
  seek: seekDigitLed,
  lookbehind: CONTEXT,
  validate(text, start, end) {
    return keywordBefore(text, start, "passport", CONTEXT) ? end : -1;
  },
};

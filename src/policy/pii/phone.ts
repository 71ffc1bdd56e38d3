import type { Recogniser } from "../scan/index.js";
import { digitsOnly } from "./context.js";

/**
 * Phone numbers need visible structure — separators, parentheses or a leading `+` — because a bare
 * run of ten digits is as likely an id. NANP area codes start 2–9.
 */
const nanpRest = String.raw`(?:\([2-9]\d{2}\) ?|[2-9]\d{2}[ .-])\d{3}[ .-]\d{4}(?![\w-]|\.\d)`;
const nanpLocal = String.raw`\d{2}[ .-]\d{3}[ .-]\d{4}(?![\w-]|\.\d)`;

function nanp(pattern: string, maxLength: number): Recogniser {
  return { type: "phone", pattern, maxLength, lookbehind: 2 };
}

export const phoneNanp: readonly Recogniser[] = [
  // +1 555 234 5678, 1-555-234-5678
  nanp(String.raw`\+(?<![\w+.-]\+)1[ .-]?${nanpRest}`, 3 + 14),
  nanp(String.raw`1(?<![\w+.-]1)[ .-]?${nanpRest}`, 2 + 14),
  // (555) 234-5678, 555-234-5678, 555.234.5678
  nanp(String.raw`\((?<![\w+.-]\()[2-9]\d{2}\) ?\d{3}[ .-]\d{4}(?![\w-]|\.\d)`, 14),
  nanp(String.raw`[2-9](?<![\w+.-][2-9])${nanpLocal}`, 12),
];

export const phoneInternational: Recogniser = {
  type: "phone",
  pattern: String.raw`\+(?<![\w+]\+)[1-9]\d{0,3}(?:[ .-]?\(?\d{1,5}\)?){1,6}(?![\w]|[.-]\d)`,
  maxLength: 5 + 6 * 8,
  anchor: { literal: "+", within: 1 },
  lookbehind: 1,
  validate(text, start, end) {
    const n = digitsOnly(text.slice(start, end)).length;
    return n >= 8 && n <= 15 ? end : -1;
  },
};

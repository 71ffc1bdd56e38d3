import type { Recogniser } from "../scan/index.js";
import { seekDigitLed } from "./candidates.js";

/**
 * US Social Security numbers in their written form (dashes or spaces). Bare nine-digit runs are left
 * alone: they are far more often order or account ids.
 */
export function isValidSsn(area: string, group: string, serial: string): boolean {
  const a = Number(area);
  return a !== 0 && a !== 666 && a < 900 && group !== "00" && serial !== "0000";
}

/** Words that make a bare nine-digit run an SSN. */
const SSN_CUE = /\b(?:ssn|ss#|ss no|soc(?:ial)?[ .-]*sec(?:urity)?|taxpayer id|tin)\b/i;

export const ssn: Recogniser = {
  type: "ssn",
  // Dashes, spaces or dots between the three parts; none at all only with an SSN word before it.
  pattern: String.raw`\d(?<![A-Za-z0-9]\d|\d[.,-]\d)\d{2}(?:[ .-]\d{2}[ .-]\d{4}|\d{6})(?![A-Za-z0-9]|[.-]\d)`,
  maxLength: 11,
  seek: seekDigitLed,
  lookbehind: 40,
  validate(text, start, end) {
    if (start >= 2 && ".,-".includes(text[start - 1]!) && text.charCodeAt(start - 2) >= 48 && text.charCodeAt(start - 2) <= 57) return -1;
    const compact = end - start === 9;
    const s = compact ? text.slice(start, end) : text.slice(start, start + 3) + text.slice(start + 4, start + 6) + text.slice(start + 7, start + 11);
    if (!compact && text[start + 3] !== text[start + 6] && !(text[start + 3] === " " || text[start + 6] === " ")) {
      // Mixed separators other than a space next to a dash or dot: a date or a code, not an SSN.
      return -1;
    }
    if (compact) {
      const before = text.slice(Math.max(0, start - 40), start);
      const nl = before.lastIndexOf("\n");
      if (!SSN_CUE.test(nl === -1 ? before : before.slice(nl + 1))) return -1;
    }
    return isValidSsn(s.slice(0, 3), s.slice(3, 5), s.slice(5, 9)) ? end : -1;
  },
};

import type { Recogniser } from "../scan/index.js";
import { after, digitLedKinds, runIn, seekDigitLed } from "./candidates.js";
import { isDigit } from "./chars.js";

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

/** The three parts' digits at a, b and c as numbers (the validator's reads, in place). */
function partsValid(text: string, a: number, g: number, s: number): boolean {
  const area = (text.charCodeAt(a) - 48) * 100 + (text.charCodeAt(a + 1) - 48) * 10 + (text.charCodeAt(a + 2) - 48);
  const group = (text.charCodeAt(g) - 48) * 10 + (text.charCodeAt(g + 1) - 48);
  const serial = (text.charCodeAt(s) - 48) * 1000 + (text.charCodeAt(s + 1) - 48) * 100 + (text.charCodeAt(s + 2) - 48) * 10 + (text.charCodeAt(s + 3) - 48);
  return area !== 0 && area !== 666 && area < 900 && group !== 0 && serial !== 0;
}

export const ssn: Recogniser = {
  type: "ssn",
  // Dashes, spaces or dots between the three parts; none at all only with an SSN word before it.
  pattern: String.raw`\d(?<![A-Za-z0-9]\d|\d[.,-]\d)\d{2}(?:[ .-]\d{2}[ .-]\d{4}|\d{6})(?![A-Za-z0-9]|[.-]\d)`,
  maxLength: 11,
  seek: seekDigitLed,
  kinds: { of: digitLedKinds, admits: (k) => (runIn(k, 3, 3) && (after(k, ".") || after(k, " ") || after(k, "-"))) || runIn(k, 9, 9) },
  lookbehind: 40,
  validate(text, start, end) {
    if (start >= 2 && isDigit(text.charCodeAt(start - 2))) {
      const b = text.charCodeAt(start - 1);
      if (b === 46 || b === 44 || b === 45) return -1;
    }
    const compact = end - start === 9;
    if (!compact) {
      const x = text.charCodeAt(start + 3);
      const y = text.charCodeAt(start + 6);
      // Mixed separators other than a space next to a dash or dot: a date or a code, not an SSN.
      if (x !== y && x !== 32 && y !== 32) return -1;
    }
    if (compact) {
      const before = text.slice(Math.max(0, start - 40), start);
      const nl = before.lastIndexOf("\n");
      if (!SSN_CUE.test(nl === -1 ? before : before.slice(nl + 1))) return -1;
      return partsValid(text, start, start + 3, start + 5) ? end : -1;
    }
    return partsValid(text, start, start + 4, start + 7) ? end : -1;
  },
};

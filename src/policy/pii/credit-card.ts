import type { Recogniser } from "../scan/index.js";
import { luhnValid } from "./luhn.js";

/**
 * Issuer ranges and the lengths each issues. A number must fit one of them and pass Luhn; that
 * keeps order ids and other long digit runs out.
 */
const issuers: { name: string; prefix: (d: string) => boolean; lengths: readonly number[] }[] = [
  { name: "visa", prefix: (d) => d[0] === "4", lengths: [13, 16, 19] },
  { name: "mastercard", prefix: (d) => inRange(d, 2, 51, 55) || inRange(d, 4, 2221, 2720), lengths: [16] },
  { name: "amex", prefix: (d) => inRange(d, 2, 34, 34) || inRange(d, 2, 37, 37), lengths: [15] },
  {
    name: "discover",
    prefix: (d) => inRange(d, 4, 6011, 6011) || inRange(d, 3, 644, 649) || inRange(d, 2, 65, 65) || inRange(d, 6, 622126, 622925),
    lengths: [16, 17, 18, 19],
  },
  { name: "jcb", prefix: (d) => inRange(d, 4, 3528, 3589), lengths: [16, 17, 18, 19] },
  {
    name: "diners",
    prefix: (d) => inRange(d, 3, 300, 305) || inRange(d, 4, 3095, 3095) || inRange(d, 2, 36, 36) || inRange(d, 2, 38, 39),
    lengths: [14, 15, 16, 17, 18, 19],
  },
  // UnionPay issues some non-Luhn numbers; we still require Luhn, trading those for fewer false positives.
  { name: "unionpay", prefix: (d) => inRange(d, 2, 62, 62) || inRange(d, 2, 81, 81), lengths: [16, 17, 18, 19] },
];

function inRange(d: string, n: number, lo: number, hi: number): boolean {
  if (d.length < n) return false;
  const v = Number(d.slice(0, n));
  return v >= lo && v <= hi;
}

export function isValidCardNumber(digits: string): boolean {
  if (!/^\d{13,19}$/.test(digits)) return false;
  const fits = issuers.some((i) => i.lengths.includes(digits.length) && i.prefix(digits));
  return fits && luhnValid(digits);
}

export const creditCard: Recogniser = {
  type: "credit_card",
  // Compact, or in the printed groupings (4-4-4-4[-3], 4-4-4-1..7, Amex/Diners 4-6-4/5) with one
  // kind of separator. Each pattern here consumes a character before its lookbehind: V8 can then
  // reject most positions on that first character, which keeps the combined scan fast.
  pattern:
    String.raw`\d(?<![\w.-]\d)(?:\d{12,18}|\d{3}(?: \d{4}){3} \d{3}|\d{3}(?:-\d{4}){3}-\d{3}|\d{3}(?: \d{4}){2} \d{1,7}` +
    String.raw`|\d{3}(?:-\d{4}){2}-\d{1,7}|\d{3} \d{6} \d{4,5}|\d{3}-\d{6}-\d{4,5})(?![\w-]|\.\d)`,
  maxLength: 23,
  lookbehind: 1,
  validate(text, start, end) {
    let digits = "";
    for (let i = start; i < end; i++) {
      const c = text.charCodeAt(i);
      if (c >= 48 && c <= 57) digits += text[i];
    }
    return isValidCardNumber(digits) ? end : -1;
  },
};

import type { Recogniser } from "../scan/index.js";

/**
 * US Social Security numbers in their written form (dashes or spaces). Bare nine-digit runs are left
 * alone: they are far more often order or account ids.
 */
export function isValidSsn(area: string, group: string, serial: string): boolean {
  const a = Number(area);
  return a !== 0 && a !== 666 && a < 900 && group !== "00" && serial !== "0000";
}

export const ssn: Recogniser = {
  type: "ssn",
  pattern: String.raw`\d(?<![\w-]\d)(?:\d{2}-\d{2}-\d{4}|\d{2} \d{2} \d{4})(?![\w-]|\.\d)`,
  maxLength: 11,
  lookbehind: 1,
  validate(text, start, end) {
    return isValidSsn(text.slice(start, start + 3), text.slice(start + 4, start + 6), text.slice(start + 7, start + 11)) ? end : -1;
  },
};

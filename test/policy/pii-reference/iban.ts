import { ibanChecksumValid, ibanLengths } from "../../../src/policy/pii/index.js";

/**
 * The IBAN validator as it was before it learned to decide in place (issue #13): a frozen oracle for
 * the equivalence tests. Builds the compact string, then checks length, checksum and what follows.
 */
export function ibanReference(text: string, start: number, end: number): number {
  const len = ibanLengths[text.slice(start, start + 2).toUpperCase()];
  if (len === undefined) return -1;
  let compact = "";
  let i = start;
  while (i < end && compact.length < len) {
    const ch = text[i]!;
    if (ch !== " " && ch !== "-") compact += ch;
    i++;
  }
  if (compact.length !== len || !ibanChecksumValid(compact.toUpperCase())) return -1;
  if (i < end && text[i] !== " " && text[i] !== "-") return -1;
  return i;
}

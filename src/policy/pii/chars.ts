/**
 * Character tests on UTF-16 codes, for the recognisers' prechecks and validators (which read the
 * text in place rather than slicing it). Out-of-range reads (NaN from charCodeAt) are false.
 */

export function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/** ASCII letter. */
export function isLetter(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}

export function isUpper(c: number): boolean {
  return c >= 65 && c <= 90;
}

/** [A-Za-z0-9] */
export function isAlnum(c: number): boolean {
  return isDigit(c) || isLetter(c);
}

/** \w without the u flag: [A-Za-z0-9_] */
export function isWord(c: number): boolean {
  return isAlnum(c) || c === 95;
}

/** [0-9A-Fa-f] */
export function isHex(c: number): boolean {
  return isDigit(c) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);
}

/**
 * text.charCodeAt(i), and -1 outside the text (where charCodeAt gives NaN; every test here is false
 * on both). A read past a text's end makes V8 deoptimise the function and compile that call site
 * as a call of the generic builtin from then on (some 40 instructions a character, where an
 * in-bounds read is a load); every text ends, so the hot prechecks read through this instead.
 */
export function codeAt(text: string, i: number): number {
  return i >= 0 && i < text.length ? text.charCodeAt(i) : -1;
}

/** Whether text[from, to) are all digits (false when it runs past the end). */
export function digitsAt(text: string, from: number, to: number): boolean {
  if (to > text.length) return false;
  for (let i = from; i < to; i++) if (!isDigit(text.charCodeAt(i))) return false;
  return true;
}

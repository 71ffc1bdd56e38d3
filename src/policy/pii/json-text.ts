/**
 * Whether JSON.parse(s) returns rather than throws, read by hand: the JSON grammar (RFC 8259, which
 * V8's JSON.parse follows to the letter). A JWT-shaped run whose header decodes to something that is
 * not JSON (random base64 after `eyJ`) made JSON.parse throw, and a thrown SyntaxError, its message
 * and stack, cost some 50 k instructions; this answers the same with a few per character, so
 * JSON.parse runs only on text it accepts. test/policy/secret-equivalence.test.ts holds it to JSON.parse.
 */
export function isJsonText(s: string): boolean {
  const end = value(s, ws(s, 0));
  return end !== -1 && ws(s, end) === s.length;
}

/** The first position at or after i that is not JSON whitespace (space, tab, line feed, carriage return). */
function ws(s: string, i: number): number {
  while (i < s.length) {
    const c = s.charCodeAt(i);
    if (c !== 32 && c !== 9 && c !== 10 && c !== 13) break;
    i++;
  }
  return i;
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/** The end of the JSON value starting at i, or -1. */
function value(s: string, i: number): number {
  if (i >= s.length) return -1;
  const c = s.charCodeAt(i);
  if (c === 123) return members(s, i + 1, 125, true);
  if (c === 91) return members(s, i + 1, 93, false);
  if (c === 34) return string(s, i);
  if (c === 116) return s.startsWith("true", i) ? i + 4 : -1;
  if (c === 102) return s.startsWith("false", i) ? i + 5 : -1;
  if (c === 110) return s.startsWith("null", i) ? i + 4 : -1;
  if (c === 45 || isDigit(c)) return number(s, i);
  return -1;
}

/** An object's members (keyed) or an array's elements from just after its opening bracket, to the closing `close`: its end, or -1. */
function members(s: string, i: number, close: number, keyed: boolean): number {
  i = ws(s, i);
  if (s.charCodeAt(i) === close) return i + 1;
  for (;;) {
    if (keyed) {
      if (s.charCodeAt(i) !== 34) return -1;
      i = string(s, i);
      if (i === -1) return -1;
      i = ws(s, i);
      if (s.charCodeAt(i) !== 58) return -1;
      i = ws(s, i + 1);
    }
    i = value(s, i);
    if (i === -1) return -1;
    i = ws(s, i);
    const c = s.charCodeAt(i);
    if (c === close) return i + 1;
    if (c !== 44) return -1;
    i = ws(s, i + 1);
  }
}

function isHex(c: number): boolean {
  return isDigit(c) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);
}

/** The end of the string starting with the quote at i, or -1: no control character, only JSON's escapes. */
function string(s: string, i: number): number {
  for (i++; i < s.length; ) {
    const c = s.charCodeAt(i);
    if (c === 34) return i + 1;
    if (c < 32) return -1;
    if (c !== 92) {
      i++;
      continue;
    }
    const e = s.charCodeAt(i + 1);
    if (e === 117) {
      for (let k = 2; k < 6; k++) if (!isHex(s.charCodeAt(i + k))) return -1;
      i += 6;
    } else if (e === 34 || e === 92 || e === 47 || e === 98 || e === 102 || e === 110 || e === 114 || e === 116) i += 2;
    else return -1;
  }
  return -1;
}

/** The end of the number at i (`-`? then 0 or a digit run not led by 0, a fraction, an exponent), or -1. */
function number(s: string, i: number): number {
  if (s.charCodeAt(i) === 45) i++;
  const c = s.charCodeAt(i);
  if (c === 48) i++;
  else if (isDigit(c)) while (isDigit(s.charCodeAt(i))) i++;
  else return -1;
  if (s.charCodeAt(i) === 46) {
    i++;
    if (!isDigit(s.charCodeAt(i))) return -1;
    while (isDigit(s.charCodeAt(i))) i++;
  }
  const e = s.charCodeAt(i);
  if (e === 101 || e === 69) {
    i++;
    const sign = s.charCodeAt(i);
    if (sign === 43 || sign === 45) i++;
    if (!isDigit(s.charCodeAt(i))) return -1;
    while (isDigit(s.charCodeAt(i))) i++;
  }
  return i;
}

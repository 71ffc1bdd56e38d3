import { isIPv6 } from "node:net";
import type { Recogniser } from "../scan/index.js";
import { after, digitLedKinds, runIn, seekDigitLed } from "./candidates.js";
import { codeAt, isAlnum, isDigit } from "./chars.js";

/**
 * isIPv4 on the pattern's match (four runs of one to three digits joined by dots), read in place:
 * each part 0-255, without a leading zero.
 */
function quadEnd(text: string, start: number, end: number): number {
  let i = start;
  for (let part = 0; part < 4; part++) {
    if (part > 0 && text.charCodeAt(i++) !== 46) return -1;
    const first = text.charCodeAt(i);
    let v = 0;
    let n = 0;
    while (i < end && isDigit(text.charCodeAt(i))) {
      v = v * 10 + text.charCodeAt(i++) - 48;
      n++;
    }
    if (n === 0 || n > 3 || v > 255 || (n > 1 && first === 48)) return -1;
  }
  return i === end ? end : -1;
}

/**
 * A dotted quad is an address only when it stands alone: `1.2.3.4.5`, `v1.2.3.4` and octets over
 * 255 are version strings or something else.
 */
export const ipv4: Recogniser = {
  type: "ip_address",
  pattern: String.raw`\d(?<![A-Za-z0-9.]\d)\d{0,2}\.(?:\d{1,3}\.){2}\d{1,3}(?![A-Za-z0-9]|\.\d)`,
  maxLength: 15,
  seek: seekDigitLed,
  kinds: { of: digitLedKinds, admits: (k) => runIn(k, 1, 3) && after(k, ".") },
  lookbehind: 1,
  // The pattern's lookbehind and its second part's first digit (the kind says the first ends at a dot).
  possible(text, start) {
    if (start > 0) {
      const b = text.charCodeAt(start - 1);
      if (isAlnum(b) || b === 46) return false;
    }
    let i = start + 1;
    while (isDigit(codeAt(text, i))) i++;
    return isDigit(codeAt(text, i + 1));
  },
  validate: quadEnd,
};

function isHex(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);
}

function isAlnumOrDot(c: number): boolean {
  return isHex(c) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 46;
}

/**
 * May an address start right after position `s - 1`? Not inside a word or a dotted run; after a
 * colon only when the colon ends a key (`ip:`, `addr:`, `key:`), not another hex group.
 */
function startsFree(text: string, s: number): boolean {
  if (s === 0) return true;
  const c = text.charCodeAt(s - 1);
  if (c !== 58) return !isAlnumOrDot(c);
  return keyBefore(text, s - 1);
}

/** The characters before the colon at `colon` form a key: a word with a letter that is not a hex digit. */
function keyBefore(text: string, colon: number): boolean {
  let k = colon;
  let letter = false;
  while (k > 0 && colon - k < 32) {
    const c = text.charCodeAt(k - 1);
    const word = isHex(c) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c === 45;
    if (!word) break;
    if (!isHex(c)) letter = true;
    k--;
  }
  if (k > 0 && text.charCodeAt(k - 1) === 58) return false;
  return letter;
}

/**
 * Every IPv6 address has a colon within its first five characters, so candidates are found from
 * colons: the start is the run of at most four hex digits before one, standing alone.
 */
function seekIpv6(text: string, from: number): number {
  for (let colon = text.indexOf(":", from); colon !== -1; colon = text.indexOf(":", colon + 1)) {
    let s = colon;
    while (s > 0 && colon - s < 4 && isHex(text.charCodeAt(s - 1))) s--;
    if (s < from) continue;
    if (!startsFree(text, s)) continue;
    return s;
  }
  return -1;
}

export const ipv6: Recogniser = {
  type: "ip_address",
  // Loose shape (hex and colons with at least two colons, optional IPv4 tail); node:net decides.
  pattern: String.raw`(?<![A-Za-z0-9.]|[0-9A-Fa-f:]:)(?=[0-9A-Fa-f]{0,4}:[0-9A-Fa-f]{0,4}:)[0-9A-Fa-f:]{2,39}(?:\d{1,3}(?:\.\d{1,3}){3})?(?![A-Za-z0-9:]|\.\d)`,
  maxLength: 39 + 15,
  anchor: { literal: ":", within: 5 },
  lookbehind: 1,
  seek: seekIpv6,
  validate(text, start, end) {
    if (start > 0 && text.charCodeAt(start - 1) === 58 && !keyBefore(text, start - 1)) return -1;
    return isIPv6(text.slice(start, end)) ? end : -1;
  },
};

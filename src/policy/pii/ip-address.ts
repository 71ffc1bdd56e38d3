import { isIPv4, isIPv6 } from "node:net";
import type { Recogniser } from "../scan/index.js";

/**
 * A dotted quad is an address only when it stands alone: `1.2.3.4.5`, `v1.2.3.4` and octets over
 * 255 are version strings or something else.
 */
export const ipv4: Recogniser = {
  type: "ip_address",
  pattern: String.raw`\d(?<![\w.]\d)\d{0,2}\.(?:\d{1,3}\.){2}\d{1,3}(?![\w]|\.\d)`,
  maxLength: 15,
  lookbehind: 1,
  validate(text, start, end) {
    return isIPv4(text.slice(start, end)) ? end : -1;
  },
};

function isHex(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);
}

function isWordOrColonOrDot(c: number): boolean {
  return isHex(c) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c === 58 || c === 46;
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
    if (s > 0 && isWordOrColonOrDot(text.charCodeAt(s - 1))) continue;
    return s;
  }
  return -1;
}

export const ipv6: Recogniser = {
  type: "ip_address",
  // Loose shape (hex and colons with at least two colons, optional IPv4 tail); node:net decides.
  pattern: String.raw`(?<![\w:.])(?=[0-9A-Fa-f]{0,4}:[0-9A-Fa-f]{0,4}:)[0-9A-Fa-f:]{2,39}(?:\d{1,3}(?:\.\d{1,3}){3})?(?![\w:]|\.\d)`,
  maxLength: 39 + 15,
  anchor: { literal: ":", within: 5 },
  lookbehind: 1,
  seek: seekIpv6,
  validate(text, start, end) {
    return isIPv6(text.slice(start, end)) ? end : -1;
  },
};

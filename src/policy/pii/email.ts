import type { Recogniser } from "../scan/index.js";

const label = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?";

function isLocalChar(c: number): boolean {
  return (
    (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 46 || c === 95 || c === 37 || c === 43 || c === 45
  );
}

/**
 * Running the email regex at every position costs more than everything else together, so candidates
 * come from the `@` instead: the only place an address can start is where the run of local-part
 * characters before an `@` begins.
 */
function seekEmail(text: string, from: number): number {
  for (let at = text.indexOf("@", from); at !== -1; at = text.indexOf("@", at + 1)) {
    let s = at;
    while (s > 0 && at - s <= 64 && isLocalChar(text.charCodeAt(s - 1))) s--;
    if (s >= from && s < at && at - s <= 64) return s;
  }
  return -1;
}

export const email: Recogniser = {
  type: "email",
  pattern: String.raw`(?<![\w.%+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@(?:${label}\.){1,4}[A-Za-z]{2,24}(?![\w-]|\.[A-Za-z0-9])`,
  maxLength: 64 + 1 + 4 * 64 + 24,
  anchor: { literal: "@", within: 65 },
  lookbehind: 1,
  seek: seekEmail,
  validate(text, start, end) {
    const s = text.slice(start, end);
    const at = s.indexOf("@");
    // RFC 5321 dot-atoms: no trailing or doubled dots in the local part.
    if (s.length - at - 1 > 253 || s[at - 1] === "." || s.slice(0, at).includes("..")) return -1;
    return end;
  },
};

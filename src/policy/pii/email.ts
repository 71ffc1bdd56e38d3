import type { Recogniser } from "../scan/index.js";

/**
 * Letters beyond ASCII (RFC 6531 internationalised local parts and domains), as ranges a regex
 * without the `u` flag can use: Latin-1 letters to the end of the BMP's scripts, leaving out the
 * general punctuation and symbol blocks. The view is already NFKC, so full-width forms read as ASCII.
 */
const INTL = String.raw`\u00B5\u00C0-\u00D6\u00D8-\u00F6\u00F8-\u1FFF\u2C00-\u2DFF\u3040-\uD7FF\uF900-\uFDCF\uFDF0-\uFFEF`;
const label = `[A-Za-z0-9${INTL}](?:[A-Za-z0-9${INTL}-]{0,61}[A-Za-z0-9${INTL}])?`;
const tld = `(?:[A-Za-z]{2,24}|[Xx][Nn]--[A-Za-z0-9-]{1,59}|[${INTL}]{2,24})`;
const local = `[A-Za-z0-9${INTL}][A-Za-z0-9${INTL}._%+-]{0,63}`;

function isLocalChar(c: number): boolean {
  return (
    (c >= 48 && c <= 57) ||
    (c >= 65 && c <= 90) ||
    (c >= 97 && c <= 122) ||
    c === 46 ||
    c === 95 ||
    c === 37 ||
    c === 43 ||
    c === 45 ||
    (c >= 0xc0 && c !== 0xd7 && c !== 0xf7 && (c < 0x2000 || c >= 0x2c00) && (c < 0x2e00 || c >= 0x3040) && (c < 0xd800 || c >= 0xf900))
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

function localPartOk(s: string, at: number): boolean {
  // RFC 5321 dot-atoms: no trailing or doubled dots in the local part.
  return s[at - 1] !== "." && !s.slice(0, at).includes("..");
}

export const email: Recogniser = {
  type: "email",
  pattern: String.raw`(?<![A-Za-z0-9${INTL}.%+_-])${local}@(?:${label}\.){1,4}${tld}(?![A-Za-z0-9${INTL}_-]|\.[A-Za-z0-9${INTL}])`,
  maxLength: 64 + 1 + 4 * 64 + 63,
  anchor: { literal: "@", within: 65 },
  lookbehind: 1,
  seek: seekEmail,
  validate(text, start, end) {
    const s = text.slice(start, end);
    const at = s.indexOf("@");
    if (s.length - at - 1 > 253 || !localPartOk(s, at)) return -1;
    return end;
  },
};

const AT = String.raw`(?:[ \t]{0,3}[\[(<{][ \t]{0,2}(?:[Aa][Tt]|@)[ \t]{0,2}[\])>}][ \t]{0,3}|[ \t]{1,3}(?:[Aa][Tt]|AT)[ \t]{1,3})`;
const DOT = String.raw`(?:[ \t]{0,3}[\[(<{][ \t]{0,2}(?:[Dd][Oo][Tt]|\.)[ \t]{0,2}[\])>}][ \t]{0,3}|[ \t]{1,3}(?:[Dd][Oo][Tt]|DOT)[ \t]{1,3}|\.)`;
const plainLabel = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?";
/** Top-level domains a spelled-out address may end in: bare ` at `/` dot ` words are common English. */
const spelledTld = "(?:com|org|net|edu|gov|io|co|uk|de|fr|es|it|nl|ch|at|be|se|no|dk|fi|pl|ru|in|jp|cn|au|ca|us|info|biz|me|ai|dev|app)";

/**
 * `obfuscated: true` on a rule: addresses spelled out to dodge scrapers, `jane [at] example [dot]
 * com`, `jane(at)example(dot)com`, `jane at example dot com`. At least one spelled `dot` (or a
 * bracketed `at`) is required, so `meet at home.` stays prose.
 */
export const obfuscatedEmail: Recogniser = {
  type: "email",
  pattern:
    String.raw`[A-Za-z0-9](?<![A-Za-z0-9._%+-][A-Za-z0-9])[A-Za-z0-9._%+-]{0,63}${AT}(?:${plainLabel}${DOT}){1,4}${spelledTld}(?![A-Za-z0-9])`,
  maxLength: 64 + 12 + 4 * (63 + 12) + 4,
  lookbehind: 1,
  validate(text, start, end) {
    const s = text.slice(start, end);
    const bracketAt = /[\[(<{][ \t]*(?:at|@)[ \t]*[\])>}]/i.test(s);
    const spelledDot = /(?:[ \t]dot[ \t]|[\[(<{][ \t]*(?:dot|\.)[ \t]*[\])>}])/i.test(s);
    return bracketAt || spelledDot ? end : -1;
  },
};

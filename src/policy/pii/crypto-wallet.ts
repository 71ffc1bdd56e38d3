import type { Recogniser } from "../scan/index.js";
import { after, digitLedKinds, K_13, K_BT, K_ZERO, runIn, seekDigitLed } from "./candidates.js";
import { base58CheckPayload } from "./base58check.js";
import { bech32Valid } from "./bech32.js";
import { codeAt, isHex, isWord } from "./chars.js";

/** Base58 (Bitcoin alphabet): [1-9A-HJ-NP-Za-km-z]. */
function isBase58(c: number): boolean {
  if (c >= 49 && c <= 57) return true;
  if (c >= 65 && c <= 90) return c !== 73 && c !== 79;
  return c >= 97 && c <= 122 && c !== 108;
}

/** Bitcoin legacy (P2PKH `1…`, P2SH `3…`): Base58Check with a 21-byte payload and version 0x00/0x05. */
export const btcLegacy: Recogniser = {
  type: "crypto_wallet",
  pattern: String.raw`[13](?<!\w[13])[1-9A-HJ-NP-Za-km-z]{25,34}(?![\w])`,
  maxLength: 35,
  seek: seekDigitLed,
  kinds: { of: digitLedKinds, admits: (k) => (k & K_13) !== 0 },
  lookbehind: 1,
  // The pattern's own condition: 25-34 Base58 characters after the 1 or 3, then no word character.
  possible(text, start) {
    const c = text.charCodeAt(start);
    if ((c !== 49 && c !== 51) || (start > 0 && isWord(text.charCodeAt(start - 1)))) return false;
    let j = start + 1;
    while (j <= start + 35 && isBase58(codeAt(text, j))) j++;
    const n = j - start - 1;
    return n >= 25 && n <= 34 && !isWord(codeAt(text, j));
  },
  validate(text, start, end) {
    const p = base58CheckPayload(text.slice(start, end));
    return p !== undefined && p.length === 21 && (p[0] === 0x00 || p[0] === 0x05) ? end : -1;
  },
};

/** Bitcoin SegWit/Taproot (`bc1…`, testnet `tb1…`): bech32 / bech32m checksum. */
export const btcBech32: Recogniser = {
  type: "crypto_wallet",
  pattern: String.raw`(?:b(?<!\wb)c|t(?<!\wt)b)1[02-9ac-hj-np-z]{8,87}(?![\w])`,
  maxLength: 90,
  seek: seekDigitLed,
  kinds: { of: digitLedKinds, admits: (k) => (k & K_BT) !== 0 },
  lookbehind: 1,
  possible(text, start) {
    const a = text.charCodeAt(start);
    const b = codeAt(text, start + 1);
    return ((a === 98 && b === 99) || (a === 116 && b === 98)) && codeAt(text, start + 2) === 49 && !(start > 0 && isWord(text.charCodeAt(start - 1)));
  },
  validate(text, start, end) {
    return bech32Valid(text.slice(start, end)) ? end : -1;
  },
};

/**
 * Ethereum: 0x and 40 hex digits. The EIP-55 mixed-case checksum needs Keccak-256, which node:crypto
 * does not offer, so the shape alone decides.
 */
export const ethAddress: Recogniser = {
  type: "crypto_wallet",
  pattern: String.raw`0(?<!\w0)x[0-9a-fA-F]{40}(?![\w])`,
  maxLength: 42,
  seek: seekDigitLed,
  kinds: { of: digitLedKinds, admits: (k) => (k & K_ZERO) !== 0 && runIn(k, 1, 1) && after(k, "x") },
  anchor: { literal: "0x", within: 1 },
  lookbehind: 1,
  possible(text, start) {
    return (
      text.charCodeAt(start) === 48 &&
      codeAt(text, start + 1) === 120 &&
      !(start > 0 && isWord(text.charCodeAt(start - 1))) &&
      isHex(codeAt(text, start + 41)) &&
      !isWord(codeAt(text, start + 42))
    );
  },
};

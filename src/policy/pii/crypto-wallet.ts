import type { Recogniser } from "../scan/index.js";
import { seekDigitLed } from "./candidates.js";
import { base58CheckPayload } from "./base58check.js";
import { bech32Valid } from "./bech32.js";

/** Bitcoin legacy (P2PKH `1…`, P2SH `3…`): Base58Check with a 21-byte payload and version 0x00/0x05. */
export const btcLegacy: Recogniser = {
  type: "crypto_wallet",
  pattern: String.raw`[13](?<!\w[13])[1-9A-HJ-NP-Za-km-z]{25,34}(?![\w])`,
  maxLength: 35,
  seek: seekDigitLed,
  lookbehind: 1,
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
  lookbehind: 1,
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
  anchor: { literal: "0x", within: 1 },
  lookbehind: 1,
};

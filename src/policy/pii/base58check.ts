import { createHash } from "node:crypto";

const ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
const INDEX = new Map([...ALPHABET].map((c, i) => [c, i] as const));

/** Base58 (Bitcoin alphabet) to bytes; undefined on a character outside the alphabet. */
export function base58Decode(s: string): Uint8Array | undefined {
  const bytes: number[] = [];
  for (const ch of s) {
    let carry = INDEX.get(ch);
    if (carry === undefined) return undefined;
    for (let j = 0; j < bytes.length; j++) {
      carry += bytes[j]! * 58;
      bytes[j] = carry & 0xff;
      carry >>= 8;
    }
    while (carry > 0) {
      bytes.push(carry & 0xff);
      carry >>= 8;
    }
  }
  for (let i = 0; i < s.length && s[i] === "1"; i++) bytes.push(0);
  return Uint8Array.from(bytes.reverse());
}

function sha256(b: Uint8Array): Buffer {
  return createHash("sha256").update(b).digest();
}

/** Payload of a Base58Check string when its four-byte double-SHA-256 checksum holds. */
export function base58CheckPayload(s: string): Uint8Array | undefined {
  const b = base58Decode(s);
  if (!b || b.length < 5) return undefined;
  const payload = b.subarray(0, b.length - 4);
  const sum = sha256(sha256(payload));
  for (let i = 0; i < 4; i++) if (sum[i] !== b[b.length - 4 + i]) return undefined;
  return payload;
}

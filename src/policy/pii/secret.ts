import type { Recogniser } from "../scan/index.js";
import * as S from "./secret-seek.js";

/**
 * A secret recogniser; `id` is the one secret-seek.ts decides its pattern under (its index in
 * `secrets`). The seek decides every pattern by hand and the scanner takes its word (decided):
 * the patterns here are what those decisions are held to (test/policy/secret-equivalence.test.ts),
 * and what the stream guard and a candidate past a growing text's horizon still run.
 */
function secret(id: number, pattern: string, maxLength: number, literal?: string, validate?: Recogniser["validate"]): Recogniser {
  return {
    type: "secret",
    pattern,
    maxLength,
    lookbehind: 1,
    seek: S.seekSecret,
    decided: S.secretDecided(id),
    forget: S.forgetSecret,
    ...(literal === undefined ? {} : { anchor: { literal, within: 1 } }),
    ...(validate === undefined ? {} : { validate }),
  };
}

const pemLabel = "(?:[A-Z0-9]{1,16} ){0,3}PRIVATE KEY";

export const secrets: readonly Recogniser[] = [
  // OpenAI / Anthropic style keys: sk-…, sk-proj-…, sk-ant-api03-…
  secret(S.SK, String.raw`s(?<![\w-]s)k-[A-Za-z0-9_-]{20,200}(?![\w-])`, 203, "sk-"),
  // Stripe-style live/test keys.
  secret(S.STRIPE, String.raw`[srp](?<!\w[srp])k_(?:live|test)_[A-Za-z0-9]{16,99}(?![\w])`, 108),
  // AWS access key ids.
  secret(S.AWS, String.raw`A(?<![A-Za-z0-9]A)(?:KIA|SIA|GPA|IDA|ROA|NPA|NVA|IPA)[0-9A-Z]{16}(?![A-Za-z0-9])`, 20),
  // GitHub tokens.
  secret(S.GITHUB, String.raw`g(?<!\wg)(?:h[pousr]_[A-Za-z0-9]{36,251}|ithub_pat_[A-Za-z0-9_]{22,244})(?![\w])`, 255),
  // Slack tokens.
  secret(S.SLACK, String.raw`x(?<![\w-]x)ox[abposr]-[A-Za-z0-9-]{10,250}`, 255, "xox"),
  // Google API keys.
  secret(S.GOOGLE, String.raw`A(?<![\w-]A)Iza[0-9A-Za-z_-]{35}(?![\w-])`, 39, "AIza"),
  // PEM private key blocks; a block cut off before its END line is still redacted up to where it stops.
  // The body stops at the next BEGIN line: otherwise every BEGIN of a text made of BEGIN lines
  // would search 16 KiB ahead for an END, 600 steps per byte (a 15 MiB body held the loop for 21 s).
  secret(S.PEM_BLOCK, String.raw`-----BEGIN ${pemLabel}-----(?:[^-]|-(?!----BEGIN )){0,16384}?-----END ${pemLabel}-----`, 16384 + 2 * 64, "-----BEGIN "),
  secret(S.PEM_HEADER, String.raw`-----BEGIN ${pemLabel}-----(?:\r?\n[A-Za-z0-9+/=]{1,100}){0,200}`, 64 + 200 * 102, "-----BEGIN "),
  // Bearer credentials, keyword included: the redaction reads "Authorization: [REDACTED:SECRET]".
  secret(S.BEARER, String.raw`Bearer [A-Za-z0-9._~+/-]{16,4096}={0,3}`, 7 + 4096 + 4, "Bearer "),
  secret(S.BEARER_LOWER, String.raw`bearer [A-Za-z0-9._~+/-]{16,4096}={0,3}`, 7 + 4096 + 4, "bearer "),
  // JWTs: three base64url parts, the header being JSON (so it starts with eyJ).
  secret(S.JWT, String.raw`e(?<![\w-]e)yJ[A-Za-z0-9_-]{8,1024}\.[A-Za-z0-9_-]{2,4096}\.[A-Za-z0-9_-]{0,1024}(?![\w-])`, 3 + 1024 + 4096 + 1026, "eyJ", S.jwtHeaderValid),
];

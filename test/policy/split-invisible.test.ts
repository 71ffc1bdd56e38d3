import { describe, expect, it } from "vitest";
import { compilePolicyEngine } from "../../src/policy/index.js";
import { configWith } from "../policy/helpers.js";

// Found by the round-12 review: the window around a message boundary was counted in characters as
// written, the match in the normalised view (zero-width characters, soft hyphens... removed). 400
// invisible characters at the boundary put the other part of a split value outside the window: it
// went upstream in clear, while the same text in one message is redacted. The reach is now
// counted in normalised characters (src/policy/chain-runner.ts, crossFindings).
const engine = compilePolicyEngine(configWith([{ id: "p", rules: [{ type: "pii_detection", action: "redact", patterns: ["secret", "email", "credit_card"] }] }]));
const upstream = (...texts: string[]) =>
  (engine.startRequest({ model: "m", messages: texts.map((content) => ({ role: "user", content })) } as never, "chat") as unknown as { body: { messages: { content: string }[] } }).body.messages.map((m) => m.content);

const pad = (ch: string) => ch.repeat(450);
const cases = [
  ["secret", "key sk-proj-AAAAAAAAAA", "BBBBBBBBBBBBBBB end", "AAAAAAAAAA"],
  ["email", "mail jane.doe", "@example.com ok", "jane.doe"],
  ["card", "card 4111 1111", " 1111 1111 ok", "4111 1111"],
] as const;
describe("a split value with invisible characters at the boundary", () => {
  for (const [name, a, b, piece] of cases)
    for (const [where, ch] of [["zero-width space", "\u200b"], ["soft hyphen", "\u00ad"], ["word joiner", "\u2060"], ["percent-encoded zero-width space", "%E2%80%8B"]] as const) {
      it(`${name}, ${where} after the boundary`, () => {
        // In one message: found (the invisible characters are not there for the match).
        expect(upstream(a + pad(ch) + b)[0]).not.toContain(piece);
        // Over two messages: nothing of it may go upstream in clear.
        expect(upstream(a, pad(ch) + b).join(" | ")).not.toContain(piece);
      });
      it(`${name}, ${where} before the boundary`, () => {
        expect(upstream(a + pad(ch), b).join(" | ")).not.toContain(piece);
      });
    }
});

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

// Found by the round-13 review: widening a boundary's window past the padding, boundary by boundary
// (doubling, normalising each side every round), was quadratic in a flow of padded messages (278 KiB
// of zero-width spaces over 3,200 messages: 18 s). Such a flow, and one with many boundaries for its
// size, is now scanned once as one text: the split values must still be found there, each once.
const sentUpstream = async (...texts: string[]) => {
  const r = await engine.checkRequest({ model: "m", messages: texts.map((content) => ({ role: "user", content })) } as never, "chat");
  return { texts: (r.body as unknown as { messages: { content: string }[] }).messages.map((m) => m.content), events: r.events };
};

describe("a flow scanned whole", () => {
  it("finds a value split over three messages around a long run of padding messages", async () => {
    const padding = Array.from({ length: 200 }, () => "\u200b".repeat(40));
    const sent = (await sentUpstream("mail jane.doe", ...padding, "@example.com ok")).texts;
    expect(sent.join("")).not.toContain("jane.doe");
    expect(sent.join("")).not.toContain("example.com");
    expect(sent.at(-1)).toMatch(/ ok$/);
  });

  it("finds split values among thousands of one-word messages, and leaves the other words alone", async () => {
    const words = Array.from({ length: 3000 }, (_, i) => `w${i} `);
    words[1000] = "key sk-proj-AAAAAAAAAA";
    words[1001] = "BBBBBBBBBBBBBBB ";
    words[2000] = "card 4111 1111";
    words[2001] = " 1111 1111 ok";
    const sent = (await sentUpstream(...words)).texts;
    expect(sent.join("")).not.toContain("AAAAAAAAAA");
    expect(sent.join("")).not.toContain("BBBBBBBBBBBBBBB");
    expect(sent.join("")).not.toContain("4111 1111");
    expect(sent[2001]).toMatch(/ ok$/);
    for (const i of [0, 999, 1002, 1999, 2999]) expect(sent[i]).toBe(`w${i} `);
  });

  it("counts a value split over several boundaries once", async () => {
    const { texts, events } = await sentUpstream("mail ja", "\u200b".repeat(900), "ne.doe@exa", "\u200b".repeat(900), "mple.com ok");
    expect(texts.join("")).not.toMatch(/ja|doe|exa|mple/);
    expect(JSON.stringify(events)).toContain('"email":1');
  });
});

// Found by the round-14 outside battery: the whole-flow scan looked at every finding for every
// boundary, and walked every text to cut each split value: quadratic in a flow of short messages
// whose values each run into the next message (a 6 MiB body of ~190,000 `hi a@b.io` held a pool
// worker past its CPU budget; 8,000 such messages took 5 s). Now each value is put under the edges
// it crosses once, and cut from its own text on. The result of a periodic flow is periodic: a
// message in the middle of 60,000 is sent as the same message of 600 is (the scale also shows the
// old path's cost: it does not finish within the test's time).
describe("a flow of many short messages whose values run into the next", () => {
  it("is cut the same at 600 and 60,000 messages, every value in every message", async () => {
    const flow = (n: number) => sentUpstream(...Array.from({ length: n }, () => "hi a@b.io"));
    const small = await flow(600);
    const large = await flow(60_000);
    expect(large.texts.length).toBe(60_000);
    for (const k of [1, 299, 598]) expect(large.texts[k]).toBe(small.texts[k]);
    for (const k of [1, 30_000, 59_998]) expect(large.texts[k]).toBe(small.texts[299]);
    expect(large.texts.join("")).not.toContain("a@b");
    expect(small.texts[299]).not.toBe("hi a@b.io");
  }, 120_000);
});

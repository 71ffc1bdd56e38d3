import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compilePiiScanner } from "../../src/policy/compiled-rule.js";
import { builtinPiiTypes } from "../../src/policy/pii/index.js";
import { runChainHere } from "../../src/policy/chain-runner.js";
import type { CompiledRule } from "../../src/policy/compiled-rule.js";
import { crossGuardOf, scanSource } from "../../src/policy/scan/index.js";

// Issue #20: the chain runner scans a window around each boundary between two texts of one flow for
// a value split over it, and skips that scan where the cross guard (src/policy/scan/cross-guard.ts)
// says no match can hold the cut. The skip is exact only if the guard never says "no" where the
// window scan the runner did before (scanSource up to the cut) finds a finding that starts before
// the cut and ends after it. That is the property below, on windows built from values of every
// built-in type, split anywhere, and on arbitrary text over the characters those values use.

const scanner = compilePiiScanner({ patterns: [...builtinPiiTypes], regions: undefined, obfuscated: undefined });
const mayCross = crossGuardOf(scanner);

/** What the runner did at every boundary before the guard: does a finding cross the cut? */
function crosses(window: string, cut: number): boolean {
  return scanSource(scanner, window, false, cut).some((f) => f.start < cut && f.end > cut);
}

const values = [
  "jane.doe@example.com",
  "ops@mail.example.co.uk",
  "4111 1111 1111 1111",
  "4111111111111111",
  "5500-0000-0000-0004",
  "+44 20 7946 0958",
  "(555) 123-4567",
  "555-123-4567",
  "123-45-6789",
  "943 476 5919",
  "GB82 WEST 1234 5698 7654 32",
  "DE89370400440532013000",
  "192.168.0.1",
  "2001:db8::1",
  "sk-abcdefghijklmnopqrstuvwxyz123456",
  "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
  "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abcdefghij",
  "AKIAIOSFODNN7EXAMPLE",
  "Bearer abcdefghijklmnop1234",
  "-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu\n-----END RSA PRIVATE KEY-----",
  "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa",
  "0x52908400098527886E0F7030069857D2E4169EE7",
  "John Smith",
  "Dr. Mary O'Brien",
  "Jean-Pierre Dupont",
  "my name is anna",
  "12 Baker Street",
  "221B Baker Street, London NW1 6XE",
  "Flat 4, 10 Downing Street",
  "Hauptstrasse 5, 10115 Berlin",
  "Via Roma 10",
  "P.O. Box 123",
  "SW1A 1AA",
  "90210",
  "born on 12/03/1980",
  "DOB: 1980-03-12",
  "date of birth 3 March 1980",
  "Paris",
  "New York",
  "A12345678",
  "943 476 5919",
];
const words = ["You", "are", "a", "helpful", "assistant.", "Please", "update", "the", "billing", "contact", "to", "and", "card", "for", "renewal.", "call", "me", "at", "lives", "in", "My", "Street", "St.", "Ave", "Apt", "x", "I", "am"];
const separators = ["", "", " ", " ", "\n", ". ", ", ", ": ", "-", "_", "@", ".", "/", "'", "(", ")", "+"];

const token = fc.oneof(fc.constantFrom(...values), fc.constantFrom(...words), fc.constantFrom(...separators));
const prose = fc.array(fc.tuple(token, fc.constantFrom(...separators)), { minLength: 1, maxLength: 14 }).map((ts) => ts.map(([t, s]) => t + s).join(""));
/** Arbitrary text over the characters the values and words use. */
const chars = [...new Set([...values, ...words, ...separators].join(""))];
const noise = fc.array(fc.constantFrom(...chars), { minLength: 2, maxLength: 80 }).map((cs) => cs.join(""));

/** A window and a cut strictly inside it; half the cuts fall inside a value placed at the boundary. */
const windows = fc.oneof(
  fc.tuple(prose, prose).map(([a, b]) => ({ window: a + b, cut: a.length })),
  fc.tuple(prose, fc.constantFrom(...values), prose, fc.nat()).map(([a, v, b, k]) => {
    const split = 1 + (k % Math.max(1, v.length - 1));
    return { window: a + v + b, cut: a.length + split };
  }),
  fc.tuple(noise, fc.nat()).map(([w, k]) => ({ window: w, cut: 1 + (k % (w.length - 1)) })),
);

describe("cross guard (the boundary scan's skip)", () => {
  it("never rules out a cut that a finding of the window scan crosses", () => {
    let crossing = 0;
    let skipped = 0;
    fc.assert(
      fc.property(windows, ({ window, cut }) => {
        if (cut <= 0 || cut >= window.length) return;
        const c = crosses(window, cut);
        const g = mayCross(window, cut);
        if (c) crossing++;
        if (!g) skipped++;
        expect(c && !g, `a finding crosses ${JSON.stringify(window.slice(0, cut))} | ${JSON.stringify(window.slice(cut))} but the guard ruled it out`).toBe(false);
      }),
      { numRuns: 4000, seed: 20 },
    );
    // The generator does make crossings, and the guard does rule out many cuts (else it saves nothing).
    expect(crossing).toBeGreaterThan(200);
    expect(skipped).toBeGreaterThan(400);
  });

  it("rules out the bench's boundary (a system prompt ending in a full stop, a user message opening with a word)", () => {
    const a = "You are a helpful assistant.";
    const b = "Please update the billing contact to jane.doe@example.com and charge card 4111 1111 1111 1111 for the renewal.";
    expect(mayCross(a + b, a.length)).toBe(false);
    // An email split over the same boundary is not ruled out.
    expect(mayCross("write to jane.doe@exa" + "mple.com today", "write to jane.doe@exa".length)).toBe(true);
  });

  it("a value split between two messages is still found and redacted in both", async () => {
    const rule = { kind: "pii_detection", policy: "pii", rule: "r", action: "redact", phases: { request: true, response: true }, scanner, replacement: (t: string) => `[REDACTED:${t.toUpperCase()}]` } as unknown as CompiledRule;
    const seg = (text: string, i: number) => ({ text, path: ["messages", i, "content"], role: "user", choice: -1, flow: "m", json: false }) as never;
    const r = await runChainHere([rule], {
      phase: "request",
      segments: [seg("You are a helpful assistant.", 0), seg("Please write to jane.doe@exa", 1), seg("mple.com and thank her.", 2)],
      guardConversations: () => [],
      askGuard: undefined,
      signal: undefined,
      collectFindings: true,
    });
    expect(r.segments.map((s) => s.text)).toEqual(["You are a helpful assistant.", "Please write to [REDACTED:EMAIL]", "[REDACTED:EMAIL] and thank her."]);
    expect(r.events[0]?.counts).toEqual({ email: 1 });
  });
});

describe("cross guard on a whole flow of short texts (the chain runner's skip of the whole-flow scan)", () => {
  // Short texts (a system prompt and a user message) make the runner scan the flow joined as one
  // text rather than a window per boundary, and since issue #20 round 14 it first asks the guard at
  // each edge of the joined text: the scan is not made when no edge may be crossed. Exact only if
  // no finding of that whole-flow scan crosses an edge the guard ruled out.
  const flows = fc.oneof(
    fc.array(prose, { minLength: 2, maxLength: 5 }),
    // A value cut between two of the texts.
    fc.tuple(fc.array(prose, { maxLength: 2 }), prose, fc.constantFrom(...values), fc.nat(), prose, fc.array(prose, { maxLength: 2 })).map(([pre, a, v, k, b, post]) => {
      const at = 1 + (k % Math.max(1, v.length - 1));
      return [...pre, a + v.slice(0, at), v.slice(at) + b, ...post];
    }),
  );

  it("never rules out an edge of the joined texts that a finding of the whole-flow scan crosses", () => {
    let crossing = 0;
    let skipped = 0;
    fc.assert(
      fc.property(flows, (texts) => {
        const joined = texts.join("");
        const found = scanSource(scanner, joined, false);
        let at = 0;
        for (const t of texts.slice(0, -1)) {
          at += t.length;
          if (at <= 0 || at >= joined.length) continue;
          const c = found.some((f) => f.start < at && f.end > at);
          const g = mayCross(joined, at);
          if (c) crossing++;
          if (!g) skipped++;
          expect(c && !g, `a finding crosses ${JSON.stringify(joined.slice(0, at))} | ${JSON.stringify(joined.slice(at))} but the guard ruled it out`).toBe(false);
        }
      }),
      { numRuns: 2000, seed: 14 },
    );
    expect(crossing).toBeGreaterThan(50);
    expect(skipped).toBeGreaterThan(200);
  });

  it("a chain over short texts redacts and counts as the whole-flow scan it skips would", async () => {
    const rule = { kind: "pii_detection", policy: "pii", rule: "r", action: "redact", phases: { request: true, response: true }, scanner, replacement: (t: string) => `[REDACTED:${t.toUpperCase()}]` } as unknown as CompiledRule;
    const seg = (text: string, i: number) => ({ text, path: ["messages", i, "content"], role: "user", choice: -1, flow: "m", json: false }) as never;
    const run = (texts: string[]) => runChainHere([rule], { phase: "request", segments: texts.map(seg), guardConversations: () => [], askGuard: undefined, signal: undefined, collectFindings: true });
    let split = 0;
    await fc.assert(
      fc.asyncProperty(flows, async (texts) => {
        // Sixteen empty texts after the flow: more boundaries than the runner asks the guard about,
        // so that run scans the joined flow as before (an empty text adds no character and no edge
        // inside the text).
        const guarded = await run(texts);
        const whole = await run([...texts, ...Array<string>(16).fill("")]);
        expect(guarded.segments.map((s) => s.text)).toEqual(whole.segments.slice(0, texts.length).map((s) => s.text));
        expect(guarded.events).toEqual(whole.events);
        expect(guarded.findings).toEqual(whole.findings);
        const joined = texts.join("");
        let at = 0;
        for (const t of texts.slice(0, -1)) {
          at += t.length;
          if (scanSource(scanner, joined, false).some((f) => f.start < at && f.end > at)) split++;
        }
      }),
      { numRuns: 400, seed: 15 },
    );
    // Some of the flows do hold a value over an edge (the scan is then made, and must be).
    expect(split).toBeGreaterThan(40);
  });
});

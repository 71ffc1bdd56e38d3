import { describe, expect, it } from "vitest";
import { builtinPiiTypes } from "../../src/config/index.js";
import { compilePolicyEngine } from "../../src/policy/index.js";
import { requestSegments } from "../../src/policy/body-texts.js";
import { runChainHere } from "../../src/policy/chain-runner.js";
import { compilePiiScanner, compileRules, type CompiledPiiRule } from "../../src/policy/compiled-rule.js";
import { memoHolds, scanRepeated, scanSource } from "../../src/policy/scan/index.js";
import { configWith } from "./helpers.js";

const scanner = compilePiiScanner({ patterns: [...builtinPiiTypes], regions: undefined, obfuscated: undefined });

/** Texts of every kind the memo keeps apart: findings of several types, none, a normalised view, JSON content. */
const texts: [string, boolean][] = [
  ["You are a helpful assistant.", false],
  ["Escalate to ops@example.com or call +44 20 7946 0958; card 4111 1111 1111 1111.", false],
  ["Ｍｙ ｍａｉｌ： ｊａｎｅ＠ｅｘａｍｐｌｅ．ｃｏｍ and SSN 123-45-6789", false],
  ["write to jane%40example.com?q=a+b", false],
  ['{"ssn":"123-45-6789","note":"mail a\\u0040b.io"}', true],
  ['{"ssn":"123-45-6789","note":"mail a\\u0040b.io"}', false],
  ["Dr. Jane Smith lives at 221B Baker Street, London NW1 6XE.", false],
  ["", false],
];

describe("findings of repeated texts (scan-memo.ts)", () => {
  it("are the scan's own, every time, for plain and JSON texts alike", () => {
    for (const [text, json] of texts) {
      const want = scanSource(scanner, text, json);
      for (let k = 0; k < 3; k++) expect(scanRepeated(scanner, text, json), `${text} (json ${json}, call ${k})`).toEqual(want);
    }
    // The JSON view finds the escaped `@`; the plain one does not: kept apart by the flag.
    const [text] = texts[4]!;
    expect(scanRepeated(scanner, text, true).map((f) => f.type)).toContain("email");
    expect(scanRepeated(scanner, text, false).map((f) => f.type)).not.toContain("email");
  });

  it("hands out copies: a caller changing its findings changes nobody else's", () => {
    const [text] = texts[1]!;
    const first = scanRepeated(scanner, text, false);
    const want = structuredClone(first);
    expect(first.length).toBeGreaterThan(2);
    for (const f of first) {
      f.start = 0;
      f.end = 1;
      f.type = "changed";
    }
    first.length = 0;
    expect(scanRepeated(scanner, text, false)).toEqual(want);
  });

  it("keeps only texts it found nothing in: no detected value outlives its request in the memo", () => {
    for (const [text, json] of texts) {
      const found = scanRepeated(scanner, text, json);
      scanRepeated(scanner, text, json);
      expect(memoHolds(scanner, text, json), `${text} (json ${json})`).toBe(found.length === 0);
    }
    expect(memoHolds(scanner, texts[0]![0], false)).toBe(true);
    expect(memoHolds(scanner, texts[1]![0], false)).toBe(false);
  });

  it("stays exact past its bounds: more texts than it keeps, and a text longer than it keeps", () => {
    for (let i = 0; i < 600; i++) {
      const text = `Ticket ${i}: mail user${i}@example.com`;
      expect(scanRepeated(scanner, text, false)).toEqual(scanSource(scanner, text, false));
    }
    const long = "Plain words and more words. ".repeat(800) + "Reach me at long@example.com.";
    expect(long.length).toBeGreaterThan(16 * 1024);
    const want = scanSource(scanner, long, false);
    expect(want.map((f) => f.type)).toEqual(["email"]);
    expect(scanRepeated(scanner, long, false)).toEqual(want);
    expect(scanRepeated(scanner, texts[0]![0], false)).toEqual([]);
  });

  it("through the chain: the system prompt and earlier turns are redacted the same on every request", async () => {
    const engine = compilePolicyEngine(configWith([{ id: "gov", rules: [{ type: "pii_detection", patterns: [...builtinPiiTypes] }] }]));
    const history = [
      { role: "system", content: "Support bot. Escalate to ops@example.com." },
      { role: "user", content: "My card is 4111 1111 1111 1111" },
      { role: "assistant", content: "Noted, Jane. I will mail jane.doe@example.com." },
    ];
    const turns = ["and my SSN is 123-45-6789", "nothing new", "ops@example.com again"];
    const seen: string[] = [];
    for (let round = 0; round < 2; round++)
      for (const turn of turns) {
        const body = { model: "m", messages: [...history, { role: "user", content: turn }] };
        const { body: out, events } = await engine.checkRequest(body, "chat");
        const m = out.messages as { content: string }[];
        expect(m[0]!.content).toBe("Support bot. Escalate to [REDACTED:EMAIL].");
        expect(m[1]!.content).toBe("My card is [REDACTED:CREDIT_CARD]");
        expect(m[2]!.content).toContain("[REDACTED:EMAIL]");
        seen.push(JSON.stringify([out, events]));
      }
    // The second round of the same requests gives byte for byte what the first did.
    expect(seen.slice(3)).toEqual(seen.slice(0, 3));
    // The new turn is scanned as it comes.
    expect(JSON.parse(seen[0]!)[0].messages[3].content).toBe("and my SSN is [REDACTED:SSN]");
    expect(JSON.parse(seen[2]!)[0].messages[3].content).toBe("[REDACTED:EMAIL] again");
  });

  describe("through the chain: clean for every rule, or not kept", () => {
    // The chain as the engine runs it on a request, with the compiled rules at hand to ask the memo.
    const piiRules = (...sets: string[][]) => {
      const rules = compileRules(configWith([{ id: "gov", rules: sets.map((patterns) => ({ type: "pii_detection", patterns })) }]));
      return {
        rules,
        async checkRequest(body: { model: string; messages: { role: string; content: string }[] }, _op: "chat") {
          const r = await runChainHere(rules, {
            phase: "request",
            segments: requestSegments(body, "chat"),
            guardConversations: () => [],
            askGuard: undefined,
            signal: undefined,
            collectFindings: false,
          });
          return { body: r.segments.map((s) => s.text), events: r.events };
        },
      };
    };
    const scanners = (engine: { rules: ReturnType<typeof compileRules> }) =>
      engine.rules.filter((r): r is CompiledPiiRule => r.kind === "pii_detection").map((r) => r.scanner);
    const chat = (...texts: string[]) => ({ model: "m", messages: texts.map((content) => ({ role: "user", content })) });

    it("remembers a history text no rule found anything in (the memo is in use)", async () => {
      const engine = piiRules(["email"], ["ssn"]);
      const hist = "Please summarise the meeting notes below.";
      await engine.checkRequest(chat(hist, "ok"), "chat");
      for (const s of scanners(engine)) expect(memoHolds(s, hist, false)).toBe(true);
    });

    it("keeps neither half of a value split across two earlier messages", async () => {
      const engine = piiRules(["ssn"]);
      const a = "Sure, my social security number is 123-45-";
      const b = "6789 and that is all.";
      const [scanner] = scanners(engine);
      // Each half alone is clean: a per-text memo would keep both.
      expect(scanSource(scanner!, a, false)).toEqual([]);
      expect(scanSource(scanner!, b, false)).toEqual([]);
      const { events } = await engine.checkRequest(chat(a, b, "thanks"), "chat");
      expect(events.some((e) => e.counts.ssn === 1)).toBe(true);
      expect(memoHolds(scanner!, a, false)).toBe(false);
      expect(memoHolds(scanner!, b, false)).toBe(false);
    });

    it("does not keep, for one rule, a text another rule finds a value in", async () => {
      const engine = piiRules(["email"], ["ssn"]);
      const hist = "My SSN is 123-45-6789";
      const { events } = await engine.checkRequest(chat(hist, "ok"), "chat");
      expect(events.some((e) => e.counts.ssn === 1)).toBe(true);
      for (const s of scanners(engine)) expect(memoHolds(s, hist, false)).toBe(false);
    });

    it("forgets a remembered text once a later request shows it starts a value", async () => {
      const engine = piiRules(["ssn"]);
      const [scanner] = scanners(engine);
      const a = "Sure, my social security number is 123-45-";
      await engine.checkRequest(chat(a, "hello there", "thanks"), "chat");
      expect(memoHolds(scanner!, a, false)).toBe(true);
      const { body, events } = await engine.checkRequest(chat(a, "6789 and that is all.", "thanks"), "chat");
      expect(events.some((e) => e.counts.ssn === 1)).toBe(true);
      expect(JSON.stringify(body)).not.toContain("123-45-");
      expect(memoHolds(scanner!, a, false)).toBe(false);
    });
  });
});

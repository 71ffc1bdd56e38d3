import { describe, expect, it } from "vitest";
import { compilePolicyEngine, scanPool } from "../../src/policy/index.js";
import { type CompiledPiiRule } from "../../src/policy/compiled-rule.js";
import { compiledRule } from "../../src/policy/pool/scan-jobs.js";
import { memoHolds } from "../../src/policy/scan/index.js";
import { configWith } from "./helpers.js";

// The scan memo (scan-memo.ts) remembers a history text as clean only when no rule of the chain
// found anything in it. A large body's chain runs in parts, one job per run of rules between
// guard-model rules (chain-offload.ts; held-chain.ts for the OpenAI route's held bodies): each part
// used to settle the memo alone, so with [email] → [guard model] → [ssn] the email rule's scanner
// remembered a text the ssn rule then redacted a value in (found by a review). Jobs run on this
// thread here (the pool is closed), so the memo each rule's scanner keeps can be asked.

describe("the scan memo when the chain runs in parts", () => {
  it("does not keep a history text a PII rule in a later part finds a value in", async () => {
    await scanPool().close();
    const rules = [
      { type: "pii_detection", id: "mail", action: "redact", patterns: ["email"] },
      { type: "content_filter", id: "guard", engine: "llama_guard", target: "g", fail_open: true, categories: ["violence"] },
      { type: "pii_detection", id: "ssn", action: "redact", patterns: ["ssn"] },
    ];
    const config = configWith([{ id: "gov", rules }]);
    const engine = compilePolicyEngine(config);
    const history = "Sure, my social security number is 123-45-6789, keep it safe.";
    const clean = "The committee will meet again on Thursday.";
    // Over 32 Ki characters: the chain is offloaded, in parts around the guard-model rule.
    const filler = "The committee met on Tuesday to review the quarterly figures. ".repeat(700);
    const body = { model: "m", messages: [{ role: "user", content: history }, { role: "assistant", content: clean }, { role: "user", content: filler }] };
    const r = await engine.startRequest(body as never, "chat");
    expect((r.body as { messages: { content: string }[] }).messages[0]!.content).toContain("[REDACTED:SSN]");
    const scannerOf = (index: number) => (compiledRule({ policy: "gov", index, rule: config.policies[0]!.rules[index]! }) as CompiledPiiRule).scanner;
    // Neither rule's scanner keeps the text with the SSN; a text clean for every rule may be kept.
    expect(memoHolds(scannerOf(0), history, false)).toBe(false);
    expect(memoHolds(scannerOf(2), history, false)).toBe(false);
    // The whole chain's last part may remember what no rule found anything in (the memo still works).
    expect(memoHolds(scannerOf(2), clean, false)).toBe(true);
  });
});

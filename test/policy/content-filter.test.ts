import { describe, expect, it } from "vitest";
import { contentCategories } from "../../src/config/index.js";
import { defaultThresholds, judgeText } from "../../src/policy/content/index.js";
import { benignPatterns, harmfulEntries } from "../fixtures/lexicon/index.js";
import { benign, harmful } from "./content-corpus.js";

/** Categories the built-in engine (the classifier, `engine: builtin`) blocks at its default thresholds. */
function blocked(text: string): string[] {
  return [...judgeText(text, contentCategories, defaultThresholds()).fired];
}

describe("built-in content filter (the classifier at its default thresholds)", () => {
  it("has no false positives on benign sentences that share the vocabulary", () => {
    expect(benign.length).toBeGreaterThanOrEqual(30);
    const fps = benign.filter((t) => blocked(t).length > 0);
    expect(fps).toEqual([]);
  });

  it("blocks harmful sentences in the right category (recall ≥ 90%)", () => {
    expect(harmful.length).toBeGreaterThanOrEqual(20);
    const hits = harmful.filter((h) => blocked(h.text).includes(h.category));
    const missed = harmful.filter((h) => !hits.includes(h)).map((h) => h.text);
    expect(hits.length / harmful.length, JSON.stringify(missed)).toBeGreaterThanOrEqual(0.9);
    // Report for humans reading the run.
    console.log(`content filter: FP 0/${benign.length}, recall ${hits.length}/${harmful.length}`, missed);
  });

  it("does not block a long text on vocabulary alone", () => {
    const essay = "The war saw many killed; soldiers were shot, towns bombed, and prisoners executed. ".repeat(20);
    expect(blocked(essay)).toEqual([]);
  });
});

// The phrase lexicon (test/fixtures/lexicon) is no longer a product engine: the classifier replaced
// it as `engine: builtin`. It stays as the scanner tests' largest recogniser set (required
// literals, first words, the frontier); its patterns must stay bounded for those.
describe("phrase lexicon", () => {
  it("keeps every quantifier bounded", () => {
    for (const p of [...harmfulEntries.map((x) => x.pattern), ...benignPatterns]) {
      expect(p).not.toMatch(/(?<!\\)[+*]|\{\d+,\}/);
    }
  });
});

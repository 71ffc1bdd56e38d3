import { describe, expect, it } from "vitest";
import { DEFAULT_THRESHOLD, harmfulEntries, benignPatterns, scoreText } from "../../src/policy/content/index.js";
import { benign, harmful } from "./content-corpus.js";


function blocked(text: string): string[] {
  const { scores } = scoreText(text);
  return Object.entries(scores)
    .filter(([, s]) => (s ?? 0) >= DEFAULT_THRESHOLD)
    .map(([c]) => c);
}

describe("built-in content filter", () => {
  it("has no false positives on benign sentences that share the vocabulary", () => {
    expect(benign.length).toBeGreaterThanOrEqual(30);
    const fps = benign.filter((t) => blocked(t).length > 0);
    expect(fps).toEqual([]);
  });

  it("blocks harmful sentences in the right category (recall ≥ 90%)", () => {
    expect(harmful.length).toBeGreaterThanOrEqual(20);
    const hits = harmful.filter((h) => blocked(h.text).includes(h.category));
    const recall = hits.length / harmful.length;
    const missed = harmful.filter((h) => !hits.includes(h)).map((h) => h.text);
    expect({ recall: recall >= 0.9, missed }).toEqual({ recall: true, missed: expect.any(Array) });
    // Report for humans reading the run.
    console.log(`content filter: FP 0/${benign.length}, recall ${hits.length}/${harmful.length}`, missed);
  });

  it("does not block a long text on vocabulary alone", () => {
    const essay = "The war saw many killed; soldiers were shot, towns bombed, and prisoners executed. ".repeat(20);
    expect(blocked(essay)).toEqual([]);
    expect(scoreText(essay).scores.violence).toBeGreaterThan(0);
  });

  it("keeps every lexicon quantifier bounded, so the stream guard's hold-back is a true bound", () => {
    for (const p of [...harmfulEntries.map((x) => x.pattern), ...benignPatterns]) {
      expect(p).not.toMatch(/(?<!\\)[+*]|\{\d+,\}/);
    }
  });
});

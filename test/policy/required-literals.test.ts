import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { benignPatterns, harmfulEntries, lexicon, lexiconSpec, scoreText } from "../fixtures/lexicon/index.js";
import { compileScanner, prefilterFor, requiredLiterals } from "../../src/policy/scan/index.js";
import { benign as benignSentences, harmful as harmfulSentences } from "./content-corpus.js";

describe("required literals", () => {
  it("finds the literal every match contains", () => {
    expect(requiredLiterals("kill(?:s|ed|ing)?")).toEqual(["kill"]);
    // Not "how", "to" or "him": everyday words would let almost every text through.
    const verbs = requiredLiterals("(?:how|where) to (?:stab|poison) (?:him|her)")!;
    expect(verbs).toHaveLength(2);
    expect(verbs.filter((x) => x.includes(" stab")).length + verbs.filter((x) => x.includes(" poison")).length).toBe(2);
  });

  it("has no literal for a pattern that can match without one", () => {
    expect(requiredLiterals("(?:abc)?")).toBeUndefined();
    expect(requiredLiterals("[a-z]+")).toBeUndefined();
    expect(requiredLiterals("(a)\\1")).toBeUndefined();
    // One option without a literal is enough to leave the whole alternation without one.
    expect(requiredLiterals("poison|[0-9]{3}")).toBeUndefined();
  });

  it("keeps the word boundaries a pattern guarantees, and the prefilter honours them", () => {
    const re = prefilterFor(["\\bguns?\\b"], "i")!;
    expect(re).toBeDefined();
    expect(re.test("a GUN here")).toBe(true);
    expect(re.test("guns.")).toBe(true);
    expect(re.test("it has begun")).toBe(false);
    expect(re.test("gunk in the pipe")).toBe(false);
  });

  it("never drops a text the pattern matches (review findings: ranges, legacy escapes, astral characters, u flag)", () => {
    const cases: [string, string][] = [
      ["\\bpoison[ -~]", "poisonX"],
      ["(?:\\x|poison)s", "xs"],
      ["\\x|abcdef|killer", "x"],
      ["\\c|abcdef|killer", "\\c"],
      ["a\\012345678", "a\n345678"],
      ["stab\u{1F600}{2}", "stab\uD83D\uDE00\uDE00"],
    ];
    for (const [pattern, text] of cases) {
      expect(new RegExp(pattern, "i").test(text), pattern).toBe(true);
      const scanner = compileScanner([{ type: "t", pattern, maxLength: 64 }], { ignoreCase: true });
      expect(scanner.scan(text), pattern).toHaveLength(1);
    }
    expect(prefilterFor(["killſ"], "iu")).toBeUndefined();
  });

  it("builds no prefilter when a pattern's only literals are everyday words", () => {
    expect(prefilterFor(["how to (?:do|make) it"], "i")).toBeUndefined();
    expect(prefilterFor(["\\bpoison\\b", "(?:abc)?"], "i")).toBeUndefined();
  });

  it("the built-in lexicon has a prefilter, and it passes over an ordinary request untouched", () => {
    const { harmful } = lexicon();
    expect(harmful.prefilter).toBeDefined();
    expect(harmful.prefilter!.test("Please update the billing contact to jane.doe@example.com and charge card 4111 1111 1111 1111.")).toBe(false);
    for (const h of harmfulSentences) expect(harmful.prefilter!.test(h.text.replace(/\u2019/g, "'")), h.text).toBe(true);
  });

  /** Words of the lexicon's own patterns, so random texts land on its phrases and their near misses. */
  const vocabulary = [
    ...new Set(
      [...harmfulEntries.map((e) => e.pattern), ...benignPatterns]
        .join(" ")
        .replace(/\(\?[:!=<]+|\\[bws]|\[[^\]]*\]|\{[^}]*\}|[()?*+|]/g, " ")
        .split(/\s+/)
        .filter((w) => /^[a-z'-]{2,}$/.test(w)),
    ),
  ];
  const texts = fc
    .array(
      fc.oneof(
        fc.constantFrom(...vocabulary),
        fc.constantFrom(...vocabulary).map((w) => w.toUpperCase()),
        fc.constantFrom(...harmfulSentences.map((h) => h.text), ...benignSentences),
        fc.constantFrom(" ", " ", " ", ", ", ". ", "\n", "-", "'", "s", "ing", "be", "un", "x", "_", "7", "é", "\u2019", "\u00a0"),
      ),
      { maxLength: 40 },
    )
    .map((parts) => parts.join(""));

  it("the lexicon finds exactly what it finds without the prefilter and the first-pairs table (property, 3,000 texts)", () => {
    const spec = lexiconSpec();
    // The combined regex tried at every position: what the prefilter and the table may only speed up.
    const plain = {
      harmful: compileScanner(spec.harmful.recognisers, { ...spec.harmful.options, prefilter: false, dispatch: false }),
      benign: compileScanner(spec.benign.recognisers, { ...spec.benign.options, prefilter: false, dispatch: false }),
    };
    const fast = lexicon();
    expect(plain.harmful.prefilter).toBeUndefined();
    expect(fast.benign.prefilter).toBeDefined();
    let found = 0;
    fc.assert(
      fc.property(texts, (text) => {
        const h = plain.harmful.scan(text);
        found += h.length;
        expect(fast.harmful.scan(text)).toEqual(h);
        expect(fast.benign.scan(text)).toEqual(plain.benign.scan(text));
      }),
      { numRuns: 3000 },
    );
    // The generator reaches the lexicon's phrases, so the equality above is not only over empty results.
    expect(found).toBeGreaterThan(1000);
  });

  it("scores the corpus exactly as before", () => {
    for (const h of harmfulSentences) expect(Object.keys(scoreText(h.text).scores), h.text).toContain(h.category);
  });
});

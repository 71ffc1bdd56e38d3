import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { benignPatterns, harmfulEntries, lexiconSpec, scoreText, WEAK_CAP } from "../fixtures/lexicon/index.js";
import { firstWords, wordPrefixes } from "../../src/policy/scan/first-words.js";
import { compileScanner, type Recogniser } from "../../src/policy/scan/index.js";
import { benign as benignSentences, harmful as harmfulSentences } from "./content-corpus.js";

const sorted = (s: Set<string> | undefined) => (s === undefined ? undefined : [...s].sort());

describe("first words", () => {
  it("lists the words a pattern's matches begin with", () => {
    const fw = firstWords("\\b(?:how (?:do|can) i|i(?:'m| am) going to|let's)\\b", "i")!;
    expect(sorted(fw.words)).toEqual(["how", "i", "let"]);
    expect(fw.whole).toBe(false);
    expect(sorted(firstWords("\\b(?:step[- ]?by)\\b", "i")!.words)).toEqual(["step", "stepby"]);
    expect(sorted(firstWords("\\b(?:KILL|Shoot)s? it\\b", "i")!.words)).toEqual(["kill", "kills", "shoot", "shoots"]);
    expect(sorted(firstWords("\\b(?:KILL) it\\b", "")!.words)).toEqual(["KILL"]);
    expect(firstWords("\\b(?:[0-9]{1,2}[- ]year)\\b", "i")!.words.size).toBe(10 + 100);
  });

  it("marks patterns whose matches are exactly single words", () => {
    expect(firstWords("\\b(?:kill(?:s|ed|ing)?)\\b", "i")).toEqual({ words: new Set(["kill", "kills", "killed", "killing"]), whole: true });
    expect(firstWords("\\b(?:kill(?:s|ed|ing)? it)\\b", "i")!.whole).toBe(false);
    expect(firstWords("\\b(?:kill(?=er))\\b", "i")?.whole ?? false).toBe(false);
    // A match may stop in the middle of the word: no boundary after it.
    expect(firstWords("\\b(?:kill)", "i")).toBeUndefined();
  });

  it("lists the first few words of each match, leaving free what cannot be listed", () => {
    const ps = (p: string, d: number) => wordPrefixes(p, "i", d)?.map((x) => x.join(" ")).sort();
    expect(ps("\\b(?:how (?:to|do i) kill|let's go)\\b", 3)).toEqual(["how do i", "how to kill", "let s go"]);
    expect(ps("\\b(?:kill (?:him|her))\\b", 4)).toEqual(["kill her", "kill him"]);
    // A word of any letters: the words before it are all that is known.
    expect(ps("\\b(?:kill (?:the )?[\\w'-]{1,24} process)\\b", 4)).toEqual(["kill", "kill the"]);
    // The match may end after one word: only that word is known.
    expect(ps("\\b(?:kill(?: it)?)\\b", 2)).toEqual(["kill", "kill it"]);
    expect(wordPrefixes("\\b(?:kill (?:[0-9]{1,2} ){0,3}x)\\b", "i", 4)).toBeUndefined();
  });

  it("gives no list when a match may begin with a non-word character or the words are too many", () => {
    expect(firstWords("\\b(?:-?\\d+ kill)\\b", "i")).toBeUndefined();
    expect(firstWords("\\b(?:[\\w'-]{1,24} kill)\\b", "i")).toBeUndefined();
    expect(firstWords("\\b(?:(?:a )?)\\b", "i")).toBeUndefined();
    expect(firstWords("\\b(?:a+ b)\\b", "i")).toBeUndefined();
    expect(firstWords("\\b(?:(a)\\1)\\b", "i")).toBeUndefined();
  });

  it("every lexicon pattern has a list, and its matches begin with a listed word (corpus)", () => {
    const spec = lexiconSpec();
    for (const r of [...spec.harmful.recognisers, ...spec.benign.recognisers]) {
      const fw = firstWords(`\\b(?:${r.pattern})`, "i");
      expect(fw, r.pattern).toBeDefined();
      const re = new RegExp(`\\b(?:${r.pattern})`, "gi");
      for (const t of [...harmfulSentences.map((h) => h.text), ...benignSentences])
        for (const m of t.replace(/\u2019/g, "'").matchAll(re)) expect(fw!.words.has(/^\w+/.exec(m[0])![0].toLowerCase()), m[0]).toBe(true);
    }
  });
});

/** Words of the lexicon's own patterns, so random texts land on its phrases and their near misses. */
const vocabulary = [
  ...new Set(
    [...harmfulEntries.map((e) => e.pattern), ...benignPatterns]
      .join(" ")
      .replace(/\(\?[:!=<]+|\\[bws]|\[[^\]]*\]|\{[^}]*\}|[()?*+|]/g, " ")
      .split(/\s+/)
      .filter((w) => /^[a-z'-]{1,}$/.test(w)),
  ),
];
const separators = [" ", " ", " ", ", ", ". ", "\n", "-", "'", "’", "s", "ing", "x", "_", "7", "12 ", "é", "\u00a0", "  "];
const lexiconTexts = fc
  .array(
    fc.oneof(
      fc.constantFrom(...vocabulary),
      fc.constantFrom(...vocabulary).map((w) => w.toUpperCase()),
      fc.constantFrom(...vocabulary).map((w) => w[0]!.toUpperCase() + w.slice(1)),
      fc.constantFrom(...harmfulSentences.map((h) => h.text), ...benignSentences),
      fc.constantFrom(...separators),
    ),
    { maxLength: 50 },
  )
  .map((parts) => parts.join(""))
  // Repeated shapes (the worst inputs are repetitions of a phrase's opening).
  .chain((t) => fc.oneof(fc.constant(t), fc.integer({ min: 2, max: 6 }).map((k) => t.repeat(k))));

function variants(recognisers: Recogniser[], options: object) {
  return {
    plain: compileScanner(recognisers, { ...options, prefilter: false, dispatch: false }),
    pairs: compileScanner(recognisers, { ...options, wordDispatch: false }),
    words: compileScanner(recognisers, options),
  };
}

describe("the word table finds exactly what the combined regex finds", () => {
  it("content lexicon, harmful and benign (property, 600 texts)", () => {
    const spec = lexiconSpec();
    const h = variants(spec.harmful.recognisers, spec.harmful.options);
    const b = variants(spec.benign.recognisers, spec.benign.options);
    let found = 0;
    fc.assert(
      fc.property(lexiconTexts, (raw) => {
        const text = raw.replace(/\u2019/g, "'");
        const want = h.plain.scan(text);
        found += want.length;
        expect(h.words.scan(text)).toEqual(want);
        expect(h.pairs.scan(text)).toEqual(want);
        const wantB = b.plain.scan(text);
        expect(b.words.scan(text)).toEqual(wantB);
        expect(b.pairs.scan(text)).toEqual(wantB);
      }),
      { numRuns: 600 },
    );
    expect(found).toBeGreaterThan(600);
  }, 180_000);

  it("random word patterns: optional words, apostrophes, digits, overlapping openings (property)", () => {
    const word = fc.constantFrom("a", "an", "i", "kill", "killer", "k", "how", "to", "it", "don", "t", "s", "12");
    const piece = fc.oneof(
      word,
      fc.tuple(word, word).map(([x, y]) => `(?:${x}|${y})`),
      word.map((x) => `(?:${x} )?`),
      word.map((x) => `${x}s?`),
      fc.constantFrom("'?", "[- ]", " ", " ", "[0-9]{1,2}", "(?:'| )"),
    );
    // Later pieces may be a word of any letters (the prefix lists stop there).
    const later = fc.oneof(piece, piece, fc.constantFrom("[\\w'-]{1,6} ", "(?:[\\w'-]{1,6} )?"));
    const pattern = fc
      .tuple(fc.oneof(word, word.map((x) => `${x}s?`)), fc.array(later, { maxLength: 5 }))
      .map(([first, ps]) => first + ps.join(""));
    const text = fc
      .array(fc.oneof(word, fc.constantFrom(" ", " ", "'", "-", "K", "IT", "é", "_", "3")), { maxLength: 30 })
      .map((xs) => xs.join(""));
    fc.assert(
      fc.property(fc.array(pattern, { minLength: 16, maxLength: 24 }), fc.array(text, { minLength: 1, maxLength: 8 }), fc.boolean(), (patterns, texts, firstMatch) => {
        const recognisers = patterns.map((p, i) => ({ type: `t${i}`, pattern: `(?:${p})\\b`, maxLength: 200 }));
        const v = variants(recognisers, { ignoreCase: true, prefix: "\\b", firstMatch });
        for (const t of texts) {
          const want = v.plain.scan(t);
          expect(v.words.scan(t)).toEqual(want);
          expect(v.pairs.scan(t)).toEqual(want);
        }
      }),
      { numRuns: 200 },
    );
  }, 120_000);
});

describe("scoreText", () => {
  it("scores and matches exactly as the plain scanners and a per-object tally do (property)", () => {
    const spec = lexiconSpec();
    const harmful = compileScanner(spec.harmful.recognisers, { ...spec.harmful.options, prefilter: false, dispatch: false });
    const benign = compileScanner(spec.benign.recognisers, { ...spec.benign.options, prefilter: false, dispatch: false });
    const ordered = [...harmfulEntries].sort((a, b) => b.weight - a.weight);
    function reference(text: string) {
      const t = text.replace(/[\u2018\u2019]/g, "'");
      const b = benign.scan(t);
      const strong: Record<string, number> = {};
      const weak: Record<string, number> = {};
      const matches: object[] = [];
      for (const f of harmful.scan(t)) {
        if (b.some((x) => x.start < f.end && x.end > f.start)) continue;
        const e = ordered[f.recogniser]!;
        if (e.weight >= 0.5) strong[e.category] = (strong[e.category] ?? 0) + e.weight;
        else weak[e.category] = (weak[e.category] ?? 0) + e.weight;
        matches.push({ category: e.category, weight: e.weight, start: f.start, end: f.end });
      }
      const scores: Record<string, number> = {};
      for (const m of matches as { category: string }[]) scores[m.category] = (strong[m.category] ?? 0) + Math.min(WEAK_CAP, weak[m.category] ?? 0);
      return { scores: Object.entries(scores), matches };
    }
    fc.assert(
      fc.property(lexiconTexts, (text) => {
        const got = scoreText(text);
        // Entries in order: the keys' order is part of what callers see (JSON, audit).
        expect({ scores: Object.entries(got.scores), matches: got.matches }).toEqual(reference(text));
        expect(got.found.length).toBe(got.matches.length);
      }),
      { numRuns: 500 },
    );
  }, 120_000);
});

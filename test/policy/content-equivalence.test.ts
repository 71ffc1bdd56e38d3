import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { buildCorpus } from "../../scripts/content/corpus.js";
import { everyday, handBenign, handHarmful } from "../../scripts/content/eval-sets.js";
import { prose } from "../../bench/prose.js";
import { ContentClassifier, defaultClassifier, defaultThresholds, judgeText, verdictOf } from "../../src/policy/content/index.js";
import { contentCategories, type ContentCategory } from "../../src/config/index.js";
import { featuresOf } from "../../src/policy/content/features.js";
import { foldText } from "../../src/policy/content/content-text.js";
import { foldText as referenceFoldText } from "./content-reference/content-text.js";
import { ReferenceClassifier } from "./content-reference/classifier.js";
import { featuresOf as referenceFeaturesOf } from "./content-reference/features.js";
import { cutText } from "../helpers/cut-text.js";

/**
 * The content classifier's fast path (word sums cached per model, features hashed from reused
 * buffers, no per-call allocation) against a frozen copy of the implementation it replaced
 * (test/policy/content-reference/): every score must be the same double, bit for bit, on random
 * texts of every kind, on the project's own evaluation sets, and streamed in random pieces.
 */
const model = defaultClassifier();
const fast = new ContentClassifier(model);
const oracle = new ReferenceClassifier(model);

/** Index of the first category whose score differs (Object.is: -0, NaN and every bit count), or -1. */
function firstDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return 0;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return i;
  return -1;
}

function expectSameScores(text: string): void {
  const want = oracle.score(text);
  const got = fast.score(text);
  const at = firstDifference(got, want);
  if (at !== -1) expect({ text: text.slice(0, 200), category: at, got: got[at] }).toEqual({ text: text.slice(0, 200), category: at, got: want[at] });
}

// Words the model knows (harmful and benign vocabulary), words it does not, and the spellings the
// reader folds: leet, letters spelled apart, apostrophes, accents, full-width forms, invisible marks.
const vocabulary = [
  ...new Set(
    [...everyday, ...handBenign, ...handHarmful.map((h) => h.text)]
      .join(" ")
      .split(/\s+/)
      .filter((w) => w.length > 0),
  ),
];
const spelling = fc.constantFrom(
  "b0mb", "k!ll", "m3th", "p i p e", "b-o-m-b", "p.i.p.e", "don't", "it’s", "café", "naïve", "ｐｉｐｅ", "pi\u200bpe", "bo\u00admb",
  "ﬁle", "Ｋｉｌｌ", "раураl", "漢字仮名", "😀", "a\u0301", "\ud800", "\udc00x", "e@sy", "$ex", "x", "I", "4", "1.2.3", "a'b'c",
  "abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnop", "supercalifragilistic", "antidisestablishmentarianism",
);
const separator = fc.constantFrom(" ", " ", " ", "  ", "\n", "\n\n", "\t", "-", ". ", ", ", ": ", "? ", "! ", "; ", ".", ",", "'", "’", "_", "*", "/", " - ", "\u200b", "\u3000");
const word = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...vocabulary) },
  { weight: 2, arbitrary: spelling },
  { weight: 1, arbitrary: fc.string({ unit: "grapheme", maxLength: 12 }) },
  { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 8 }) },
  { weight: 1, arbitrary: fc.stringMatching(/^[a-z0-9]{1,50}$/) },
);
const wordyText = fc
  .array(fc.tuple(word, separator), { maxLength: 120 })
  .map((parts) => parts.map(([w, s]) => w + s).join(""));
/** Every kind of text: word salad, raw ASCII, any Unicode (lone surrogates too), and empty. */
const anyText = fc.oneof(
  { weight: 5, arbitrary: wordyText },
  { weight: 1, arbitrary: fc.string({ unit: "grapheme-ascii", maxLength: 300 }) },
  { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 300 }) },
  { weight: 1, arbitrary: fc.string({ unit: fc.constantFrom(..."ab 1!@$'.-\n\u200bé"), maxLength: 300 }) },
  { weight: 1, arbitrary: fc.constant("") },
);

describe("content classifier: the fast path scores exactly as the reference", () => {
  it("on random texts of every kind (property, bit-identical scores)", () => {
    fc.assert(
      fc.property(anyText, (text) => expectSameScores(text)),
      { numRuns: 3000 },
    );
  });

  it("on long random texts: many blocks and sentences, words cached and evicted (property)", () => {
    const long = fc.array(wordyText, { minLength: 5, maxLength: 40 }).map((parts) => parts.join(" "));
    fc.assert(
      fc.property(long, (text) => expectSameScores(text)),
      { numRuns: 150 },
    );
  });

  it("on the project's evaluation sets: every generated text, hand-written and everyday prompts", () => {
    const texts = [...buildCorpus().map((e) => e.text), ...everyday, ...handBenign, ...handHarmful.map((h) => h.text)];
    expect(texts.length).toBeGreaterThan(10_000);
    for (const t of texts) expectSameScores(t);
    // ~95,000 texts: about 10 s on a quiet machine, building the corpus most of it.
  }, 120_000);

  it("on long texts: prose with PII, each shape of the per-byte bench, very long words, a text longer than the word cache", () => {
    const manyWords = Array.from({ length: 20_000 }, (_, i) => "w" + i.toString(36)).join(" ");
    for (const t of [
      prose(300_000),
      "kill ".repeat(20_000),
      "p i p e  b o m b  ".repeat(3_000),
      "k!ll b0mb ".repeat(5_000),
      "élève café naïve ".repeat(4_000),
      "漢字仮名交じり文 ".repeat(4_000),
      "x".repeat(100_000),
      "abcdefghijklmnopqrstu ".repeat(4_000),
      "a ".repeat(30_000),
      manyWords,
    ])
      expectSameScores(t);
  });

  it("streamed in random pieces: the same scores, cleared and settled offsets, open-window scores, folded lengths", () => {
    const fastStream = new ContentClassifier(model);
    const openA = new Float64Array(8);
    const openB = new Float64Array(8);
    fc.assert(
      fc.property(wordyText, fc.array(fc.nat(400), { maxLength: 12 }), (text, cuts) => {
        const pieces = cutText(text, cuts);
        fastStream.begin();
        oracle.begin();
        pieces.forEach((piece, i) => {
          const final = i === pieces.length - 1;
          expect(fastStream.push(piece, final)).toBe(oracle.push(piece, final));
          expect(firstDifference(fastStream.scores, oracle.scores)).toBe(-1);
          expect(fastStream.cleared).toBe(oracle.cleared);
          expect(fastStream.settled).toBe(oracle.settled);
          if (!final) expect(firstDifference(fastStream.openScores(openA), oracle.openScores(openB))).toBe(-1);
        });
      }),
      { numRuns: 600 },
    );
  });

  it("gives training the same feature buckets, in the same order", () => {
    fc.assert(
      fc.property(anyText, (text) => {
        expect(Array.from(featuresOf(text, model.bits))).toEqual(Array.from(referenceFeaturesOf(text, model.bits)));
      }),
      { numRuns: 1000 },
    );
  });

  it("folds text as NFKD without marks and format characters: no kept character reorders, every code point in context, random text", () => {
    // The table fold relies on this: NFKD reorders only characters with a nonzero combining class,
    // and each of them is removed. A character kept by the fold with a nonzero class would move
    // past a mark: probes of class 1 (U+0334) after it and of class 230 (U+0301) before it.
    const kept: string[] = [];
    for (let cp = 0x80; cp <= 0x10ffff; cp++) {
      if (cp >= 0xd800 && cp <= 0xdfff) continue;
      const c = String.fromCodePoint(cp);
      if (/[\p{M}\p{Cf}]/u.test(c) || c.normalize("NFKD") !== c) continue;
      if ((c + "\u0334").normalize("NFKD") !== c + "\u0334" || ("\u0301" + c).normalize("NFKD") !== "\u0301" + c) kept.push(cp.toString(16));
    }
    expect(kept).toEqual([]);
    for (let cp = 0; cp <= 0xffff; cp++) {
      const t = "x" + String.fromCharCode(cp) + "\u0301y" + String.fromCharCode(cp) + "\u0316";
      if (foldText(t) !== referenceFoldText(t)) expect([cp, foldText(t)]).toEqual([cp, referenceFoldText(t)]);
    }
    const marks = fc.constantFrom("\u0301", "\u0316", "\u0334", "\u05b0", "\u200b", "\u00ad", "\ufe0f", "\u20dd");
    const piece = fc.oneof(fc.string({ unit: "binary", maxLength: 6 }), marks, fc.constantFrom("ﷺ", "ﬁ", "Å", "한", "😀", "\ud800", "\udc00", "ｐ", "x"));
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 40 }), (parts) => {
        const t = parts.join("");
        expect(foldText(t)).toBe(referenceFoldText(t));
      }),
      { numRuns: 3000 },
    );
    const long = "élève café naïve ﷺ \ud800 x\udc00 😀 ｐｉｐｅ ".repeat(40_000);
    expect(foldText(long) === referenceFoldText(long)).toBe(true);
    // Long texts are found to be ASCII by their UTF-8 length: one other unit anywhere, a lone
    // surrogate included, must still be folded (at the very end, at the start, around the length
    // where the check changes).
    for (const n of [511, 512, 513, 40_000])
      for (const odd of ["", "\ud800", "\udc00", "é", "\u0301", "😀", "\u0080", "\u007f", "\u00ad", "ﬁ"])
        for (const t of ["x".repeat(n) + odd, odd + "y".repeat(n), "a b ".repeat(n >> 2) + odd + " c"]) expect(foldText(t) === referenceFoldText(t)).toBe(true);
  }, 120_000);
});

/**
 * A built-in rule reads only which categories fired (and, when one did, the deciding score):
 * judgeText(…, firedOnly) lets the classifier skip windows that cannot reach the lowest threshold.
 * Against the reference's full scores read by the same verdictOf: the same categories fire, and
 * when any does, the same top category, score, threshold and max.
 */
describe("content classifier: a fired-only verdict is the reference's verdict", () => {
  const categories = [...contentCategories];
  function expectSameFired(text: string, asked: readonly ContentCategory[], thresholds: Record<ContentCategory, number>): boolean {
    const want = verdictOf(oracle.score(text), asked, thresholds);
    const got = judgeText(text, asked, thresholds, true);
    expect(got.fired).toEqual(want.fired);
    if (want.fired.length > 0) {
      expect(got.top).toEqual(want.top);
      expect(Object.is(got.max, want.max)).toBe(true);
    }
    // True when the skip showed: nothing fired and the fired-only read stayed below the full one.
    return want.fired.length === 0 && got.max < want.max;
  }
  const asked = fc.subarray(categories, { minLength: 1 });
  const threshold = fc.oneof(
    { weight: 4, arbitrary: fc.double({ min: 1e-6, max: 1, noNaN: true }) },
    { weight: 2, arbitrary: fc.double({ min: 1e-4, max: 0.05, noNaN: true }) },
    { weight: 1, arbitrary: fc.constantFrom(0, -0, 1, 1.5, 1e-300, 0.9995, Number.MIN_VALUE) },
  );
  const thresholdsOf = fc.tuple(...categories.map(() => threshold)).map((ts) => Object.fromEntries(categories.map((c, i) => [c, ts[i]!])) as Record<ContentCategory, number>);

  it("on random texts, categories and thresholds (property)", () => {
    fc.assert(
      fc.property(anyText, asked, thresholdsOf, (text, a, t) => {
        expectSameFired(text, a, t);
      }),
      { numRuns: 3000 },
    );
  });

  it("on the evaluation sets with the model's thresholds and lowered ones, and it does skip where nothing fires", () => {
    const texts = [...everyday, ...handBenign, ...handHarmful.map((h) => h.text), ...buildCorpus().slice(0, 3000).map((e) => e.text)];
    const model = defaultThresholds();
    const lowered = Object.fromEntries(categories.map((c) => [c, model[c] / 4])) as Record<ContentCategory, number>;
    let skipped = 0;
    let fired = 0;
    for (const t of texts)
      for (const th of [model, lowered]) {
        if (expectSameFired(t, categories, th)) skipped++;
        if (judgeText(t, categories, th, true).fired.length > 0) fired++;
      }
    expect(fired).toBeGreaterThan(100);
    expect(skipped).toBeGreaterThan(100);
  }, 120_000);
});

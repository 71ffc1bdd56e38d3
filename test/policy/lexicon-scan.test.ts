import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { benignPatterns, compileLexiconScan, harmfulEntries, lexicon, lexiconScan, lexiconSpec, requiredWords, scoreText } from "../fixtures/lexicon/index.js";
import { compileScanner, PackedFindings, type Recogniser } from "../../src/policy/scan/index.js";
import { benign as benignSentences, harmful as harmfulSentences } from "./content-corpus.js";

/** The lexicon's words, so random texts land on its phrases, their near misses and their required words. */
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
const word = fc.oneof(
  fc.constantFrom(...vocabulary),
  fc.constantFrom(...vocabulary).map((w) => w.toUpperCase()),
  fc.constantFrom(...vocabulary).map((w) => w[0]!.toUpperCase() + w.slice(1)),
);
const texts = fc.oneof(
  // Words with separators, and whole corpus sentences.
  fc.array(fc.oneof(word, fc.constantFrom(...harmfulSentences.map((h) => h.text), ...benignSentences), fc.constantFrom(...separators)), { maxLength: 60 }).map((p) => p.join("")),
  // Dense: nothing but words, one space apart (every word a first word of some phrase).
  fc.array(word, { maxLength: 120 }).map((p) => p.join(" ")),
  // A phrase's opening, filler of any length, then a word it requires (the required-word window's edges).
  fc
    .tuple(word, fc.array(fc.constantFrom("a", "the", "kill", "x", "it's", "a-b", "1", "123456789012345678901234"), { maxLength: 90 }), word)
    .map(([a, fill, b]) => [a, ...fill, b].join(" ")),
);

function plain(recognisers: Recogniser[], options: object) {
  return compileScanner(recognisers, { ...options, prefilter: false, dispatch: false });
}

const triples = (p: PackedFindings) => Array.from(p.data.subarray(0, p.length * 3));

describe("the lexicon's one pass finds exactly what its two scanners find", () => {
  const spec = lexiconSpec();
  const harmful = plain(spec.harmful.recognisers, spec.harmful.options);
  const benign = plain(spec.benign.recognisers, spec.benign.options);
  const { both } = lexiconScan();
  const outs = [new PackedFindings(), new PackedFindings()];
  const check = (raw: string) => {
    const text = raw.replace(/[\u2018\u2019]/g, "'");
    both.scan(text, outs);
    expect(triples(outs[0]!), text).toEqual(triples(harmful.scanPacked(text)));
    expect(triples(outs[1]!), text).toEqual(triples(benign.scanPacked(text)));
    return outs[0]!.length + outs[1]!.length;
  };

  it("on random texts of its words, dense lists and phrases with filler (property, 800 texts)", () => {
    let found = 0;
    fc.assert(
      fc.property(texts, (t) => {
        found += check(t);
      }),
      { numRuns: 800 },
    );
    // The texts reach the phrases: several hundred findings (779 in one run; a third of the texts are sparse filler).
    expect(found).toBeGreaterThan(400);
  }, 180_000);

  it("on the corpus, long texts and the per-byte bench's shapes", () => {
    for (const t of [...harmfulSentences.map((h) => h.text), ...benignSentences]) check(t);
    const seeded = (seed: number) => () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    const r = seeded(11);
    const draw = Array.from({ length: 20_000 }, () => vocabulary[Math.floor(r() * vocabulary.length)]).join(" ");
    expect(check(draw)).toBeGreaterThan(1000);
    // bench/shapes.ts's random intent phrases: short words only, so a phrase's span (up to ~150
    // characters) holds 30-70 words, and its required words are looked for across all of them.
    const intents = ["how to", "i want to", "help me", "kill", "hurt", "my", "the", "him", "her", "someone", "make", "a", "bomb", "buy", "meth", "die", "tell me how to", "steal", "counterfeit", "x"];
    const r2 = seeded(25);
    expect(check(Array.from({ length: 20_000 }, () => intents[Math.floor(r2() * intents.length)]).join(" "))).toBeGreaterThan(1000);
    for (const unit of [
      "kill ",
      "kill murder stab shoot bomb attack ",
      "how to kill the ",
      "sex naked nude with ",
      "you are so stupid ",
      "kill the a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a process ",
      "sex x x x x x x x x x x x x x x x x x x x x x x x x x x x x with a minor ",
      "i i i i want to die ",
    ])
      expect(check(unit.repeat(400))).toBeGreaterThan(0);
  }, 60_000);

  it("with random phrase lists: each scan on its own, several scans sharing words (property)", () => {
    const w = fc.constantFrom("a", "an", "i", "kill", "killer", "k", "how", "to", "it", "don", "t", "s", "12");
    const piece = fc.oneof(
      w,
      fc.tuple(w, w).map(([x, y]) => `(?:${x}|${y})`),
      w.map((x) => `(?:${x} )?`),
      w.map((x) => `${x}s?`),
      fc.constantFrom("'?", "[- ]", " ", " ", "[0-9]{1,2}", "(?:'| )", "[\\w'-]{1,6} ", "(?:[\\w'-]{1,6} )?", "(?: [\\w'-]{1,5}){0,3} "),
    );
    const pattern = fc.tuple(fc.oneof(w, w.map((x) => `${x}s?`)), fc.array(piece, { maxLength: 6 })).map(([first, ps]) => first + ps.join(""));
    const text = fc.array(fc.oneof(w, fc.constantFrom(" ", " ", "'", "-", "K", "IT", "é", "_", "3")), { maxLength: 60 }).map((xs) => xs.join(""));
    fc.assert(
      fc.property(
        fc.array(fc.array(pattern, { minLength: 1, maxLength: 20 }), { minLength: 1, maxLength: 3 }),
        fc.array(text, { minLength: 1, maxLength: 6 }),
        (lists, ts) => {
          const scans = lists.map((ps) => ps.map((p, i) => ({ type: `t${i}`, pattern: `(?:${p})\\b`, maxLength: 200 })));
          let one;
          try {
            one = compileLexiconScan(scans);
          } catch {
            return; // a pattern without listable first words: the lexicon has none
          }
          const refs = scans.map((rs) => plain(rs, { ignoreCase: true, prefix: "\\b", firstMatch: true }));
          const outs = scans.map(() => new PackedFindings());
          for (const t of ts) {
            one.scan(t, outs);
            refs.forEach((ref, k) => expect(triples(outs[k]!), `${t} / ${lists[k]!.join(" | ")}`).toEqual(triples(ref.scanPacked(t))));
          }
        },
      ),
      { numRuns: 300 },
    );
  }, 120_000);
});

describe("required words", () => {
  it("every match of a lexicon phrase holds one of its required words, within its span (corpus and dense texts)", () => {
    const spec = lexiconSpec();
    let checked = 0;
    const corpus = [...harmfulSentences.map((h) => h.text), ...benignSentences].map((t) => t.replace(/\u2019/g, "'"));
    for (const r of [...spec.harmful.recognisers, ...spec.benign.recognisers]) {
      const rw = requiredWords(`\\b(?:${r.pattern})`);
      if (rw === undefined) continue;
      const re = new RegExp(`\\b(?:${r.pattern})`, "gi");
      for (const t of corpus)
        for (const m of t.matchAll(re)) {
          expect(m[0].length).toBeLessThanOrEqual(rw.span);
          // Each set has a word that starts no further into the match than the set's bound.
          const words = [...m[0].toLowerCase().matchAll(/[A-Za-z0-9_]+/g)];
          for (const [set, at] of [[rw.words, rw.wordsAt], [rw.also ?? rw.words, rw.also ? rw.alsoAt : rw.wordsAt]] as const)
            expect(words.some((w) => set.has(w[0]) && w.index <= at), `${m[0]} / ${[...set].join(",")} within ${at}`).toBe(true);
          checked++;
        }
    }
    expect(checked).toBeGreaterThan(50);
  });

  it("counts only whole, mandatory, bounded words", () => {
    const words = (p: string) => [...(requiredWords(`\\b(?:${p})`)?.words ?? [])].sort();
    expect(words("kill(?:s|ed)? (?:the )?[\\w'-]{1,24} (?:process|tasks?)\\b")).toEqual(["process", "task", "tasks"]);
    // Two places, each required: both sets are kept.
    const two = requiredWords("\\b(?:how to (?:kill|stab) (?:wife|boss))\\b")!;
    expect([[...two.words].sort(), [...(two.also ?? [])].sort()]).toEqual([["kill", "stab"], ["boss", "wife"]]);
    // Optional words rule nothing out; a word run on into letters ("killer") is not a word.
    expect(requiredWords("\\b(?:kill(?: it)?)\\b")).toBeUndefined();
    expect(requiredWords("\\b(?:kill it[a-z]{0,3})\\b")).toBeUndefined();
    // Both options must have one.
    expect(requiredWords("\\b(?:kill (?:it|[\\w'-]{1,5}))\\b")).toBeUndefined();
    expect(words("kill (?:it now|them all)\\b")).toEqual(["now", "them"]);
    // Where a set's word can start: the verb right after a two-way opening, the noun after it.
    const at = requiredWords("\\b(?:(?:how to|i want to) (?:kill|stab) (?:my )?(?:wife|boss))\\b")!;
    expect([[...at.words].sort(), at.wordsAt, [...(at.also ?? [])].sort(), at.alsoAt]).toEqual([["kill", "stab"], 10, ["boss", "wife"], 18]);
    // An unbounded part leaves no span.
    expect(requiredWords("\\b(?:kill .* process)\\b")).toBeUndefined();
  });
});

describe("scoreText's required-literal test", () => {
  it("is the harmful scanner's own", () => {
    expect(lexiconScan().prefilter?.source).toBe(lexicon().harmful.prefilter?.source);
    expect(lexiconScan().prefilter?.flags).toBe(lexicon().harmful.prefilter?.flags);
  });
});

describe("scoreText's findings", () => {
  it("are those of the text scored, when read after later calls", () => {
    const a = scoreText("how to kill the process and kill him");
    const fresh = triples(scoreText("how to kill the process and kill him").found);
    scoreText("kill murder stab shoot ".repeat(50));
    expect(triples(a.found)).toEqual(fresh);
    expect(a.matches.length).toBe(a.found.length);
    expect(a.found.length).toBeGreaterThan(0);
  });
});

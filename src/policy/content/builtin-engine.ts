import type { ContentCategory } from "../../config/index.js";
import { compileScanner, PackedFindings, type Finding, type Recogniser, type Scanner, type ScannerOptions } from "../scan/index.js";
import { benignPatterns, harmfulEntries, MAX_PHRASE, WEAK_CAP, type LexiconEntry } from "./lexicon.js";

export interface ContentMatch {
  category: ContentCategory;
  weight: number;
  start: number;
  end: number;
}

export interface ContentScore {
  /** Per category: full weight of strong phrases plus weak words up to WEAK_CAP. */
  scores: Partial<Record<ContentCategory, number>>;
  /** The matches counted, in text order (built on first read: a text can hold a match a word). */
  readonly matches: ContentMatch[];
  /** The same as (start, end, entry) triples; `lexiconEntry(entry)` says what each is. */
  readonly found: PackedFindings;
}

interface Lexicon {
  harmful: Scanner;
  benign: Scanner;
}

let compiled: Lexicon | undefined;

/**
 * Strongest first: the scanner takes the first entry that matches at a position, so "kill myself"
 * must be tried before the bare word "kill".
 */
const ordered = [...harmfulEntries].sort((a, b) => b.weight - a.weight);

/** The lexicon's recognisers and scanner options, as lexicon() compiles them. */
export function lexiconSpec(): Record<keyof Lexicon, { recognisers: Recogniser[]; options: ScannerOptions }> {
  const options: ScannerOptions = { ignoreCase: true, prefix: "\\b", firstMatch: true };
  return {
    harmful: { recognisers: ordered.map((x) => ({ type: x.category, pattern: `(?:${x.pattern})\\b`, maxLength: MAX_PHRASE, lookbehind: 1 })), options },
    benign: { recognisers: benignPatterns.map((p) => ({ type: "benign", pattern: `(?:${p})\\b`, maxLength: MAX_PHRASE, lookbehind: 1 })), options },
  };
}

/** The lexicon is the same for every rule: compiled once, on first use by compilePolicyEngine. */
export function lexicon(): Lexicon {
  if (!compiled) {
    const spec = lexiconSpec();
    compiled = {
      harmful: compileScanner(spec.harmful.recognisers, spec.harmful.options),
      benign: compileScanner(spec.benign.recognisers, spec.benign.options),
    };
  }
  return compiled;
}

/** Typographic apostrophes become ASCII ones; same length, so offsets still point into the original. */
export function normaliseForLexicon(text: string): string {
  return /[\u2018\u2019]/.test(text) ? text.replace(/[\u2018\u2019]/g, "'") : text;
}

/** The categories of the lexicon, numbered; and each entry's number. */
const categories: ContentCategory[] = [...new Set(ordered.map((x) => x.category))];
const categoryOf = Int32Array.from(ordered, (x) => categories.indexOf(x.category));

/** The lexicon entry a finding's recogniser number stands for. */
export function lexiconEntry(recogniser: number): LexiconEntry {
  return ordered[recogniser]!;
}

/**
 * Adds harmful findings not cleared by a benign one to the running score. Sums per category are
 * kept in the order the findings come, so every score is the same double however it is stored.
 */
export class ScoreAccumulator {
  private readonly strong = new Float64Array(categories.length);
  private readonly weak = new Float64Array(categories.length);
  /** Categories in the order of their first match (the order of the keys of scores()). */
  private readonly seen: number[] = [];
  private readonly present = new Uint8Array(categories.length);
  readonly found = new PackedFindings();

  add(f: Finding): void {
    this.addAt(f.start, f.end, f.recogniser);
  }

  addAt(start: number, end: number, recogniser: number): void {
    const w = ordered[recogniser]!.weight;
    const c = categoryOf[recogniser]!;
    if (this.present[c] === 0) {
      this.present[c] = 1;
      this.seen.push(c);
    }
    if (w >= 0.5) this.strong[c] += w;
    else this.weak[c] += w;
    this.found.push(start, end, recogniser);
  }

  get matches(): ContentMatch[] {
    const d = this.found.data;
    const out: ContentMatch[] = [];
    for (let k = 0; k < this.found.length; k++) {
      const e = ordered[d[k * 3 + 2]!]!;
      out.push({ category: e.category, weight: e.weight, start: d[k * 3]!, end: d[k * 3 + 1]! });
    }
    return out;
  }

  score(category: ContentCategory): number {
    const c = categories.indexOf(category);
    return c === -1 ? 0 : this.strong[c]! + Math.min(WEAK_CAP, this.weak[c]!);
  }

  scores(): Partial<Record<ContentCategory, number>> {
    const out: Partial<Record<ContentCategory, number>> = {};
    for (const c of this.seen) out[categories[c]!] = this.strong[c]! + Math.min(WEAK_CAP, this.weak[c]!);
    return out;
  }
}

/**
 * Runs the lexicon once over a short text as a whole and as a stream, so that V8 compiles its
 * regexes (the stream guard's hold-back ones are large) when the engine is compiled, not in the first
 * request.
 */
export function warmUpLexicon(): void {
  const text = "Warm up the lexicon: here is how to set up the server, kill the process and shoot a photo of it.";
  scoreText(text);
  const s = new IncrementalScorer();
  for (const w of text.split(/(?<= )/)) s.push(w, false);
  s.push("", true);
}

export function scoreText(text: string): ContentScore {
  const t = normaliseForLexicon(text);
  const { harmful, benign } = lexicon();
  const found = harmful.scanPacked(t);
  // Benign phrases only ever clear a harmful match: most texts have none, and skip that scan.
  if (found.length === 0) return { scores: {}, matches: [], found };
  const b = benign.scanPacked(t);
  const bd = b.data;
  const d = found.data;
  const acc = new ScoreAccumulator();
  // Whether a finding overlaps a benign one. Both lists are in text order and non-overlapping, so
  // a cursor over the benign list (advanced past findings that end before it) keeps this linear.
  let j = 0;
  for (let k = 0; k < found.length; k++) {
    const start = d[k * 3]!;
    const end = d[k * 3 + 1]!;
    while (j < b.length && bd[j * 3 + 1]! <= start) j++;
    if (!(j < b.length && bd[j * 3]! < end)) acc.addAt(start, end, d[k * 3 + 2]!);
  }
  return {
    scores: acc.scores(),
    get matches() {
      return acc.matches;
    },
    found: acc.found,
  };
}

/**
 * The same scoring over a text that arrives in pieces, deciding each match as soon as more text
 * cannot change it. A harmful match counts once the benign scan has passed its end (a benign phrase
 * overlapping it must start before it ends).
 */
export class IncrementalScorer {
  readonly acc = new ScoreAccumulator();
  private text = "";
  /** Offset of `text[0]` in the whole stream. */
  private base = 0;
  private harmfulCursor = 0;
  private benignCursor = 0;
  private readonly pending: Finding[] = [];
  private benignSeen: Finding[] = [];

  /** Appends text; returns how far (absolute offset) the text is decided and may be released. */
  push(piece: string, final: boolean): number {
    const { harmful, benign } = lexicon();
    this.text += normaliseForLexicon(piece);
    const len = this.text.length;
    const limit = final
      ? len
      : Math.min(harmful.frontier(this.text, this.harmfulCursor - this.base), benign.frontier(this.text, this.benignCursor - this.base));
    const hf: Finding[] = [];
    this.harmfulCursor = harmful.scanUntil(this.text, this.harmfulCursor - this.base, limit, hf) + this.base;
    const bf: Finding[] = [];
    this.benignCursor = benign.scanUntil(this.text, this.benignCursor - this.base, limit, bf) + this.base;
    for (const f of hf) this.pending.push({ ...f, start: f.start + this.base, end: f.end + this.base });
    for (const f of bf) this.benignSeen.push({ ...f, start: f.start + this.base, end: f.end + this.base });
    while (this.pending.length > 0 && (final || this.pending[0]!.end <= this.benignCursor)) {
      const f = this.pending.shift()!;
      // Benign findings ending before this one cannot touch it or any later one.
      while (this.benignSeen.length > 0 && this.benignSeen[0]!.end <= f.start) this.benignSeen.shift();
      const b = this.benignSeen[0];
      if (!(b !== undefined && b.start < f.end)) this.acc.add(f);
    }
    const released = this.pending.length > 0 ? Math.min(this.harmfulCursor, this.pending[0]!.start) : this.harmfulCursor;
    this.trim(Math.min(released, this.benignCursor));
    return final ? this.base + this.text.length : released;
  }

  /** Drops text no scan will look at again, keeping the lookbehind context. */
  private trim(upTo: number): void {
    const keepFrom = upTo - 64;
    if (keepFrom - this.base < 4096) return;
    this.text = this.text.slice(keepFrom - this.base);
    this.base = keepFrom;
  }
}

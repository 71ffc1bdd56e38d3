import type { ContentCategory } from "../../config/index.js";
import { compileScanner, type Finding, type Recogniser, type Scanner, type ScannerOptions } from "../scan/index.js";
import { benignPatterns, harmfulEntries, MAX_PHRASE, WEAK_CAP } from "./lexicon.js";

export interface ContentMatch {
  category: ContentCategory;
  weight: number;
  start: number;
  end: number;
}

export interface ContentScore {
  /** Per category: full weight of strong phrases plus weak words up to WEAK_CAP. */
  scores: Partial<Record<ContentCategory, number>>;
  matches: ContentMatch[];
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

/**
 * Whether `f` overlaps a benign finding. Both lists are in text order and non-overlapping, so a
 * cursor over the benign list (advanced past findings that end before `f`) keeps this linear.
 */
class BenignIndex {
  private i = 0;
  constructor(private readonly benign: Finding[]) {}

  overlaps(f: Finding): boolean {
    const b = this.benign;
    while (this.i < b.length && b[this.i]!.end <= f.start) this.i++;
    return this.i < b.length && b[this.i]!.start < f.end;
  }
}

/** Adds harmful findings not cleared by a benign one to the running score. */
export class ScoreAccumulator {
  private readonly strong: Partial<Record<ContentCategory, number>> = {};
  private readonly weak: Partial<Record<ContentCategory, number>> = {};
  readonly matches: ContentMatch[] = [];

  add(f: Finding): void {
    const entry = ordered[f.recogniser]!;
    const c = entry.category;
    if (entry.weight >= 0.5) this.strong[c] = (this.strong[c] ?? 0) + entry.weight;
    else this.weak[c] = (this.weak[c] ?? 0) + entry.weight;
    this.matches.push({ category: c, weight: entry.weight, start: f.start, end: f.end });
  }

  score(c: ContentCategory): number {
    return (this.strong[c] ?? 0) + Math.min(WEAK_CAP, this.weak[c] ?? 0);
  }

  scores(): Partial<Record<ContentCategory, number>> {
    const out: Partial<Record<ContentCategory, number>> = {};
    for (const m of this.matches) out[m.category] = this.score(m.category);
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
  const found = harmful.scan(t);
  // Benign phrases only ever clear a harmful match: most texts have none, and skip that scan.
  if (found.length === 0) return { scores: {}, matches: [] };
  const cleared = new BenignIndex(benign.scan(t));
  const acc = new ScoreAccumulator();
  for (const f of found) if (!cleared.overlaps(f)) acc.add(f);
  return { scores: acc.scores(), matches: acc.matches };
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

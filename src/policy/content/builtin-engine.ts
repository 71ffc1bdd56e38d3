import type { ContentCategory } from "../../config/index.js";
import { compileScanner, PackedFindings, prefilterFor, type Finding, type Recogniser, type Scanner, type ScannerOptions } from "../scan/index.js";
import { benignPatterns, harmfulEntries, MAX_PHRASE, WEAK_CAP, type LexiconEntry } from "./lexicon.js";
import { compileLexiconScan, type LexiconScan } from "./lexicon-scan.js";

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

/** What scoreText runs: the harmful phrases' required-literal test, then both scans in one pass. */
interface OnePass {
  prefilter: RegExp | undefined;
  both: LexiconScan;
}

let onePass: OnePass | undefined;

/**
 * Strongest first: the scanner takes the first entry that matches at a position, so "kill myself"
 * must be tried before the bare word "kill".
 */
const ordered = [...harmfulEntries].sort((a, b) => b.weight - a.weight);

/** The lexicon's recognisers and scanner options, as lexicon() compiles them. */
export function lexiconSpec(): Record<"harmful" | "benign", { recognisers: Recogniser[]; options: ScannerOptions }> {
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

/** scoreText's scan, compiled on its first use (the scanners above are the stream's). */
export function lexiconScan(): OnePass {
  if (!onePass) {
    const spec = lexiconSpec();
    onePass = {
      // The test the harmful scanner runs first (compileScanner's prefilter, under its prefix and flags).
      prefilter: prefilterFor(
        spec.harmful.recognisers.map((r) => `\\b${r.pattern}`),
        "i",
      ),
      both: compileLexiconScan([spec.harmful.recognisers, spec.benign.recognisers]),
    };
  }
  return onePass;
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
    return matchesOf(this.found);
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
  lexiconScan();
  const text = "Warm up the lexicon: here is how to set up the server, kill the process and shoot a photo of it.";
  scoreText(text);
  const s = new IncrementalScorer();
  for (const w of text.split(/(?<= )/)) s.push(w, false);
  s.push("", true);
}

/** Each entry's weight, by recogniser number. */
const weightOf = Float64Array.from(ordered, (x) => x.weight);

/**
 * The scans' findings, kept from one call to the next (a text of nothing but lexicon words has a
 * finding per word: 200,000 per MiB, which a fresh buffer would grow to megabytes by doubling, each
 * new page a first touch). Not kept past KEEP_FINDINGS findings.
 */
const KEEP_FINDINGS = 1 << 18;
let keptHarmful = new PackedFindings();
let keptBenign = new PackedFindings();
/** Counts scoreText calls: a result's findings are still in keptHarmful while this is its own. */
let generation = 0;

/** The matches of packed findings, as objects. */
function matchesOf(found: PackedFindings): ContentMatch[] {
  const d = found.data;
  const out: ContentMatch[] = [];
  for (let k = 0; k < found.length; k++) {
    const e = ordered[d[k * 3 + 2]!]!;
    out.push({ category: e.category, weight: e.weight, start: d[k * 3]!, end: d[k * 3 + 1]! });
  }
  return out;
}

export function scoreText(text: string): ContentScore {
  const t = normaliseForLexicon(text);
  const { prefilter, both } = lexiconScan();
  // Most texts hold none of the harmful phrases' required literals, and need no scan at all.
  if (prefilter !== undefined && !prefilter.test(t)) return { scores: {}, matches: [], found: new PackedFindings() };
  const h = keptHarmful;
  const b = keptBenign;
  both.scan(t, [h, b]);
  if (h.length === 0) return { scores: {}, matches: [], found: new PackedFindings() };
  const bd = b.data;
  const d = h.data;
  // Sums per category in the order the findings come (as ScoreAccumulator adds them), so every
  // score is the same double.
  const strong = new Float64Array(categories.length);
  const weak = new Float64Array(categories.length);
  const seen: number[] = [];
  const present = new Uint8Array(categories.length);
  // The findings counted are moved down in place over those cleared: the first n triples.
  let n = 0;
  // Whether a finding overlaps a benign one. Both lists are in text order and non-overlapping, so
  // a cursor over the benign list (advanced past findings that end before it) keeps this linear.
  let j = 0;
  for (let k = 0; k < h.length; k++) {
    const start = d[k * 3]!;
    const end = d[k * 3 + 1]!;
    while (j < b.length && bd[j * 3 + 1]! <= start) j++;
    if (j < b.length && bd[j * 3]! < end) continue;
    const r = d[k * 3 + 2]!;
    const c = categoryOf[r]!;
    const w = weightOf[r]!;
    if (present[c] === 0) {
      present[c] = 1;
      seen.push(c);
    }
    if (w >= 0.5) strong[c] += w;
    else weak[c] += w;
    d[n * 3] = start;
    d[n * 3 + 1] = end;
    d[n * 3 + 2] = r;
    n++;
  }
  const scores: Partial<Record<ContentCategory, number>> = {};
  for (const c of seen) scores[categories[c]!] = strong[c]! + Math.min(WEAK_CAP, weak[c]!);
  // The findings are copied out when first read (most callers want the scores only): from the kept
  // buffer while no later call has reused it, else by scoring the text again.
  const own = ++generation;
  const kept = h;
  if (h.data.length > KEEP_FINDINGS * 3) keptHarmful = new PackedFindings();
  if (b.data.length > KEEP_FINDINGS * 3) keptBenign = new PackedFindings();
  let found: PackedFindings | undefined;
  const foundNow = (): PackedFindings => {
    if (found !== undefined) return found;
    if (own !== generation) return (found = scoreText(text).found);
    found = new PackedFindings();
    found.data = kept.data.slice(0, Math.max(48, n * 3));
    found.length = n;
    return found;
  };
  return {
    scores,
    get matches() {
      return matchesOf(foundNow());
    },
    get found() {
      return foundNow();
    },
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

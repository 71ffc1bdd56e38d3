import { foldText, WordReader } from "./content-text.js";
/** Frozen copy (main at ea5e070) of src/policy/content/features.ts: the content-classifier oracle. Do not optimise. */

/**
 * Hashed features of the classifier, shared by the training script and the gateway so both read a
 * text identically: each word, each pair of adjacent words, and the character 3- to 5-grams of each
 * word with its boundaries marked (`^kil`, `ill$`), which carry misspellings, inflections and words
 * run together (`pipebomb`). Every feature is a bucket in [0, 2^bits); collisions are left to the
 * model (the hashing trick).
 *
 * Texts are read in windows of words, so a long text is judged by its worst passage rather than
 * diluted: a window is WINDOW_BLOCK words from the previous block plus the current one (blocks of
 * WINDOW_BLOCK words, windows of twice that, overlapping by half). A text shorter than two blocks is
 * one window.
 */
export const WINDOW_BLOCK = 16;

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;
const SEED_WORD = 0x9e3779b1;
const SEED_PAIR = 0x85ebca77;
/** Word boundary mark in character n-grams. */
const EDGE = 1;

function mix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  h = Math.imul(h, 0x846ca68b);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Receives each feature's bucket. */
export type FeatureSink = (bucket: number) => void;

/**
 * Walks a text's words and reports features, with a window break every WINDOW_BLOCK words
 * (`onBlock`, given the folded-stream offset where the block's last word ends). The text may come
 * whole (`walk`) or in pieces (`push`); the features are the same.
 */
export class FeatureWalker {
  private readonly mask: number;
  private readonly padded = new Uint16Array(64);
  private prevWord = 0;
  private words = 0;
  private reader: WordReader;

  constructor(
    bits: number,
    private readonly onFeature: FeatureSink,
    private readonly onBlock: (end: number) => void,
    private readonly onSentence: (at: number) => void = () => {},
  ) {
    this.mask = (1 << bits) - 1;
    this.reader = new WordReader(this.word, this.onSentence);
  }

  /** Features of a whole `text` (raw; folded here). Calls onBlock after every WINDOW_BLOCK words, not at the end. */
  walk(text: string): void {
    this.reset();
    this.reader.push(foldText(text), true);
  }

  reset(): void {
    this.prevWord = 0;
    this.words = 0;
    this.reader = new WordReader(this.word, this.onSentence);
  }

  /** The next piece of a text read in pieces; returns the piece's length in the folded stream. */
  push(piece: string, final: boolean): number {
    const folded = foldText(piece);
    this.reader.push(folded, final);
    return folded.length;
  }

  /** Folded-stream offset before which every word has been read. */
  get settled(): number {
    return this.reader.settled;
  }

  private readonly word = (buf: Uint16Array, len: number, end: number): void => {
    const mask = this.mask;
    const emit = this.onFeature;
    let h = FNV_OFFSET;
    for (let k = 0; k < len; k++) h = Math.imul(h ^ buf[k]!, FNV_PRIME);
    const w = mix(h ^ SEED_WORD);
    emit(w & mask);
    if (this.prevWord !== 0) emit(mix(Math.imul(this.prevWord, 31) ^ w ^ SEED_PAIR) & mask);
    this.prevWord = w;
    // Character n-grams of ^word$.
    const p = this.padded;
    const plen = Math.min(len, p.length - 2) + 2;
    p[0] = EDGE;
    for (let k = 0; k < plen - 2; k++) p[k + 1] = buf[k]!;
    p[plen - 1] = EDGE;
    // mix() written out: this loop is most of the classifier's time on long texts.
    let x: number;
    for (let s = 0; s + 3 <= plen; s++) {
      let g = FNV_OFFSET;
      g = Math.imul(g ^ p[s]!, FNV_PRIME);
      g = Math.imul(g ^ p[s + 1]!, FNV_PRIME);
      g = Math.imul(g ^ p[s + 2]!, FNV_PRIME);
      x = Math.imul(g ^ (g >>> 16), 0x7feb352d);
      x = Math.imul(x ^ (x >>> 15), 0x846ca68b);
      emit((x ^ (x >>> 16)) & mask);
      if (s + 4 > plen) continue;
      g = Math.imul(g ^ p[s + 3]!, FNV_PRIME);
      x = Math.imul(g ^ (g >>> 16), 0x7feb352d);
      x = Math.imul(x ^ (x >>> 15), 0x846ca68b);
      emit((x ^ (x >>> 16)) & mask);
      if (s + 5 > plen) continue;
      g = Math.imul(g ^ p[s + 4]!, FNV_PRIME);
      x = Math.imul(g ^ (g >>> 16), 0x7feb352d);
      x = Math.imul(x ^ (x >>> 15), 0x846ca68b);
      emit((x ^ (x >>> 16)) & mask);
    }
    if (++this.words % WINDOW_BLOCK === 0) this.onBlock(end);
  };
}

/** All features of a text as one list (training: examples are short, one window). */
export function featuresOf(text: string, bits: number): Int32Array {
  const out: number[] = [];
  new FeatureWalker(bits, (b) => out.push(b), () => {}).walk(text);
  return Int32Array.from(out);
}

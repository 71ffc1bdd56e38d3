import { foldText, MAX_WORD, WordReader } from "./content-text.js";

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

/** Most features one word has: the word, its pair, and the 3-, 4- and 5-grams of `^word$`. */
export const MAX_WORD_FEATURES = 2 + 3 * MAX_WORD;

/**
 * FNV-1a's basis and prime. A module's exported const is read through a cell, with a check that it
 * is initialised, on every use (in this module too, and in a function another inlines): the hot
 * loops here and in the classifier read these non-exported copies, which the optimiser folds
 * (~1.5 k instructions per chat text in wordHash alone; issue #20).
 */
const OFFSET = 0x811c9dc5;
const PRIME = 0x01000193;
export const FNV_OFFSET = OFFSET;
export const FNV_PRIME = PRIME;
const SEED_WORD = 0x9e3779b1;
const SEED_PAIR = 0x85ebca77;
/** Word boundary mark in character n-grams. */
export const EDGE = 1;

function mix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  h = Math.imul(h, 0x846ca68b);
  return (h ^ (h >>> 16)) >>> 0;
}

/** FNV-1a of a word's code units: the start of its own feature's hash (and a key for a word cache). */
export function wordHash(buf: Uint16Array, len: number): number {
  let h = OFFSET;
  for (let k = 0; k < len; k++) h = Math.imul(h ^ buf[k]!, PRIME);
  return h;
}

/** The mixed hash of a word (from wordHash): its own feature's bucket and its pairs' are made of it (0 means "no word before" to the pair). */
export function wordMix(h: number): number {
  return mix(h ^ SEED_WORD);
}

/** The bucket of the pair feature of two adjacent words (their wordMix values; `prev` not 0). */
export function pairBucket(prev: number, w: number, mask: number): number {
  return mix(Math.imul(prev, 31) ^ w ^ SEED_PAIR) & mask;
}

/**
 * The features of one word that depend on the word alone: its own bucket then, for each start in
 * `^word$`, its 3-, 4- and 5-gram (not the pair feature, which depends on the word before). Written
 * into `out` (reused; valid until the next call).
 */
export class WordFeatures {
  readonly out = new Int32Array(MAX_WORD_FEATURES);
  readonly mask: number;
  private readonly padded = new Uint16Array(MAX_WORD + 2);

  constructor(bits: number) {
    this.mask = (1 << bits) - 1;
  }

  /** Buckets of the word (`len` ≤ MAX_WORD code units of `buf`, `w` its wordMix) into `out`; returns how many. */
  of(buf: Uint16Array, len: number, w: number): number {
    const mask = this.mask;
    const out = this.out;
    const p = this.padded;
    p[0] = EDGE;
    for (let k = 0; k < len; k++) p[k + 1] = buf[k]!;
    const plen = len + 2;
    p[plen - 1] = EDGE;
    let n = 0;
    out[n++] = w & mask;
    // Character n-grams of ^word$, mix() written out: this loop is most of the classifier's time on
    // words it has not seen. Every start but the last two has all three lengths; the hash of a
    // 4-gram continues its 3-gram's.
    let x: number;
    let g: number;
    let s = 0;
    for (; s + 5 <= plen; s++) {
      g = Math.imul(Math.imul(Math.imul(OFFSET ^ p[s]!, PRIME) ^ p[s + 1]!, PRIME) ^ p[s + 2]!, PRIME);
      x = Math.imul(g ^ (g >>> 16), 0x7feb352d);
      x = Math.imul(x ^ (x >>> 15), 0x846ca68b);
      out[n] = (x ^ (x >>> 16)) & mask;
      g = Math.imul(g ^ p[s + 3]!, PRIME);
      x = Math.imul(g ^ (g >>> 16), 0x7feb352d);
      x = Math.imul(x ^ (x >>> 15), 0x846ca68b);
      out[n + 1] = (x ^ (x >>> 16)) & mask;
      g = Math.imul(g ^ p[s + 4]!, PRIME);
      x = Math.imul(g ^ (g >>> 16), 0x7feb352d);
      x = Math.imul(x ^ (x >>> 15), 0x846ca68b);
      out[n + 2] = (x ^ (x >>> 16)) & mask;
      n += 3;
    }
    if (s + 4 <= plen) {
      g = Math.imul(Math.imul(Math.imul(OFFSET ^ p[s]!, PRIME) ^ p[s + 1]!, PRIME) ^ p[s + 2]!, PRIME);
      x = Math.imul(g ^ (g >>> 16), 0x7feb352d);
      x = Math.imul(x ^ (x >>> 15), 0x846ca68b);
      out[n++] = (x ^ (x >>> 16)) & mask;
      g = Math.imul(g ^ p[s + 3]!, PRIME);
      x = Math.imul(g ^ (g >>> 16), 0x7feb352d);
      x = Math.imul(x ^ (x >>> 15), 0x846ca68b);
      out[n++] = (x ^ (x >>> 16)) & mask;
      s++;
    }
    if (s + 3 <= plen) {
      g = Math.imul(Math.imul(Math.imul(OFFSET ^ p[s]!, PRIME) ^ p[s + 1]!, PRIME) ^ p[s + 2]!, PRIME);
      x = Math.imul(g ^ (g >>> 16), 0x7feb352d);
      x = Math.imul(x ^ (x >>> 15), 0x846ca68b);
      out[n++] = (x ^ (x >>> 16)) & mask;
    }
    return n;
  }
}

/** All features of a text as one list (training: examples are short, one window). */
export function featuresOf(text: string, bits: number): Int32Array {
  const feats = new WordFeatures(bits);
  const out: number[] = [];
  let prev = 0;
  new WordReader((buf, len) => {
    const w = wordMix(wordHash(buf, len));
    const n = feats.of(buf, len, w);
    // The order of the first implementation: the word, the pair, the n-grams.
    out.push(feats.out[0]!);
    if (prev !== 0) out.push(pairBucket(prev, w, feats.mask));
    prev = w;
    for (let k = 1; k < n; k++) out.push(feats.out[k]!);
  }).push(foldText(text), true);
  return Int32Array.from(out);
}

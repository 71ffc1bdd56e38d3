/**
 * Hashes of words read in place. On text where every few words is a candidate (`Jane Rose Will
 * Paris `, `123 Main Street ` repeated), cutting each word out of the text to look it up in a
 * gazetteer costs more than the rest of the decision; a hash over the characters where they stand
 * says at once that a word is in no list. A hash that is found proves nothing (two words may share
 * it): the caller then takes its ordinary path, so a collision costs time, never a verdict.
 */

const SEED = 0x811c9dc5 | 0;

/** FNV-1a over UTF-16 code units: the same value for a string and for the same characters in place. */
export function hashRange(text: string, start: number, end: number): number {
  let h = SEED;
  for (let i = start; i < end; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  return h;
}

export function hashWord(word: string): number {
  return hashRange(word, 0, word.length);
}

/** The hashes of some words: `mayHold` is false only for words certainly not among them. */
export class WordHashes {
  private readonly set = new Set<number>();

  constructor(words: Iterable<string>) {
    for (const w of words) this.set.add(hashWord(w));
  }

  mayHold(text: string, start: number, end: number): boolean {
    return this.set.has(hashRange(text, start, end));
  }

  mayHoldHash(h: number): boolean {
    return this.set.has(h);
  }
}

/** Case folding applied while reading a word in place (ASCII letters only; other characters as they are). */
export const FOLD_UPPER_FIRST = 1;
export const FOLD_LOWER_REST = 2;
export const FOLD_LOWER_FIRST = 4;

function folded(c: number, first: boolean, fold: number): number {
  if (first) {
    if (fold & FOLD_UPPER_FIRST) return c >= 97 && c <= 122 ? c - 32 : c;
    return fold & FOLD_LOWER_FIRST && c >= 65 && c <= 90 ? c + 32 : c;
  }
  return fold & FOLD_LOWER_REST && c >= 65 && c <= 90 ? c + 32 : c;
}

/**
 * A map from words to values looked up by characters where they stand (optionally case-folded,
 * as `Jane` for `JANE` or `jane`): an open-addressing table of hashes whose hits are confirmed
 * character by character, so the answer is exactly the Map's, without a substring per lookup.
 */
export class WordTable<V> {
  private readonly keys: string[] = [];
  private readonly values: V[] = [];
  private readonly hashes: Int32Array;
  /** Slot → entry index + 1 (0: empty). */
  private readonly slots: Int32Array;
  private readonly mask: number;

  constructor(entries: Iterable<readonly [string, V]>) {
    for (const [k, v] of entries) {
      this.keys.push(k);
      this.values.push(v);
    }
    let size = 16;
    while (size < this.keys.length * 2) size <<= 1;
    this.slots = new Int32Array(size);
    this.mask = size - 1;
    this.hashes = new Int32Array(this.keys.length);
    this.keys.forEach((k, i) => {
      const h = hashWord(k);
      this.hashes[i] = h;
      let s = h & this.mask;
      while (this.slots[s] !== 0) s = (s + 1) & this.mask;
      this.slots[s] = i + 1;
    });
  }

  /** The value of the word text[start, end) read with `fold`, or undefined. */
  get(text: string, start: number, end: number, fold = 0): V | undefined {
    let h = SEED;
    for (let i = start; i < end; i++) h = Math.imul(h ^ folded(text.charCodeAt(i), i === start, fold), 16777619);
    return this.getHashed(h, text, start, end, fold);
  }

  /** get for a word whose hash (hashRange of its characters read with `fold`) is already known. */
  getHashed(h: number, text: string, start: number, end: number, fold = 0): V | undefined {
    const n = end - start;
    for (let s = h & this.mask; ; s = (s + 1) & this.mask) {
      const e = this.slots[s]!;
      if (e === 0) return undefined;
      if (this.hashes[e - 1] !== h) continue;
      const key = this.keys[e - 1]!;
      if (key.length !== n) continue;
      let k = 0;
      while (k < n && key.charCodeAt(k) === folded(text.charCodeAt(start + k), k === 0, fold)) k++;
      if (k === n) return this.values[e - 1];
    }
  }
}

/** hashRange of the word lower-cased, or undefined when it holds a character outside ASCII (whose lower case is not worked out here). */
export function hashLowerAscii(text: string, start: number, end: number): number | undefined {
  let h = SEED;
  for (let i = start; i < end; i++) {
    let c = text.charCodeAt(i);
    if (c >= 128) return undefined;
    if (c >= 65 && c <= 90) c += 32;
    h = Math.imul(h ^ c, 16777619);
  }
  return h;
}

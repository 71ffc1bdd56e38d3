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

/**
 * The hashes of some words: `mayHold` is false only for words certainly not among them. An
 * open-addressing table of (used, hash) pairs: one cache line per ask, where a Set of numbers
 * reads its bucket, then its chain (the place names' first words are ~9,000).
 */
export class WordHashes {
  /** Per slot: 1 when used, then the hash. */
  private readonly slots: Int32Array;
  private readonly mask: number;

  constructor(words: Iterable<string>) {
    const hashes = new Set<number>();
    for (const w of words) hashes.add(hashWord(w));
    let size = 16;
    while (size < hashes.size * 2) size <<= 1;
    this.mask = size - 1;
    this.slots = new Int32Array(size * 2);
    for (const h of hashes) {
      let s = h & this.mask;
      while (this.slots[s * 2] !== 0) s = (s + 1) & this.mask;
      this.slots[s * 2] = 1;
      this.slots[s * 2 + 1] = h;
    }
  }

  mayHold(text: string, start: number, end: number): boolean {
    return this.mayHoldHash(hashRange(text, start, end));
  }

  mayHoldHash(h: number): boolean {
    const slots = this.slots;
    for (let s = h & this.mask; ; s = (s + 1) & this.mask) {
      if (slots[s * 2] === 0) return false;
      if (slots[s * 2 + 1] === h) return true;
    }
  }
}

/**
 * WordHashes with a number per word: `most` is the largest number of any word with that hash, or
 * -1 for a hash no word has (so an upper bound for the word asked about, never an exact answer).
 * Slots of (used, hash, number), as WordHashes' pairs.
 */
export class WordHashMost {
  private readonly slots: Int32Array;
  private readonly mask: number;

  constructor(words: Iterable<readonly [string, number]>) {
    const most = new Map<number, number>();
    for (const [w, n] of words) {
      const h = hashWord(w);
      most.set(h, Math.max(n, most.get(h) ?? n));
    }
    let size = 16;
    while (size < most.size * 2) size <<= 1;
    this.mask = size - 1;
    this.slots = new Int32Array(size * 4);
    for (const [h, n] of most) {
      let s = h & this.mask;
      while (this.slots[s * 4] !== 0) s = (s + 1) & this.mask;
      this.slots[s * 4] = 1;
      this.slots[s * 4 + 1] = h;
      this.slots[s * 4 + 2] = n;
    }
  }

  most(h: number): number {
    const slots = this.slots;
    for (let s = h & this.mask; ; s = (s + 1) & this.mask) {
      if (slots[s * 4] === 0) return -1;
      if (slots[s * 4 + 1] === h) return slots[s * 4 + 2]!;
    }
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
 *
 * Laid out for tables too large for the caches (person's lexicon: ~80,000 words): each slot holds
 * the key's hash, its value's index, and where its characters are in one flat array, so a lookup
 * reads one slot's cache line and one of the characters' instead of a slot, a hash, a key pointer,
 * the key string, a value pointer. Values are kept once each (a palette): tables whose values
 * repeat (kinds, interned records) read a value that is already in the cache.
 */
export class WordTable<V> {
  /** Distinct values, by index. */
  private readonly palette: V[] = [];
  /** Per slot, four ints: the key's hash, its value's palette index + 1 (0: empty), its characters' offset in `chars`, its length. */
  private readonly slots: Int32Array;
  private readonly chars: Uint16Array;
  private readonly mask: number;

  constructor(entries: Iterable<readonly [string, V]>) {
    const keys: string[] = [];
    const index: number[] = [];
    const paletteOf = new Map<V, number>();
    for (const [k, v] of entries) {
      let i = paletteOf.get(v);
      if (i === undefined) {
        i = this.palette.length;
        this.palette.push(v);
        paletteOf.set(v, i);
      }
      keys.push(k);
      index.push(i);
    }
    let size = 16;
    while (size < keys.length * 2) size <<= 1;
    this.mask = size - 1;
    this.slots = new Int32Array(size * 4);
    let total = 0;
    for (const k of keys) total += k.length;
    this.chars = new Uint16Array(total);
    let off = 0;
    keys.forEach((k, i) => {
      for (let c = 0; c < k.length; c++) this.chars[off + c] = k.charCodeAt(c);
      const h = hashWord(k);
      let s = h & this.mask;
      // Entries in order: the first of two equal keys is found first, as a Map built from them would keep it.
      while (this.slots[s * 4 + 1] !== 0) s = (s + 1) & this.mask;
      this.slots[s * 4] = h;
      this.slots[s * 4 + 1] = index[i]! + 1;
      this.slots[s * 4 + 2] = off;
      this.slots[s * 4 + 3] = k.length;
      off += k.length;
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
    const slots = this.slots;
    const chars = this.chars;
    for (let s = h & this.mask; ; s = (s + 1) & this.mask) {
      const b = s * 4;
      const e = slots[b + 1]!;
      if (e === 0) return undefined;
      if (slots[b] !== h || slots[b + 3] !== n) continue;
      const off = slots[b + 2]!;
      let k = 0;
      if (fold === 0) while (k < n && chars[off + k] === text.charCodeAt(start + k)) k++;
      else while (k < n && chars[off + k] === folded(text.charCodeAt(start + k), k === 0, fold)) k++;
      if (k === n) return this.palette[e - 1];
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

/** A shape's bit: `& 31` gives an ASCII letter and its other case the same value, so a word's shape is its lower case's. */
const shapeOf = (first: number, last: number, length: number) => ((first & 31) << 10) | ((last & 31) << 5) | Math.min(length, 31);

/**
 * The shapes (first character, last character, length) of some lower-case words: `mayHoldAscii`
 * is false only for an ASCII word whose lower case is certainly none of them. Read from the two
 * characters at its ends, without hashing the word: in a run of names most words around a name are
 * names, and no list of small words (titles, verbs, articles) has their shape. 4 KiB of bits.
 */
export class WordShapes {
  private readonly bits = new Int32Array(1024);

  constructor(words: Iterable<string>) {
    for (const w of words) {
      if (w.length === 0) continue;
      const b = shapeOf(w.charCodeAt(0), w.charCodeAt(w.length - 1), w.length);
      this.bits[b >> 5]! |= 1 << (b & 31);
    }
  }

  /** text[s, e) (s < e) holds only ASCII characters (the caller has checked): may its lower case be one of the words? */
  mayHoldAscii(text: string, s: number, e: number): boolean {
    const b = shapeOf(text.charCodeAt(s), text.charCodeAt(e - 1), e - s);
    return (this.bits[b >> 5]! & (1 << (b & 31))) !== 0;
  }
}

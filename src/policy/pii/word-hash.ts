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

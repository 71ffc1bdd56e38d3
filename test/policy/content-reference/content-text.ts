/**
 * Frozen copy (main at ea5e070) of src/policy/content/content-text.ts: the content-classifier oracle. Do not optimise.
 * One change since: round 17's fix of a short chain's letters being written over the first letter of the
 * word being ended (`a bomb` read as `a aomb`), made in both copies because it changes what the words are.
 */
/**
 * The classifier's view of a text: words, lower-cased and folded, read the same however they were
 * spelled apart. `pipe-bomb`, `pipe\nbomb`, `pipe  bomb` and `pipe bomb` give the same two words;
 * `p i p e`, `p.i.p.e` and `p-i-p-e` give `pipe` (letters standing alone, one separator apart, are
 * one word; a wider gap ends it, so `p i p e  b o m b` is `pipe bomb`); `b0mb` and `k!ll` give `bomb`
 * and `kill`. Accents, full-width forms, ligatures and invisible characters are folded away first.
 *
 * The walk hands each word to a callback as char codes in a reused buffer: no string is built per
 * word, so the classifier runs over long texts at memory speed.
 */

/** Longest word kept; longer runs are cut (their tail starts a new word). */
export const MAX_WORD = 40;

/** Folds case, compatibility forms and accents; drops format characters (zero-width joiners, soft hyphens, bidi marks). */
export function foldText(text: string): string {
  // Fast path: plain ASCII needs no Unicode work.
  // eslint-disable-next-line no-control-regex
  if (!/[^\x00-\x7f]/.test(text)) return text;
  return text.normalize("NFKD").replace(/[\p{M}\p{Cf}]/gu, "");
}

/** 0: separator; otherwise the code the word keeps. Letters a-z and digits, upper case folded. */
const ASCII_CLASS = new Uint16Array(128);
for (let c = 0; c < 128; c++) {
  if (c >= 97 && c <= 122) ASCII_CLASS[c] = c;
  else if (c >= 65 && c <= 90) ASCII_CLASS[c] = c + 32;
  else if (c >= 48 && c <= 57) ASCII_CLASS[c] = c;
}

/** Digits and symbols read as letters inside a word that has letters (leetspeak). */
const LEET: Record<number, number> = { 48: 111, 49: 105, 51: 101, 52: 97, 53: 115, 55: 116, 64: 97, 36: 115, 33: 105 };

function isLetter(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 0xc0 && c < 0x2000) || c >= 0x3040;
}

/** Word character of a folded text: its kept code, or 0 for a separator. */
function wordCode(c: number): number {
  if (c < 128) return ASCII_CLASS[c]!;
  // Letters of other scripts stay as they are (lower-cased); punctuation and spaces separate.
  if (c < 0xc0 || (c >= 0x2000 && c < 0x3040) || c === 0xd7 || c === 0xf7) return 0;
  return c;
}

/** A word: its code units (a reused buffer, valid during the call) and where it ends in the folded stream. */
export type WordSink = (buf: Uint16Array, len: number, end: number) => void;

/**
 * Reads words from text that may arrive in pieces; the words (and their end offsets) are the same
 * for every way of cutting the text. Apostrophes inside a word are dropped (`don't` is `dont`);
 * leet digits and `@ $ !` between letters read as letters. A word is reported once the text after
 * it shows it is complete, so the last character of a piece waits for the next piece (it may be an
 * apostrophe inside a word) unless it is a space or line break, and a single letter waits to see whether more follow one separator
 * apart with the same separator.
 */
export class WordReader {
  private readonly word = new Uint16Array(MAX_WORD);
  private readonly chain = new Uint16Array(MAX_WORD);
  private readonly single = new Uint16Array(1);
  private len = 0;
  private hasLetter = false;
  private hasDigit = false;
  private chainLen = 0;
  private chainEnd = 0;
  /** Separator characters since the last word ended, and the last of them. */
  private gap = 0;
  private sep = 0;
  /** The separator between the letters of the current chain (`p-i-p-e b.o.m.b` is two chains). */
  private chainSep = 0;
  /** Folded text not yet read (at most a character, between pushes), and the stream offset of its start. */
  private tail = "";
  private base = 0;
  /** Character before tail[0], for the leet lookbehind. */
  private before = 0;

  /** `onSentence(at)`: a sentence or clause ended at folded offset `at` (`. , :` before a space, `? ! ;`, a line break). */
  constructor(
    private readonly sink: WordSink,
    private readonly onSentence: (at: number) => void = () => {},
  ) {}

  /** Feeds folded text. With `final`, everything is read and the last words reported. */
  push(folded: string, final: boolean): void {
    const text = this.tail + folded;
    const n = text.length;
    // A space, tab or line break is read the same whatever follows it (only `' @ $ !` and `. , :`
    // look at the next character): a piece ending in one need not wait for the next piece. Words
    // streamed as `word ` then go out with their piece instead of one piece later.
    const last = n > 0 ? text.charCodeAt(n - 1) : 0;
    const stop = final || last === 32 || last === 10 || last === 9 ? n : n - 1;
    let i = 0;
    const word = this.word;
    for (; i < stop; i++) {
      // Fast path, the same as step() for an ASCII letter or digit inside a word with room.
      const raw = text.charCodeAt(i);
      if (raw < 128) {
        const c = ASCII_CLASS[raw]!;
        if (c !== 0 && this.len < MAX_WORD) {
          word[this.len++] = c;
          if (c <= 57) this.hasDigit = true;
          else this.hasLetter = true;
          continue;
        }
      }
      this.step(text, i, n);
    }
    this.before = i > 0 ? text.charCodeAt(i - 1) : this.before;
    this.tail = text.slice(i);
    this.base += i;
    if (final) {
      this.endWord(this.base);
      if (this.chainLen > 0) this.flushChain();
    }
  }

  /** Stream offset up to which every word has been reported (nothing before it can still change). */
  get settled(): number {
    if (this.chainLen > 0) return this.chainStart;
    return this.base - this.len;
  }
  private chainStart = 0;

  private step(text: string, i: number, n: number): void {
    const raw = text.charCodeAt(i);
    let c = raw < 128 ? ASCII_CLASS[raw]! : wordCode(raw >= 0xc0 && raw < 0x250 ? lowerLatin(raw) : raw);
    const at = this.base + i;
    if (c === 0) {
      // Apostrophes inside a word vanish; leet symbols between letters are letters.
      if (this.len > 0 && i + 1 < n && isLetter(text.charCodeAt(i + 1))) {
        if (raw === 39 || raw === 0x2019) return;
        const prev = i > 0 ? text.charCodeAt(i - 1) : this.before;
        if ((raw === 64 || raw === 36 || raw === 33) && isLetter(prev)) c = LEET[raw]!;
      }
      if (c === 0) {
        this.endWord(at);
        this.gap++;
        this.sep = raw;
        if (raw === 63 || raw === 33 || raw === 10 || raw === 59 || ((raw === 46 || raw === 44 || raw === 58) && i + 1 < n && (text.charCodeAt(i + 1) === 32 || text.charCodeAt(i + 1) === 10))) {
          if (this.chainLen > 0) this.flushChain();
          this.onSentence(at);
        }
        return;
      }
    }
    if (this.len === MAX_WORD) this.endWord(at);
    this.word[this.len++] = c;
    if (c >= 48 && c <= 57) this.hasDigit = true;
    else this.hasLetter = true;
  }

  private flushChain(): void {
    const { chain, single, sink } = this;
    if (this.chainLen >= 3) sink(chain, this.chainLen, this.chainEnd);
    else
      for (let k = 0; k < this.chainLen; k++) {
        single[0] = chain[k]!;
        sink(single, 1, this.chainEnd);
      }
    this.chainLen = 0;
  }

  private endWord(at: number): void {
    const len = this.len;
    if (len === 0) return;
    const word = this.word;
    if (this.hasDigit && this.hasLetter)
      for (let k = 0; k < len; k++) {
        const m = LEET[word[k]!];
        if (m !== undefined) word[k] = m;
      }
    if (len === 1) {
      // A letter standing alone joins the chain when only one separator stands before it.
      if (this.chainLen === 1) this.chainSep = this.sep;
      if (this.chainLen > 0 && (this.gap > 1 || this.sep !== this.chainSep || this.chainLen === MAX_WORD)) this.flushChain();
      if (this.chainLen === 0) this.chainStart = at - 1;
      this.chain[this.chainLen++] = word[0]!;
      this.chainEnd = at;
    } else {
      if (this.chainLen > 0) this.flushChain();
      this.sink(word, len, at);
    }
    this.len = 0;
    this.hasLetter = false;
    this.hasDigit = false;
    this.gap = 0;
  }
}

/** Calls `sink` with each word of `text` (already folded) in order. */
export function forEachWord(text: string, sink: WordSink): void {
  new WordReader(sink).push(text, true);
}

function lowerLatin(c: number): number {
  // Latin-1 and Latin Extended-A capitals (accents already folded away, but e.g. Ø, Æ, Ł stay).
  if (c >= 0xc0 && c <= 0xde && c !== 0xd7) return c + 32;
  if (c >= 0x100 && c < 0x180 && c % 2 === 0) return c + 1;
  return c;
}

/** The words of a text as strings (tests, training inspection). */
export function wordsOf(text: string): string[] {
  const out: string[] = [];
  forEachWord(foldText(text), (b, l) => out.push(String.fromCharCode(...b.subarray(0, l))));
  return out;
}

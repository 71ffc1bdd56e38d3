import { firstWords, PackedFindings, wordPrefixes, type Recogniser } from "../scan/index.js";
import { requiredWords } from "./required-words.js";

/**
 * The lexicon's two scans (harmful phrases, benign phrases) in one pass over the text's words.
 *
 * Each scan finds exactly what `compileScanner(recognisers, { ignoreCase, prefix: "\\b", firstMatch })`
 * finds with its word table (scanner.ts, wordDispatched): leftmost-first, at each word start at or
 * after its cursor the first recogniser (list order) that matches there, a whole-word recogniser
 * without a regex run, and the scan resumes at the end of the finding. What differs is the cost on
 * a text made only of lexicon words (issue #13: `kill murder stab ` repeated, or random draws from
 * the lexicon), where every word is a first word of both scans:
 *
 * - every word is read and hashed once, for both scans (the scanner reads it once per scan, and once
 *   more for each phrase opening that looks ahead at it), and looked up once in one table;
 * - the words after a first word are read from a short queue of words already hashed, and only the
 *   recognisers whose listed openings (first-words.ts, wordPrefixes) they fit are tried, however few
 *   the recognisers (the scanner reads ahead only for words that open four or more);
 * - a phrase whose opening words cannot rule it out (its second word may be any word) is tried only
 *   when one of its required words (required-words.ts: "process" for `kill [\w'-]{1,24} process`)
 *   starts within its longest match, which the words already read and looked up say;
 * - the look-ahead tables are open-addressed integer arrays, not Maps.
 *
 * test/policy/lexicon-scan.test.ts holds both scans to the plain scanners (combined regex, no table).
 */

const FNV_BASIS = 0x811c9dc5 | 0;
const FNV_PRIME = 0x01000193;
/** A level's value: the members whose listed openings end here (low bits), and whether longer ones go on. */
const MORE = 1 << 29;
/** Words after the first that the tables look at (as the scanner's PREFIX_DEPTH). */
const PREFIX_DEPTH = 4;
/** Most members an entry may have for its look-ahead masks (bits below MORE). */
const MASK_MEMBERS = 29;
/**
 * Shortest a word and the separator after it can be, in UTF-16 units: a phrase's span of `n` units
 * holds at most n / MIN_WORD + 1 word starts, which bounds how far its required words are looked for.
 */
const MIN_WORD = 2;

/** The hash of a run of words, from the hash of the run before it and of its last word (as scanner.ts). */
function seqHash(before: number, word: number): number {
  return (Math.imul(before ^ (before >>> 15), 0x2c1b3c6d) ^ word) & 0x3fffffff;
}

function wordHash(word: string): number {
  let h = FNV_BASIS;
  for (let i = 0; i < word.length; i++) h = Math.imul(h ^ word.charCodeAt(i), FNV_PRIME);
  return h;
}

/** Per code unit: the lower-cased ASCII word character (what `\b` and the table count as a word), or -1. */
const LOWER = new Int16Array(65536).fill(-1);
for (let c = 0; c < 128; c++) {
  const ch = String.fromCharCode(c);
  if (/\w/.test(ch)) LOWER[c] = ch.toLowerCase().charCodeAt(0);
}

/** An open-addressed map from a non-negative 30-bit key to a non-zero value. */
class IntTable {
  private readonly keys: Int32Array;
  private readonly values: Int32Array;
  private readonly mask: number;

  constructor(entries: Map<number, number>) {
    const size = 1 << Math.max(3, Math.ceil(Math.log2(entries.size * 2 + 1)));
    this.keys = new Int32Array(size).fill(-1);
    this.values = new Int32Array(size);
    this.mask = size - 1;
    for (const [k, v] of entries) {
      let s = k & this.mask;
      while (this.keys[s] !== -1) s = (s + 1) & this.mask;
      this.keys[s] = k;
      this.values[s] = v;
    }
  }

  /** The value of `key`, or 0. */
  get(key: number): number {
    const keys = this.keys;
    for (let s = key & this.mask; ; s = (s + 1) & this.mask) {
      const k = keys[s]!;
      if (k === key) return this.values[s]!;
      if (k === -1) return 0;
    }
  }
}

/** What one scan does at a first word. */
interface Side {
  /** Recognisers that may match here and need a regex attempt, in list order. */
  members: number[];
  /** The whole-word recogniser that matches here when none of `members` does, or -1. */
  whole: number;
  /** Members tried whatever follows (bit k: members[k]); all of them when `levels` is undefined. */
  always: number;
  /** Per following word j (1, 2, ...): from the hash of the words so far to the members they leave possible. */
  levels: IntTable[] | undefined;
}

interface Entry {
  word: string;
  hash: number;
  sides: (Side | undefined)[];
  /** The required-word sets (their numbers) this word is in. */
  sets: number[];
}

/** One scan's table: each first word's side, as scanner.ts's wordDispatchOf builds it with prefixMembers 1. */
function sidesOf(recognisers: readonly Recogniser[]): Map<string, Side> {
  const source = (i: number) => `\\b(?:${recognisers[i]!.pattern})`;
  const lists = new Map<string, number[]>();
  const whole = new Set<number>();
  recognisers.forEach((r, i) => {
    if (r.seek || r.standalone) throw new Error("lexicon scan: recognisers must be plain patterns");
    const fw = firstWords(source(i), "i");
    if (fw === undefined) throw new Error(`lexicon scan: no first words for ${r.pattern}`);
    for (const w of fw.words) {
      let l = lists.get(w);
      if (l === undefined) lists.set(w, (l = []));
      l.push(i);
    }
    if (fw.whole && r.validate === undefined) whole.add(i);
  });
  const prefixes = new Map<number, string[][] | undefined>();
  const prefixesOf = (i: number) => {
    if (!prefixes.has(i)) {
      let ps: string[][] | undefined;
      for (let d = PREFIX_DEPTH; d >= 2 && ps === undefined; d--) ps = wordPrefixes(source(i), "i", d, d > 2 ? 512 : 2048);
      prefixes.set(i, ps);
    }
    return prefixes.get(i);
  };
  const out = new Map<string, Side>();
  for (const [word, list] of lists) {
    const w = list.findIndex((i) => whole.has(i));
    const members = w === -1 ? list : list.slice(0, w);
    const side: Side = { members, whole: w === -1 ? -1 : list[w]!, always: 0, levels: undefined };
    if (members.length > 0 && members.length <= MASK_MEMBERS) {
      const hash = wordHash(word);
      const levels: Map<number, number>[] = [];
      for (let k = 0; k < members.length; k++) {
        const ps = prefixesOf(members[k]!);
        if (ps === undefined) {
          side.always |= 1 << k;
          continue;
        }
        for (const p of ps) {
          if (p[0] !== word) continue;
          if (p.length === 1) {
            side.always |= 1 << k;
            continue;
          }
          let h = seqHash(0, hash);
          for (let j = 1; j < p.length; j++) {
            h = seqHash(h, wordHash(p[j]!));
            const level = (levels[j - 1] ??= new Map());
            level.set(h, (level.get(h) ?? 0) | (j === p.length - 1 ? 1 << k : MORE));
          }
        }
      }
      // Every member tried whatever follows: the following words need not be read.
      side.levels = side.always === (1 << members.length) - 1 ? [] : levels.map((m) => new IntTable(m));
    }
    out.set(word, side);
  }
  return out;
}

export interface LexiconScan {
  /**
   * Both scans of `text` into `outs[k]` (lengths reset first): the findings of scans[k], as
   * (start, end, recogniser) triples in text order.
   */
  scan(text: string, outs: PackedFindings[]): void;
}

/** Scans for each recogniser list (each as its own scanner would), sharing one pass over the words. */
export function compileLexiconScan(scans: readonly (readonly Recogniser[])[]): LexiconScan {
  const nScans = scans.length;
  const byWord = new Map<string, Entry>();
  const entryOf = (word: string) => {
    let e = byWord.get(word);
    if (e === undefined) byWord.set(word, (e = { word, hash: wordHash(word), sides: new Array<Side | undefined>(nScans).fill(undefined), sets: [] }));
    return e;
  };
  scans.forEach((recognisers, k) => {
    for (const [word, side] of sidesOf(recognisers)) entryOf(word).sides[k] = side;
  });
  // Per scan and recogniser: 1 + the number of its required-word set (0: none known), and its
  // longest match. Each set is followed on its own (the lexicon has ~140: one bit each of 31, as
  // before, made most of them stand for others, so a phrase of `steal` was tried wherever a word of
  // a set sharing its bit, `make` or `die`, was near).
  const groups = new Map<string, number>();
  const reqBit = scans.map((rs) => new Int32Array(rs.length));
  const reqBit2 = scans.map((rs) => new Int32Array(rs.length));
  // Per scan and recogniser: how far after its start (in units, plus one) a word of each set can start.
  const reqSpan = scans.map((rs) => new Int32Array(rs.length));
  const reqSpan2 = scans.map((rs) => new Int32Array(rs.length));
  /** 1 + the number of a set of words, its words noted in their entries. */
  const setOf = (words: Set<string>) => {
    const key = [...words].sort().join(" ");
    let g = groups.get(key);
    if (g === undefined) {
      groups.set(key, (g = groups.size));
      for (const w of words) entryOf(w).sets.push(g);
    }
    return 1 + g;
  };
  scans.forEach((recognisers, k) => {
    recognisers.forEach((r, i) => {
      const rw = requiredWords(`\\b(?:${r.pattern})`);
      if (rw === undefined) return;
      reqBit[k]![i] = setOf(rw.words);
      if (rw.also !== undefined) reqBit2[k]![i] = setOf(rw.also);
      reqSpan[k]![i] = rw.wordsAt + 1;
      reqSpan2[k]![i] = rw.alsoAt + 1;
    });
  });
  const entries = [...byWord.values()];
  const size = 1 << Math.max(4, Math.ceil(Math.log2(entries.length * 4)));
  const slots = new Int32Array(size);
  const mask = size - 1;
  let maxLength = 0;
  entries.forEach((e, i) => {
    let s = e.hash & mask;
    while (slots[s] !== 0) s = (s + 1) & mask;
    slots[s] = i + 1;
    maxLength = Math.max(maxLength, e.word.length);
  });
  // Each recogniser's pattern alone, sticky, as the scanner tries it (`\b` then the pattern).
  const res = scans.map((recognisers) => recognisers.map((r) => new RegExp(`\\b(?:${r.pattern})`, "iy")));

  // Most words read to rule a phrase out by its required words: every word that can start within
  // the longest span (so a text of short words, `how to kill him my the `, is not cut off before
  // the span's end and left to the regex: a window of 32 words did that for every intent phrase of
  // 140 characters, ~110,000 failed regex tries per MiB of such words).
  let maxSpan = 0;
  for (const spans of [...reqSpan, ...reqSpan2]) for (const s of spans) maxSpan = Math.max(maxSpan, s);
  const WINDOW = Math.max(PREFIX_DEPTH, Math.ceil(maxSpan / MIN_WORD) + 1);
  // Words read ahead of the one being decided: a queue of (start, end, hash, entry), QUEUE a power
  // of two above PREFIX_DEPTH and WINDOW + 1.
  const QUEUE = 1 << Math.ceil(Math.log2(WINDOW + 2));
  const qStart = new Int32Array(QUEUE);
  const qEnd = new Int32Array(QUEUE);
  const qHash = new Int32Array(QUEUE);
  /** 1 + the entry's index, or 0 (no entry). */
  const qEntry = new Int32Array(QUEUE);
  let qHead = 0;
  let qCount = 0;
  /** Where reading ahead goes on. */
  let readAt = 0;

  /** Reads the next word of `text` from readAt onto the queue; false at the end of the text. */
  function readWord(text: string): boolean {
    const n = text.length;
    let p = readAt;
    let c = -1;
    while (p < n && (c = LOWER[text.charCodeAt(p)]!) < 0) p++;
    if (p >= n) {
      readAt = n;
      return false;
    }
    const start = p;
    let h = FNV_BASIS;
    do {
      h = Math.imul(h ^ c, FNV_PRIME);
      if (++p >= n) break;
      c = LOWER[text.charCodeAt(p)]!;
    } while (c >= 0);
    readAt = p;
    const slot = (qHead + qCount) & (QUEUE - 1);
    qStart[slot] = start;
    qEnd[slot] = p;
    qHash[slot] = h;
    let found = 0;
    if (p - start <= maxLength) {
      for (let s = h & mask; slots[s] !== 0; s = (s + 1) & mask) {
        const x = entries[slots[s]! - 1]!;
        if (x.hash === h && x.word.length === p - start && sameWord(text, start, x.word)) {
          found = slots[s]!;
          break;
        }
      }
    }
    qEntry[slot] = found;
    qCount++;
    if (found !== 0) {
      const sets = entries[found - 1]!.sets;
      if (sets.length !== 0) noteSets(sets, start);
    }
    return true;
  }

  // Per required-word set (its bit's index): the starts of the words read that are in it, oldest
  // first, a ring of QUEUE (entries older than the word being decided are dropped when met, or
  // when the ring is full: the main queue never holds more than WINDOW + 1 words).
  const nSets = groups.size;
  const setStarts = new Int32Array(nSets * QUEUE);
  const setHead = new Int32Array(nSets);
  const setCount = new Int32Array(nSets);

  /** Notes the word just read (at `start`) in each of its required-word sets. */
  function noteSets(sets: number[], start: number): void {
    for (let k = 0; k < sets.length; k++) {
      const b = sets[k]!;
      const base = b * QUEUE;
      if (setCount[b] === QUEUE) {
        setHead[b] = (setHead[b]! + 1) & (QUEUE - 1);
        setCount[b]--;
      }
      setStarts[base + ((setHead[b]! + setCount[b]!) & (QUEUE - 1))] = start;
      setCount[b]++;
    }
  }

  /**
   * Whether a word of required-word set `b` starts in [start, start + span): false only when surely
   * not (the words up to there are read, at most WINDOW of them; past that, true).
   */
  function mayHold(text: string, b: number, start: number, span: number): boolean {
    const limit = start + span;
    const base = b * QUEUE;
    for (;;) {
      while (setCount[b]! > 0 && setStarts[base + setHead[b]!]! < start) {
        setHead[b] = (setHead[b]! + 1) & (QUEUE - 1);
        setCount[b]--;
      }
      if (setCount[b]! > 0) return setStarts[base + setHead[b]!]! < limit;
      // None among the words read: read on, unless they already reach past the span.
      if (qCount > 0 && qStart[(qHead + qCount - 1) & (QUEUE - 1)]! >= limit) return false;
      if (qCount > WINDOW) return true;
      if (!readWord(text)) return false;
    }
  }

  /** Whether text[start, start + word.length) is `word` (lower-cased). */
  function sameWord(text: string, start: number, word: string): boolean {
    for (let i = 0; i < word.length; i++) if (LOWER[text.charCodeAt(start + i)] !== word.charCodeAt(i)) return false;
    return true;
  }

  /** Whether recogniser i of scan k may match at `start` (by its required words), then whether it does; its end in `hitEnd`. */
  let hitEnd = 0;
  function tryAt(text: string, k: number, i: number, start: number): boolean {
    const set = reqBit[k]![i]!;
    if (set !== 0) {
      if (!mayHold(text, set - 1, start, reqSpan[k]![i]!)) return false;
      const also = reqBit2[k]![i]!;
      if (also !== 0 && !mayHold(text, also - 1, start, reqSpan2[k]![i]!)) return false;
    }
    const re = res[k]![i]!;
    re.lastIndex = start;
    if (!re.test(text)) return false;
    hitEnd = re.lastIndex;
    return true;
  }

  /** The end of the first member of `side` matching at `start` (its recogniser in `hitRec`), else -1. */
  let hitRec = 0;
  function decide(text: string, k: number, side: Side, start: number, end: number, hash: number): number {
    const members = side.members;
    const levels = side.levels;
    if (members.length > 0) {
      if (levels === undefined) {
        for (let j = 0; j < members.length; j++) {
          if (tryAt(text, k, members[j]!, start)) {
            hitRec = members[j]!;
            return hitEnd;
          }
        }
      } else {
        let m = side.always;
        // The words after this one (queue slots 1, 2, ...): only the members whose listed
        // openings they fit are tried, each on its own, in list order.
        let t = seqHash(0, hash);
        for (let j = 0; j < levels.length; j++) {
          if (qCount <= j + 1 && !readWord(text)) break;
          t = seqHash(t, qHash[(qHead + j + 1) & (QUEUE - 1)]!);
          const v = levels[j]!.get(t);
          if (v === 0) break;
          m |= v & (MORE - 1);
          if ((v & MORE) === 0) break;
        }
        for (let j = 0; m !== 0; j++, m >>>= 1) {
          if ((m & 1) === 0) continue;
          if (tryAt(text, k, members[j]!, start)) {
            hitRec = members[j]!;
            return hitEnd;
          }
        }
      }
    }
    if (side.whole !== -1) {
      hitRec = side.whole;
      return end;
    }
    return -1;
  }

  const cursors = new Int32Array(nScans);

  return {
    scan(text, outs) {
      for (let k = 0; k < nScans; k++) {
        outs[k]!.length = 0;
        cursors[k] = 0;
      }
      qHead = 0;
      qCount = 0;
      readAt = 0;
      setCount.fill(0);
      for (;;) {
        if (qCount === 0 && !readWord(text)) break;
        const start = qStart[qHead]!;
        const end = qEnd[qHead]!;
        const hash = qHash[qHead]!;
        const x = qEntry[qHead]!;
        if (x !== 0) {
          const e = entries[x - 1]!;
          for (let k = 0; k < nScans; k++) {
            const side = e.sides[k];
            if (side === undefined || start < cursors[k]!) continue;
            const to = decide(text, k, side, start, end, hash);
            if (to !== -1) {
              outs[k]!.push(start, to, hitRec);
              cursors[k] = to;
            }
          }
        }
        qHead = (qHead + 1) & (QUEUE - 1);
        qCount--;
      }
    },
  };
}

import { CODES, firstPairs, OTHER } from "./first-pairs.js";
import { firstWords, wordPrefixes } from "./first-words.js";
import { tailLeads, tailSource, tailSupported } from "./prefix.js";
import type { CandidateKinds, Recogniser } from "./recogniser.js";
import { prefilterFor, requiresDigit } from "./required-literals.js";

export interface Finding {
  type: string;
  start: number;
  end: number;
  /** Index of the recogniser that produced it, in the scanner's list. */
  recogniser: number;
}

/** Findings as (start, end, recogniser) triples in `data`, `length` of them, in text order. */
export class PackedFindings {
  data = new Int32Array(48);
  length = 0;

  push(start: number, end: number, recogniser: number): void {
    let d = this.data;
    const k = this.length * 3;
    if (k + 3 > d.length) {
      const grown = new Int32Array(d.length * 2);
      grown.set(d);
      this.data = d = grown;
    }
    d[k] = start;
    d[k + 1] = end;
    d[k + 2] = recogniser;
    this.length++;
  }
}

/**
 * A compiled set of recognisers. Scanning is leftmost-first: at the leftmost position where any
 * recogniser has a valid match, the longest valid match wins (ties go to the earlier recogniser),
 * and scanning resumes after it — so findings never overlap and the result is deterministic.
 */
export interface Scanner {
  readonly recognisers: readonly Recogniser[];
  /** Characters before a position that can influence the outcome there (lookbehinds, context checks). */
  readonly lookbehind: number;
  /** Every finding in `text`. */
  scan(text: string): Finding[];
  /** The same findings as numbers: for texts that may hold very many (every word a lexicon word). */
  scanPacked(text: string): PackedFindings;
  /**
   * Decides positions from `from` while the next candidate lies before `limit`, pushing findings into
   * `out`. Returns the cursor: every position before it is decided (it may pass `limit` when a finding
   * does). With `limit >= text.length` this is a complete scan.
   *
   * `horizon`, for a text that may still grow (pass `text.length - RIGHT_CONTEXT`): a candidate
   * whose pattern match ends past it is not decided, whatever its validator says now, because a
   * validator may read up to RIGHT_CONTEXT characters after the match: a phone's extension is one
   * when the text ends after it and not once more digits follow, and a validator could equally
   * refuse at the end of a text what it accepts with more. The scan stops at that candidate.
   */
  scanUntil(text: string, from: number, limit: number, out: Finding[], horizon?: number): number;
  /**
   * scanUntil of a whole text (no horizon) in stretches: called again with the cursor the previous
   * call returned, on the same text, it goes on where that call stopped, keeping each source's next
   * candidate instead of seeking it again (a source with no candidate left would otherwise read to
   * the end of the text at every stretch). Any other call starts afresh, as scanUntil does.
   */
  scanOn(text: string, from: number, limit: number, out: Finding[]): number;
  /**
   * For a text that may still grow: the first position whose outcome could change once more text
   * arrives. Positions before it are decided exactly as they would be in the complete text.
   * `from` says the caller needs no answer below it (positions it has already decided): the search
   * starts there, so a stream pays per new character, not per character held.
   */
  frontier(text: string, from?: number): number;
  /**
   * Literals one of which every match contains (see required-literals.ts): `scan` returns at once
   * for a text without any. Undefined when some recogniser has no such set.
   */
  readonly prefilter: RegExp | undefined;
}

/** Findings a scanner's reused buffer may hold (12 bytes each) before it is let go after a scan. */
const KEEP_FINDINGS = 1 << 18;

/**
 * Shared recognisers whose hold (longest match + LOOKAHEAD_MARGIN) is at most this get one tail
 * regex; the longer ones another, so the frontier tries few patterns far back (see frontier()).
 */
const SHORT_TAIL_HOLD = 1024;

/** A shared recogniser whose pattern is longer than this gets a tail regex of its own (see frontier()). */
const OWN_TAIL_PATTERN = 1000;

/**
 * From this many characters to try, a tail regex whose patterns all open with a literal is started
 * at the first place one of those literals is (tailLeads): found by indexOf, not tried by the regex
 * at every character that could begin them. Below it the regex alone costs less than the searches.
 */
const LEADS_FROM = 512;

/** Characters after a match that trailing lookaheads may read (`(?![\w-]|\.\d)` reads two). */
const LOOKAHEAD_MARGIN = 4;

/**
 * Characters after a match that a validator may read to decide it (the phone's extension check
 * reads the character after its last digit), beyond what the pattern's tail regex sees: a finding
 * ending this close to the end of a text that may still grow is not final yet.
 */
export const RIGHT_CONTEXT = LOOKAHEAD_MARGIN;

function regexSeek(re: RegExp): (text: string, from: number) => number {
  return (text, from) => {
    re.lastIndex = from;
    const m = re.exec(text);
    return m === null ? -1 : m.index;
  };
}

/** From this many recognisers in the combined regex, candidates come from a table of their first two characters. */
const DISPATCH_MIN = 16;

function isWordChar(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
}

/**
 * The first position at or after `pos` whose pair of characters has a bucket in `table` (and, with
 * `wordStarts`, where a word begins or ends, as the patterns' leading \\b demands), or -1.
 */
function nextPair(text: string, pos: number, table: Uint16Array, wordStarts: boolean): number {
  const n = text.length;
  let prevWord = pos > 0 && isWordChar(text.charCodeAt(pos - 1));
  let c = pos < n ? text.charCodeAt(pos) : 0;
  for (let p = pos; p < n; p++) {
    const d = p + 1 < n ? text.charCodeAt(p + 1) : OTHER;
    const word = isWordChar(c);
    if (!wordStarts || word !== prevWord) {
      prevWord = word;
      if (table[(c < OTHER ? c : OTHER) * CODES + (d < OTHER ? d : OTHER)] !== 0) return p;
    }
    c = d;
  }
  return -1;
}

/** The next position at or after `pos` where a pattern of its bucket matches, with the first that does. */
function dispatched(
  text: string,
  pos: number,
  dispatch: { table: Uint16Array; buckets: Bucket[] },
  wordStarts: boolean,
  compile: (b: Bucket) => RegExp,
): { pos: number; bucket: Bucket; rank: number; end: number } | undefined {
  const { table, buckets } = dispatch;
  for (let p = nextPair(text, pos, table, wordStarts); p !== -1; p = nextPair(text, p + 1, table, wordStarts)) {
    const c = text.charCodeAt(p);
    const d = p + 1 < text.length ? text.charCodeAt(p + 1) : OTHER;
    const bucket = buckets[table[(c < OTHER ? c : OTHER) * CODES + (d < OTHER ? d : OTHER)]! - 1]!;
    let re = bucket.re;
    if (re === undefined) bucket.re = re = compile(bucket);
    re.lastIndex = p;
    // test() first: most candidates fail, and exec() would build a match array for those that do not.
    if (!re.test(text)) continue;
    re.lastIndex = p;
    const m = re.exec(text)!;
    let g = 1;
    while (m[g] === undefined) g++;
    return { pos: p, bucket, rank: g - 1, end: p + m[0].length };
  }
  return undefined;
}

interface Bucket {
  /** Recognisers (indices, in list order) that may begin with one of the bucket's pairs. */
  members: number[];
  /** Their patterns joined, sticky; compiled on first use. */
  re: RegExp | undefined;
}

/**
 * For each pair of first characters, the recognisers that may begin with it (first-pairs.ts): a
 * table of bucket numbers (0: none) and the buckets. Undefined when some pattern has no such table.
 */
function dispatchOf(members: readonly number[], source: (i: number) => string, flags: string): { table: Uint16Array; buckets: Bucket[] } | undefined {
  const tables: Uint8Array[] = [];
  for (const i of members) {
    const t = firstPairs(source(i), flags);
    if (t === undefined) return undefined;
    tables.push(t);
  }
  const table = new Uint16Array(CODES * CODES);
  const buckets: Bucket[] = [];
  const byKey = new Map<string, number>();
  for (let k = 0; k < CODES * CODES; k++) {
    const m: number[] = [];
    for (let j = 0; j < members.length; j++) if (tables[j]![k]) m.push(members[j]!);
    if (m.length === 0) continue;
    const key = m.join(",");
    let b = byKey.get(key);
    if (b === undefined) {
      buckets.push({ members: m, re: undefined });
      byKey.set(key, (b = buckets.length));
    }
    table[k] = b;
  }
  return { table, buckets };
}

/** A word some recogniser may begin with, and what to do where the text has it. */
interface WordEntry {
  word: string;
  hash: number;
  /** Recognisers (indices, in list order) that may begin with the word. */
  members: number[];
  /**
   * How many of `members` need a regex attempt: those before the first one whose matches are
   * exactly single words (and that has no validator), which matches wherever the word stands.
   */
  tried: number;
  /** Index in `members` of that whole-word recogniser, or -1. */
  whole: number;
  /** The first `tried` members' patterns joined (sticky); compiled on first use, shared by entries with the same ones. */
  re: RegExp | undefined;
  /**
   * Which of the first `tried` members the words after this one leave possible (bit k: member k),
   * when known: `always` whatever follows, and per following word count j (2, 3, ...) a map from
   * the hash of the text's first j words to the members whose listed prefixes have them. Undefined:
   * all are tried, joined.
   */
  next: { always: number; levels: Map<number, number>[] } | undefined;
}

interface WordDispatch {
  /** Open-addressed table of entry numbers (0: empty) by word hash. */
  slots: Int32Array;
  mask: number;
  entries: WordEntry[];
  /** Longest word any entry has: longer words of the text are not looked up. */
  maxLength: number;
  ignoreCase: boolean;
}

/**
 * Fewest members an entry needs before the words after its own are read: a short alternation that
 * fails at once ("kill" then a word no phrase continues with) costs V8 less than reading a word and
 * a map look-up; the long ones (a dozen phrases that open with "how" or "i") cost far more.
 */
const PREFIX_MEMBERS = 4;

/** Words after the first that the table looks at (deeper phrase openings are left to the regex). */
const PREFIX_DEPTH = 4;

/** The hash of a run of words, from the hash of the run before it and of its last word. */
function seqHash(before: number, word: number): number {
  // Kept within V8's small integers, so map keys are never boxed numbers.
  return (Math.imul(before ^ (before >>> 15), 0x2c1b3c6d) ^ word) & 0x3fffffff;
}

/** A level's value: the members whose listed openings end here (low bits), and whether longer ones go on (MORE). */
const MORE = 1 << 29;

const FNV_BASIS = 0x811c9dc5 | 0;
const FNV_PRIME = 0x01000193;

/** The hash the table is built with, over a word already lower-cased under ignoreCase. */
function wordHash(word: string): number {
  let h = FNV_BASIS;
  for (let i = 0; i < word.length; i++) h = Math.imul(h ^ word.charCodeAt(i), FNV_PRIME);
  return h;
}

/**
 * For patterns that all begin at a word (the prefix is `\b` and first-words.ts can list each one's
 * first words): a table from each first word to the recognisers that may begin with it. Undefined
 * when some pattern has no such list.
 */
function wordDispatchOf(
  members: readonly number[],
  source: (i: number) => string,
  ci: boolean,
  hasValidator: (i: number) => boolean,
): WordDispatch | undefined {
  const lists = new Map<string, number[]>();
  const wholeOf = new Map<number, Set<string>>();
  for (const i of members) {
    const fw = firstWords(source(i), ci ? "i" : "");
    if (fw === undefined) return undefined;
    for (const w of fw.words) {
      let l = lists.get(w);
      if (l === undefined) lists.set(w, (l = []));
      l.push(i);
    }
    if (fw.whole && !hasValidator(i)) wholeOf.set(i, fw.words);
  }
  const size = 1 << Math.max(4, Math.ceil(Math.log2(lists.size * 4)));
  const slots = new Int32Array(size);
  const entries: WordEntry[] = [];
  let maxLength = 0;
  // Each pattern's first few words, as far as they can be listed (fewer words when more are too many).
  const prefixes = new Map<number, string[][] | undefined>();
  const prefixesOf = (i: number) => {
    if (!prefixes.has(i)) {
      let ps: string[][] | undefined;
      for (let d = PREFIX_DEPTH; d >= 2 && ps === undefined; d--) ps = wordPrefixes(source(i), ci ? "i" : "", d, d > 2 ? 512 : 2048);
      prefixes.set(i, ps);
    }
    return prefixes.get(i);
  };
  for (const [word, list] of lists) {
    const whole = list.findIndex((i) => wholeOf.has(i));
    const hash = wordHash(word);
    const tried = whole === -1 ? list.length : whole;
    let next: WordEntry["next"];
    // Up to 29 members: their bits and MORE fit a small integer.
    if (tried >= PREFIX_MEMBERS && tried <= 29) {
      next = { always: 0, levels: [] };
      for (let k = 0; k < tried; k++) {
        const ps = prefixesOf(list[k]!);
        if (ps === undefined) {
          next.always |= 1 << k;
          continue;
        }
        for (const p of ps) {
          if (p[0] !== word) continue;
          if (p.length === 1) {
            next.always |= 1 << k;
            continue;
          }
          let h = seqHash(0, hash);
          for (let j = 1; j < p.length; j++) {
            h = seqHash(h, wordHash(p[j]!));
            const level = (next.levels[j - 1] ??= new Map());
            level.set(h, (level.get(h) ?? 0) | (j === p.length - 1 ? 1 << k : MORE));
          }
        }
      }
      // Every member tried whatever follows: the following words need not be read.
      if (next.always === (1 << tried) - 1) next.levels = [];
    }
    entries.push({ word, hash, members: list, tried, whole, re: undefined, next });
    let slot = hash & (size - 1);
    while (slots[slot] !== 0) slot = (slot + 1) & (size - 1);
    slots[slot] = entries.length;
    maxLength = Math.max(maxLength, word.length);
  }
  return { slots, mask: size - 1, entries, maxLength, ignoreCase: ci };
}

/** Whether text[start, start + word.length) is `word` (lower-cased under ignoreCase). */
function sameWord(text: string, start: number, word: string, ci: boolean): boolean {
  for (let i = 0; i < word.length; i++) {
    let c = text.charCodeAt(start + i);
    if (ci && c >= 65 && c <= 90) c |= 32;
    if (c !== word.charCodeAt(i)) return false;
  }
  return true;
}

/**
 * The next word start at or after `pos` where a recogniser of the word's entry matches, with the
 * first that does (list order) and where its match ends. Positions inside a word, and words no
 * recogniser begins with, are passed over without a regex attempt. Returns the position (-1: none)
 * and fills `hit`.
 */
function wordDispatched(
  text: string,
  pos: number,
  wd: WordDispatch,
  compile: (members: readonly number[]) => RegExp,
  memberRe: (i: number) => RegExp,
  hit: WordHit,
): number {
  const n = text.length;
  const { slots, mask, entries, maxLength } = wd;
  const ci = wd.ignoreCase;
  let p = pos;
  // A match begins where a word does: not inside the one `pos` may be in.
  if (p > 0) while (p < n && isWordChar(text.charCodeAt(p)) && isWordChar(text.charCodeAt(p - 1))) p++;
  while (p < n) {
    let c = text.charCodeAt(p);
    if (!isWordChar(c)) {
      p++;
      continue;
    }
    const start = p;
    let h = FNV_BASIS;
    for (;;) {
      if (ci && c >= 65 && c <= 90) c |= 32;
      h = Math.imul(h ^ c, FNV_PRIME);
      if (++p >= n) break;
      c = text.charCodeAt(p);
      if (!isWordChar(c)) break;
    }
    const length = p - start;
    if (length > maxLength) continue;
    for (let slot = h & mask; slots[slot] !== 0; slot = (slot + 1) & mask) {
      const e = entries[slots[slot]! - 1]!;
      if (e.hash !== h || e.word.length !== length || !sameWord(text, start, e.word, ci)) continue;
      const next = e.next;
      if (next !== undefined) {
        // The words after this one: only the members whose listed openings they fit are tried,
        // each on its own, in list order (the first to match is the one the alternation takes).
        let mask = next.always;
        const levels = next.levels;
        let q = p;
        let t = seqHash(0, h);
        for (let j = 0; j < levels.length; j++) {
          while (q < n && !isWordChar(text.charCodeAt(q))) q++;
          if (q >= n) break;
          let w = FNV_BASIS;
          for (;;) {
            let d = text.charCodeAt(q);
            if (!isWordChar(d)) break;
            if (ci && d >= 65 && d <= 90) d |= 32;
            w = Math.imul(w ^ d, FNV_PRIME);
            if (++q >= n) break;
          }
          t = seqHash(t, w);
          const v = levels[j]!.get(t);
          if (v === undefined) break;
          mask |= v & (MORE - 1);
          // No listed opening goes on past these words.
          if ((v & MORE) === 0) break;
        }
        for (let k = 0; mask !== 0; k++, mask >>>= 1) {
          if ((mask & 1) === 0) continue;
          const re = memberRe(e.members[k]!);
          re.lastIndex = start;
          if (re.test(text)) {
            hit.members = e.members;
            hit.rank = k;
            hit.end = re.lastIndex;
            return start;
          }
        }
      } else if (e.tried > 0) {
        let re = e.re;
        if (re === undefined) e.re = re = compile(e.members.slice(0, e.tried));
        re.lastIndex = start;
        if (re.test(text)) {
          hit.members = e.members;
          if (e.tried === 1) {
            hit.rank = 0;
            hit.end = re.lastIndex;
            return start;
          }
          re.lastIndex = start;
          const m = re.exec(text)!;
          let g = 1;
          while (m[g] === undefined) g++;
          hit.rank = g - 1;
          hit.end = start + m[0].length;
          return start;
        }
      }
      if (e.whole !== -1) {
        hit.members = e.members;
        hit.rank = e.whole;
        hit.end = p;
        return start;
      }
      break;
    }
  }
  return -1;
}

interface WordHit {
  members: readonly number[];
  rank: number;
  end: number;
}

/** Recognisers whose candidates come from one seek function, and their patterns joined (sticky). */
interface Source {
  seek: (text: string, from: number, scan?: object, limit?: number) => number;
  members: readonly number[];
  re: RegExp | undefined;
  /**
   * rest[k]: the patterns of members k.. joined (sticky), compiled on first use (rest[0] is `re`).
   * After a member has matched at a candidate, the next one that also matches there is found with
   * one run of rest[k + 1] instead of a test of every later member: at a dense near-miss (`GB00 `
   * every five characters, an IBAN shape its checksum rejects) the dozen other digit-led patterns
   * cost one regex run, not twelve.
   */
  rest: (RegExp | undefined)[];
  /**
   * When every member names the same candidate kinds (Recogniser.kinds): the kind of each
   * candidate, and per kind the members that admit it (in list order), filled on first use.
   */
  kinds: CandidateKinds | undefined;
  /** Per kind, 1 + the index in `lists` of its members (0: not yet known). */
  byKind: Uint16Array;
  lists: (readonly number[])[];
  /** Whether the seek is bounded (Recogniser.bounded: every member says so). */
  bounded: boolean;
  /**
   * Each member's Recogniser.decided, when the scanner may take them: every member has one (a
   * seek that decides all its patterns, the secrets'), or the single member does.
   */
  decided: readonly ((text: string, start: number) => number | undefined)[] | undefined;
  /** The longest match of any member (Recogniser.maxLength). */
  maxLength: number;
}

/** A tail regex of shared recognisers (see frontier()). */
interface TailRegex {
  re: RegExp;
  /** How far back from the end of the text it may match. */
  hold: number;
  /** Literals every one of its matches opens with (tailLeads), or undefined. */
  leads: string[] | undefined;
  /** Per lead, its beginnings (all but the whole), longest first. */
  cut: string[][] | undefined;
  /** Per lead, 1 when it is searched from its second character (its first is checked after). */
  skip: number[] | undefined;
  /** Per lead, what is searched: the lead, or all but its first character. */
  probes: string[] | undefined;
}

interface AnchorGroup {
  literal: string;
  within: number;
  hold: number;
}

export interface ScannerOptions {
  ignoreCase?: boolean;
  /**
   * An assertion every shared pattern starts with (e.g. `\\b`), written once outside the alternation
   * so the combined regex rejects most positions with one test instead of one per alternative.
   */
  prefix?: string;
  /**
   * Take the first alternative (in list order) that matches at a position instead of the longest.
   * Saves trying every recogniser at every candidate when there are hundreds (the content lexicon,
   * which lists its strong phrases first).
   */
  firstMatch?: boolean;
  /** Test the text for the recognisers' required literals before scanning it (default true). */
  prefilter?: boolean;
  /**
   * With many recognisers in the combined regex, find candidates from a table of their first two
   * characters and try only those that may begin there (default true; false runs the combined
   * regex everywhere, which tests compare against).
   */
  dispatch?: boolean;
  /**
   * When every shared pattern begins at a word (prefix `\\b`) and its first words can be listed,
   * find candidates from a table of those words instead of first pairs (default true; false keeps
   * the pair table, which tests compare against).
   */
  wordDispatch?: boolean;
  /**
   * Start a long-holding tail regex at the first of its patterns' opening literals, found by
   * indexOf (see frontier(); default true; false runs the regex over the whole stretch, which tests
   * compare against).
   */
  tailLeads?: boolean;
  /**
   * Pass over, in a text without an ASCII digit, the sources whose every pattern needs one
   * (requiresDigit: digit-led shapes, numbered and named streets, dates of birth) instead of
   * seeking their candidates (default true; false seeks them, which tests compare against).
   */
  digitSkip?: boolean;
}

/** Any ASCII digit: one native pass over a text (~10 instructions a character), where each digit-led seek reads it again. */
const DIGIT = /[0-9]/;

export function compileScanner(recognisers: readonly Recogniser[], opts: ScannerOptions = {}): Scanner {
  const ci = opts.ignoreCase === true ? "i" : "";
  const prefix = opts.prefix ?? "";
  const firstMatch = opts.firstMatch === true;
  // Where candidates come from. Recognisers without a seek of their own are joined into one
  // combined regex: a single pass over the text finds every candidate, and its capture groups tell
  // which alternative matched first — the ones before it cannot match at that position, so only
  // the rest need trying. Recognisers sharing a seek function (pii/candidates.ts: digit-led shapes,
  // secrets' literals) form a source of their own: the seek gives the positions, and the group's
  // patterns joined the same way, run sticky there, tell which of them to try. A recogniser is only
  // tried where its own source proposes a position: a seek never skips one where it could match.
  const shared: number[] = [];
  const groups = new Map<(text: string, from: number, scan?: object, limit?: number) => number, number[]>();
  recognisers.forEach((r, i) => {
    const seek = r.seek ?? (r.standalone ? regexSeek(new RegExp(r.pattern, "g" + ci + (r.flags ?? ""))) : undefined);
    if (seek === undefined) shared.push(i);
    else groups.set(seek, [...(groups.get(seek) ?? []), i]);
  });
  const joined = (members: readonly number[], flags: string) =>
    new RegExp(`${prefix}(?:${members.map((i) => `(${recognisers[i]!.pattern})`).join("|")})`, flags + ci);
  const combined = shared.length > 0 ? joined(shared, "g") : undefined;
  const wordStarts = prefix === "\\b";
  const shareds = new Map<string, RegExp>();
  const words =
    opts.dispatch !== false && opts.wordDispatch !== false && wordStarts && shared.length >= DISPATCH_MIN
      ? wordDispatchOf(shared, (i) => `${prefix}(?:${recognisers[i]!.pattern})`, ci === "i", (i) => recognisers[i]!.validate !== undefined)
      : undefined;
  const dispatch =
    words === undefined && opts.dispatch !== false && shared.length >= DISPATCH_MIN
      ? dispatchOf(shared, (i) => `${prefix}(?:${recognisers[i]!.pattern})`, ci)
      : undefined;
  // One member's pattern on its own, sticky, as it stands in the alternation.
  const alone: (RegExp | undefined)[] = [];
  const memberRe = (i: number) => (alone[i] ??= new RegExp(`${prefix}(?:${recognisers[i]!.pattern})`, "y" + ci));
  // Entries trying the same recognisers share one regex.
  const joinedOnce = (members: readonly number[]) => {
    const key = members.join(",");
    let re = shareds.get(key);
    if (re === undefined) shareds.set(key, (re = joined(members, "y")));
    return re;
  };
  // Prechecks and kinds read the text as the patterns are written: not under a prefix or ignoreCase.
  const plain = prefix === "" && ci === "";
  const kindsOf = (members: readonly number[]) => {
    const of = recognisers[members[0]!]!.kinds?.of;
    return plain && of !== undefined && members.every((i) => recognisers[i]!.kinds?.of === of) ? of : undefined;
  };
  const sources: Source[] = [...groups].map(([seek, members]) => ({
    seek,
    members,
    kinds: kindsOf(members),
    byKind: new Uint16Array(kindsOf(members)?.kinds ?? 0),
    lists: [],
    // A single member (or a standalone one, whose pattern may not join) is simply tried; so are
    // members with a precheck (`possible`): at most candidates it rules out all but one or two of
    // them, and trying those alone costs less than one run of the joined patterns.
    re:
      members.length > 1 && members.every((i) => !recognisers[i]!.standalone && !recognisers[i]!.possible)
        ? joined(members, "y")
        : undefined,
    rest: [],
    bounded: members.every((i) => recognisers[i]!.bounded === true),
    // A seek's own decision stands for the pattern as written: not under a prefix or ignoreCase.
    decided: plain && members.every((i) => recognisers[i]!.decided !== undefined && !recognisers[i]!.possible) ? members.map((i) => recognisers[i]!.decided!) : undefined,
    maxLength: Math.max(...members.map((i) => recognisers[i]!.maxLength)),
  }));
  // Sources none of whose members can match without an ASCII digit (standalone patterns left
  // out: their flags and engine are their own). In a text with no digit, every candidate of such
  // a source is a place where none of its patterns matches (a seek's own decision stands for
  // its pattern, Recogniser.decided): they are not sought at all. On a chat answer without
  // numbers that is the digit-led seek's, the streets' and the dates' passes over the text.
  const needsDigits = new Uint8Array(sources.length);
  let digitSources = 0;
  if (opts.digitSkip !== false)
    sources.forEach((s, k) => {
      if (s.members.every((i) => !recognisers[i]!.standalone && requiresDigit(recognisers[i]!.pattern))) {
        needsDigits[k] = 1;
        digitSources++;
      }
    });
  const sticky = recognisers.map((r) =>
    r.standalone ? new RegExp(r.pattern, "y" + ci + (r.flags ?? "")) : new RegExp(prefix + r.pattern, "y" + ci),
  );
  const possibles = recognisers.map((r) => (plain ? r.possible : undefined));
  const lookbehind = Math.max(8, ...recognisers.map((r) => r.lookbehind ?? 0));
  // Standalone recognisers may carry flags of their own (u), under which literals fold differently.
  const prefilter =
    opts.prefilter !== false && recognisers.length > 0 && !recognisers.some((r) => r.standalone)
      ? prefilterFor(
          recognisers.map((r) => prefix + r.pattern),
          ci,
        )
      : undefined;

  // Hold-back for the stream guard. Each recogniser's pattern is turned into a "tail" regex that
  // matches at a position exactly when a match there could still change as text is appended (see
  // prefix.ts); frontier() is the leftmost such position. The shared recognisers' tails are joined
  // into one regex, wrapped in a lookahead so that test() leaves lastIndex at the position itself
  // (no match arrays: frontier runs on every chunk). maxLength caps how far back it looks.
  // Recognisers whose pattern the tail construction cannot follow keep the old bound: a fixed
  // maxLength window, or from an anchor literal when they declare one.
  const sharedPatterns: { pattern: string; hold: number }[] = [];
  const ownTails: { re: RegExp; hold: number }[] = [];
  const seekTails: { seek: (text: string, from: number) => number; hold: number }[] = [];
  let unanchoredHold = 0;
  const anchors = new Map<string, AnchorGroup>();
  for (const r of recognisers) {
    const hold = r.maxLength + LOOKAHEAD_MARGIN;
    if (r.tail) {
      seekTails.push({ seek: r.tail, hold });
      continue;
    }
    const src = r.standalone ? tailSource(r.pattern, ci + (r.flags ?? "")) : tailSupported(r.pattern) ? "" : undefined;
    if (src !== undefined) {
      if (r.standalone) ownTails.push({ re: new RegExp(`(?=${src})`, "g" + ci + (r.flags ?? "")), hold });
      else {
        sharedPatterns.push({ pattern: r.pattern, hold });
      }
      continue;
    }
    if (!r.anchor) {
      unanchoredHold = Math.max(unanchoredHold, hold);
      continue;
    }
    const g = anchors.get(r.anchor.literal);
    if (g) {
      g.hold = Math.max(g.hold, hold);
      g.within = Math.max(g.within, r.anchor.within);
    } else anchors.set(r.anchor.literal, { literal: r.anchor.literal, within: r.anchor.within, hold });
  }
  // The shared recognisers' tails, built from their alternation so that shared openings are
  // factored: one regex for those that hold little, one for the few that may hold kilobytes (PEM
  // blocks, bearer tokens, JWTs), and one each for the largest patterns (street addresses, dates
  // of birth, email). A tail regex costs some hundreds of nanoseconds per position it tries, and a
  // position further from the end than a pattern's hold cannot start its tail: with a single regex
  // every position of the longest hold (20 KiB) was tried with every pattern whenever a large piece
  // arrived, 4-8 ms per 10 KiB chunk; now only the long group's few patterns go back that far. The
  // large patterns apart make the short group's regex cheaper per position (a token stream's
  // frontier 3.0 -> 2.2 µs per word, a 1,000-character window 0.11 -> 0.03 ms; bench scratch).
  const sharedTails: TailRegex[] = [];
  const tailOf = (group: { pattern: string; hold: number }[]): TailRegex => {
    const joinedSource = `${prefix}(?:${group.map((p) => `(?:${p.pattern})`).join("|")})`;
    const src = tailSource(joinedSource, ci);
    if (src === undefined) throw new Error("scanner: the recognisers' tails do not combine");
    const hold = Math.max(...group.map((p) => p.hold));
    // Only a group that may look back further than LEADS_FROM can use them; literals are searched
    // as written, so not under ignoreCase.
    const leads = ci === "" && hold > LEADS_FROM && opts.tailLeads !== false ? tailLeads(joinedSource) : undefined;
    const cut = leads?.map((l) => Array.from({ length: l.length - 1 }, (_, k) => l.slice(0, l.length - 1 - k)));
    // V8 searches a string of fewer than 7 characters for its first one with memchr: one opening
    // with a common letter (the `e` of `eyJ`) is searched from its second character instead.
    const skip = leads?.map((l) => (l.length > 1 && l.length < 7 && /[a-z]/.test(l[0]!) ? 1 : 0));
    const probes = leads?.map((l, k) => l.slice(skip![k]!));
    return { re: new RegExp(`(?=${src})`, "g" + ci), hold, leads, cut, skip, probes };
  };
  const bigTail = (p: { pattern: string }) => p.pattern.length > OWN_TAIL_PATTERN;
  for (const group of [sharedPatterns.filter((p) => p.hold <= SHORT_TAIL_HOLD && !bigTail(p)), sharedPatterns.filter((p) => p.hold > SHORT_TAIL_HOLD && !bigTail(p))]) {
    if (group.length > 0) sharedTails.push(tailOf(group));
  }
  for (const p of sharedPatterns) if (bigTail(p)) sharedTails.push(tailOf([p]));
  const anchorGroups = [...anchors.values()];

  // The match being decided at a position: its end (-1: none yet) and recogniser. Scalars, not a
  // Finding: a text of nothing but findings (every word a lexicon word) allocates nothing per finding.
  let bEnd = -1;
  let bRec = 0;
  /** Set when a pattern matched at the position being decided ending past the scan's horizon. */
  let bOpen = false;
  let horizon = Infinity;

  /**
   * Makes the longest valid match at p among `members` from index `from` on the match being
   * decided, if it is longer than that one (ties go to the recogniser listed first).
   */
  function bestOf(text: string, p: number, members: readonly number[], from: number): void {
    for (let k = from; k < members.length; k++) {
      const i = members[k]!;
      const possible = possibles[i];
      if (possible !== undefined && !possible(text, p)) continue;
      const re = sticky[i]!;
      re.lastIndex = p;
      if (!re.test(text)) continue;
      let end = re.lastIndex;
      if (end <= p) continue;
      if (end > horizon) bOpen = true;
      const v = recognisers[i]!.validate;
      if (v) end = v(text, p, end);
      if (end > p && (bEnd === -1 || end > bEnd || (end === bEnd && i < bRec))) {
        bEnd = end;
        bRec = i;
      }
    }
  }

  /**
   * bestOf for members whose prechecks were asked when the seek found p (see prechecked): only
   * those in `passed` (bit k: members[k]) are tried, without asking their prechecks again.
   */
  function bestOfPassed(text: string, p: number, members: readonly number[], passed: number): void {
    for (let k = 0; passed !== 0; k++, passed >>>= 1) {
      if ((passed & 1) === 0) continue;
      const i = members[k]!;
      const re = sticky[i]!;
      re.lastIndex = p;
      if (!re.test(text)) continue;
      let end = re.lastIndex;
      if (end <= p) continue;
      if (end > horizon) bOpen = true;
      const v = recognisers[i]!.validate;
      if (v) end = v(text, p, end);
      if (end > p && (bEnd === -1 || end > bEnd || (end === bEnd && i < bRec))) {
        bEnd = end;
        bRec = i;
      }
    }
  }

  /**
   * bestOf for a source whose members' patterns join: the members that match at p are found one
   * after another by the joined patterns of the members after the last one found (the alternation
   * is tried in order, so its first matching alternative is the next member that matches, with the
   * end that member's own pattern gives); members that do not match at p cost nothing more.
   */
  function bestOfJoined(text: string, p: number, s: Source): void {
    const members = s.members;
    let from = 0;
    while (from < members.length) {
      let re = s.rest[from];
      if (re === undefined) s.rest[from] = re = from === 0 ? s.re! : joined(members.slice(from), "y");
      // test() first: most runs fail, and exec() would build a match array for those that do not.
      re.lastIndex = p;
      if (!re.test(text)) return;
      re.lastIndex = p;
      const m = re.exec(text)!;
      let g = 1;
      while (m[g] === undefined) g++;
      const k = from + g - 1;
      const i = members[k]!;
      let end = p + m[0].length;
      if (end > horizon) bOpen = true;
      if (end > p) {
        const v = recognisers[i]!.validate;
        if (v) end = v(text, p, end);
        if (end > p && (bEnd === -1 || end > bEnd || (end === bEnd && i < bRec))) {
          bEnd = end;
          bRec = i;
        }
      }
      from = k + 1;
    }
  }

  /** The combined regex's next match at or after `pos`: position, members to try and the first of them that matched, end. */
  let cPos = -1;
  let cMembers: readonly number[] = shared;
  let cRank = 0;
  let cEnd = 0;
  const hit: WordHit = { members: shared, rank: 0, end: 0 };
  function nextCombined(text: string, pos: number): void {
    if (words) {
      // Word starts whose word some pattern can begin with; there, only those patterns.
      cPos = wordDispatched(text, pos, words, joinedOnce, memberRe, hit);
      cMembers = hit.members;
      cRank = hit.rank;
      cEnd = hit.end;
      return;
    }
    if (dispatch) {
      // Positions whose first two characters some pattern can begin with; there, only those patterns.
      const r = dispatched(text, pos, dispatch, wordStarts, (b) => joined(b.members, "y"));
      if (r !== undefined) {
        cPos = r.pos;
        cMembers = r.bucket.members;
        cRank = r.rank;
        cEnd = r.end;
        return;
      }
      cPos = -1;
      return;
    }
    combined!.lastIndex = pos;
    const m = combined!.exec(text);
    if (m === null) cPos = -1;
    else {
      cPos = m.index;
      let g = 1;
      while (m[g] === undefined) g++;
      cRank = g - 1;
      cEnd = m.index + m[0].length;
    }
  }

  /** 1 + the index of `members` in the source's lists (kinds with the same members share one). */
  function listOf(s: Source, members: number[]): number {
    const key = members.join(",");
    const k = s.lists.findIndex((l) => l.join(",") === key);
    if (k !== -1) return k + 1;
    s.lists.push(members);
    return s.lists.length;
  }

  /** Each source's next candidate during a scan (reused: a scan runs to completion before the next begins, as bEnd's use already assumes). */
  const sourcePos = new Int32Array(sources.length);
  /** Per source: its sourcePos is a bounded seek's candidate past the limit it was given, not yet decided. */
  const undecidedAt = new Uint8Array(sources.length);
  /** Per source with kinds: the members to try at its sourcePos (1 + the index in its lists). */
  const sourceList = new Int32Array(sources.length);
  /**
   * Per source with kinds: which of those members' prechecks allowed its sourcePos (bit k: the
   * list's k-th member; one without a precheck counts as allowed), or -1 when they are still to
   * be asked (a candidate at or past the scan's end, or of a bounded seek).
   */
  const sourcePassed = new Int32Array(sources.length);

  /**
   * Asks each member's precheck (Recogniser.possible) at c: bit k set when members[k] may match
   * there. -1 (ask them when deciding) for a list too long for the bits.
   */
  function prechecked(text: string, c: number, members: readonly number[]): number {
    if (members.length > 30) return -1;
    let passed = 0;
    for (let k = 0; k < members.length; k++) {
      const possible = possibles[members[k]!];
      if (possible === undefined || possible(text, c)) passed |= 1 << k;
    }
    return passed;
  }

  /** The members of source s to try at its candidate c (1 + the index in s.lists), from c's kind. */
  function listAt(s: Source, text: string, c: number): number {
    const kind = s.kinds!.kindAt(text, c);
    let l = s.byKind[kind]!;
    if (l === 0) s.byKind[kind] = l = listOf(s, s.members.filter((i) => recognisers[i]!.kinds!.admits(kind)));
    return l;
  }

  /**
   * Source k's next candidate from `from`; a bounded seek is told `limit`, a position decided anyway
   * (Recogniser.bounded; -1: none), and whether it answered past it is noted. For a source with
   * kinds, the members to try there are noted too, and a candidate of a kind no member admits is
   * passed over here, before `end` (where the scan stops): nothing would be tried there, and a
   * text of such candidates (`4111 1111 `: every number after another and a space) cost a step
   * of the scan over every source for each.
   */
  function seekFrom(text: string, from: number, scan: object, k: number, limit: number, undecided: Uint8Array, end: number): number {
    const s = sources[k]!;
    let c: number;
    if (!s.bounded || limit === -1) {
      undecided[k] = 0;
      c = s.seek(text, from, scan);
      if (s.kinds !== undefined) {
        for (; c !== -1; c = s.seek(text, c + 1, scan)) {
          const l = listAt(s, text, c);
          sourceList[k] = l;
          sourcePassed[k] = -1;
          if (s.lists[l - 1]!.length > 0 || c >= end) break;
        }
      }
      return c;
    }
    c = s.seek(text, from, scan, limit);
    undecided[k] = c > limit ? 1 : 0;
    if (s.kinds !== undefined && c !== -1) {
      sourceList[k] = listAt(s, text, c);
      sourcePassed[k] = -1;
    }
    return c;
  }

  /** The sources with candidate kinds and no bound (see passOver). */
  const kindSources = sources.flatMap((s, k) => (s.kinds !== undefined && !s.bounded ? [k] : []));

  /**
   * Candidates of a source with kinds where every member the kind admits has a precheck that
   * refuses (`GB00 `: the IBAN checksum and the postcode's shape; the `(` and the area code of
   * `(415) 555-2671 `, after another number): bestOf would ask those prechecks there, try
   * nothing and move on one character, after a step of the scan over every source (~1.2 k
   * instructions) to get there. When p, the next position to decide, is source ks's candidate
   * and no other source's, its prechecks are asked here, and while they all refuse the source
   * seeks on, up to the next candidate of any other source (so a candidate inside another
   * source's finding is not asked about, as before). Returns p's replacement: the source's next
   * candidate whose prechecks allowed it (noted, not to be asked again) or that lies at or past
   * `limit`, when that is still the next position to decide; -1 when the scan must look at its
   * sources again (another source's candidate comes first now, or none is left).
   */
  function passOver(text: string, p: number, ks: number, scan: object, limit: number): number {
    let q = cPos;
    for (let k = 0; k < sources.length; k++) {
      const c = sourcePos[k]!;
      if (k === ks || c === -1) continue;
      if (c === p) return p;
      if (q === -1 || c < q) q = c;
    }
    if (q === p) return p;
    const s = sources[ks]!;
    let c = p;
    for (;;) {
      const passed = prechecked(text, c, s.lists[sourceList[ks]! - 1]!);
      if (passed !== 0) {
        sourcePassed[ks] = passed;
        break;
      }
      c = seekFrom(text, c + 1, scan, ks, -1, undecidedAt, limit);
      if (c === -1 || c >= limit || (q !== -1 && c >= q)) break;
    }
    sourcePos[ks] = c;
    return c !== -1 && (q === -1 || c < q) ? c : -1;
  }

  /** The text and cursor where the last scan stopped with its sources' next candidates still valid (scanOn), and its seeks' scan object. */
  let resumeText: string | undefined;
  let resumeAt = -1;
  const noScan = {};
  let resumeScan: object = noScan;

  /** scanUntil, writing findings into `out` as numbers; `resume`: go on from the last call's state (scanOn). */
  function scanPackedUntil(text: string, from: number, limit: number, out: PackedFindings, until = Infinity, resume = false): number {
    horizon = until;
    const oPos = sourcePos;
    const undecided = undecidedAt;
    let scan: object;
    if (resume && text === resumeText && from === resumeAt) scan = resumeScan;
    else {
      // Next candidate of the combined regex, and of each source; each is re-run only once the
      // cursor passes it.
      cPos = combined ? -2 : -1;
      const skip = digitSources !== 0 && !DIGIT.test(text);
      for (let k = 0; k < oPos.length; k++) {
        oPos[k] = skip && needsDigits[k] === 1 ? -1 : -2;
        // A plain store: TypedArray.prototype.fill is a runtime call (~110 instructions a scan).
        undecided[k] = 0;
      }
      scan = {};
    }
    resumeText = undefined;
    resumeScan = noScan;
    let pos = from;
    for (;;) {
      if (cPos !== -1 && cPos < pos) nextCombined(text, pos);
      let p = cPos;
      // Whether p is a finding already (a seek that reports only what it has accepted proposes
      // it): only then are the bounded seeks told that it is decided anyway. Told it at a
      // near-miss (`AKIA12 ` every seven characters), a seek that would have passed over a run
      // of rejected capitals in one call is called again for each.
      let sure = false;
      for (let k = 0; k < sources.length; k++) {
        let c = oPos[k]!;
        const decidedAt = sure ? p : -1;
        if (c !== -1 && c < pos) oPos[k] = c = seekFrom(text, pos, scan, k, decidedAt, undecided, limit);
        else if (undecided[k] === 1 && (decidedAt === -1 || c <= decidedAt)) oPos[k] = c = seekFrom(text, c, scan, k, decidedAt, undecided, limit);
        if (c === -1) continue;
        if (p === -1 || c < p) {
          p = c;
          sure = sources[k]!.decided !== undefined;
        } else if (c === p && sources[k]!.decided !== undefined) sure = true;
      }
      if (p !== -1 && p < limit) {
        let again = false;
        for (let j = 0; j < kindSources.length; j++) {
          const ks = kindSources[j]!;
          if (oPos[ks] !== p || sourcePassed[ks] !== -1) continue;
          const next = passOver(text, p, ks, scan, limit);
          if (next === -1) again = true;
          else p = next;
          break;
        }
        if (again) continue;
      }
      if (p === -1 || p >= limit) {
        const cursor = Math.max(pos, Math.min(limit, text.length));
        // Every candidate above is at or after pos and was found by a seek from at most pos: the
        // same ones a call from the cursor would find first (scanOn).
        // Kept only while text is left (a whole scan lets go of its text as it ends).
        if (until === Infinity && cursor < text.length) {
          resumeText = text;
          resumeAt = cursor;
          resumeScan = scan;
        }
        return cursor;
      }
      bEnd = -1;
      bOpen = false;
      if (p === cPos) {
        const i = cMembers[cRank]!;
        if (firstMatch && cEnd > p && !recognisers[i]!.validate) {
          if (cEnd > horizon) bOpen = true;
          bEnd = cEnd;
          bRec = i;
        } else bestOf(text, p, cMembers, cRank);
      }
      for (let k = 0; k < sources.length; k++) {
        if (oPos[k] !== p) continue;
        const s = sources[k]!;
        // Near the horizon the memo is not taken: it does not say where a refused match ended.
        if (s.decided !== undefined && p + s.maxLength <= horizon) {
          // What the seek decided there, when it knows (Recogniser.decided): the pattern and the
          // validator are not run again. Members are asked in order; if one does not know, the
          // patterns decide (what the members before it answered is what they give anyway).
          const ds = s.decided;
          let j = 0;
          for (; j < ds.length; j++) {
            const end = ds[j]!(text, p);
            if (end === undefined) break;
            if (end > horizon) bOpen = true;
            const i = s.members[j]!;
            if (end > p && (bEnd === -1 || end > bEnd || (end === bEnd && i < bRec))) {
              bEnd = end;
              bRec = i;
            }
          }
          if (j === ds.length) continue;
        }
        if (s.kinds !== undefined) {
          // The members its kind admits, noted when the seek found it, and of those the ones
          // whose prechecks allowed it when known.
          const passed = sourcePassed[k]!;
          if (passed === -1) bestOf(text, p, s.lists[sourceList[k]! - 1]!, 0);
          else bestOfPassed(text, p, s.lists[sourceList[k]! - 1]!, passed);
        } else if (s.re) bestOfJoined(text, p, s);
        else bestOf(text, p, s.members, 0);
      }
      if (bOpen) return p;
      if (bEnd !== -1) {
        out.push(p, bEnd, bRec);
        pos = bEnd;
      } else pos = p + 1;
    }
  }

  // scanUntil's numbers, kept from one call to the next: a text dense with findings (a dotted quad
  // every 14 characters) grows it to megabytes, and on a machine that charges for every first
  // touch of a page, allocating that afresh per scan cost more than the scan. Not kept past
  // KEEP_FINDINGS findings. (scanUntil runs to completion before it can be called again.)
  let kept = new PackedFindings();
  const types = recognisers.map((r) => r.type);
  // The seeks' memos of what they decided (Recogniser.forget): dropped as each scan ends.
  const forgets = recognisers.flatMap((r) => (r.forget ? [r.forget] : []));
  function forgetSeeks(): void {
    for (let i = 0; i < forgets.length; i++) forgets[i]!();
  }
  function scanUntil(text: string, from: number, limit: number, out: Finding[], until?: number, resume = false): number {
    const packed = kept;
    packed.length = 0;
    const cursor = scanPackedUntil(text, from, limit, packed, until, resume);
    // Between two stretches too (scanOn): a memo is a cache, and the next stretch decides without it.
    forgetSeeks();
    const d = packed.data;
    for (let k = 0; k < packed.length; k++) {
      const i = d[k * 3 + 2]!;
      out.push({ type: types[i]!, start: d[k * 3]!, end: d[k * 3 + 1]!, recogniser: i });
    }
    if (packed.data.length > KEEP_FINDINGS * 3) kept = new PackedFindings();
    return cursor;
  }

  /** Leftmost position in [from, limit) where `re` (a zero-width tail regex) matches, else limit. */
  function firstTail(re: RegExp, text: string, from: number, limit: number): number {
    if (from >= limit) return limit;
    re.lastIndex = from;
    return re.test(text) ? Math.min(re.lastIndex, limit) : limit;
  }

  /**
   * firstTail of a tail regex whose patterns open with literals (TailRegex.leads), over a large
   * stretch: the regex can match only where one of them starts, or where the text's end cuts one
   * off, so it starts at the first such place (limit: none before it). In prose the long-hold
   * group's regex (PEM, bearer, JWT: `-----BEGIN `, `[Bb]earer `, `eyJ`) tried every `e` and `b`.
   */
  function firstLedTail(t: TailRegex, text: string, from: number, limit: number): number {
    const leads = t.leads!;
    const len = text.length;
    let first = limit;
    for (let k = 0; k < leads.length; k++) {
      const lead = leads[k]!;
      if (t.skip![k] === 0) {
        const j = text.indexOf(lead, from);
        if (j !== -1 && j < first) first = j;
        continue;
      }
      const rest = t.probes![k]!;
      const c = lead.charCodeAt(0);
      for (let i = from + 1; i < first + 1; ) {
        const j = text.indexOf(rest, i);
        if (j === -1 || j > first) break;
        if (text.charCodeAt(j - 1) === c) {
          first = j - 1;
          break;
        }
        i = j + 1;
      }
    }
    // A literal cut off by the end of the text (its longest beginning there first).
    for (let k = 0; k < leads.length; k++) {
      const cut = t.cut![k]!;
      for (let c = 0; c < cut.length; c++) {
        const at = len - cut[c]!.length;
        if (at < from || at >= first) continue;
        if (text.startsWith(cut[c]!, at)) {
          first = at;
          break;
        }
      }
    }
    return firstTail(t.re, text, first, limit);
  }

  function frontier(text: string, from = 0): number {
    const len = text.length;
    const start = Math.max(0, Math.min(from, len));
    let f = len;
    for (const t of sharedTails) {
      const lo = Math.max(start, len - t.hold);
      f = t.leads !== undefined && f - lo >= LEADS_FROM ? firstLedTail(t, text, lo, f) : firstTail(t.re, text, lo, f);
    }
    for (const t of ownTails) f = firstTail(t.re, text, Math.max(start, len - t.hold), f);
    for (const t of seekTails) {
      const p = t.seek(text, Math.max(start, len - t.hold));
      if (p !== -1 && p < f) f = p;
    }
    if (seekTails.length > 0) forgetSeeks();
    if (unanchoredHold > 0) f = Math.min(f, len - unanchoredHold);
    for (const g of anchorGroups) {
      const floor = len - g.hold;
      if (floor >= f) continue;
      // Earliest place the literal starts (or may start, if cut off at the end) at or after floor.
      let j = text.indexOf(g.literal, Math.max(0, floor));
      if (j === -1) j = len;
      for (let k = Math.min(g.literal.length - 1, len); k > 0; k--) {
        if (len - k < j && text.startsWith(g.literal.slice(0, k), len - k)) {
          j = len - k;
          break;
        }
      }
      f = Math.min(f, Math.max(floor, j - g.within + 1));
    }
    return Math.max(start, Math.min(f, len));
  }

  return {
    recognisers,
    lookbehind,
    prefilter,
    scan(text) {
      if (prefilter !== undefined && !prefilter.test(text)) return [];
      const packed = kept;
      packed.length = 0;
      scanPackedUntil(text, 0, text.length, packed);
      forgetSeeks();
      // Made at its size: a text dense with findings would grow it push by push, copying.
      const n = packed.length;
      const out = new Array<Finding>(n);
      const d = packed.data;
      for (let k = 0; k < n; k++) {
        const i = d[k * 3 + 2]!;
        out[k] = { type: types[i]!, start: d[k * 3]!, end: d[k * 3 + 1]!, recogniser: i };
      }
      if (packed.data.length > KEEP_FINDINGS * 3) kept = new PackedFindings();
      return out;
    },
    scanPacked(text) {
      const out = new PackedFindings();
      if (prefilter !== undefined && !prefilter.test(text)) return out;
      scanPackedUntil(text, 0, text.length, out);
      forgetSeeks();
      return out;
    },
    scanUntil: (text, from, limit, out, until) => scanUntil(text, from, limit, out, until),
    scanOn: (text, from, limit, out) => scanUntil(text, from, limit, out, undefined, true),
    frontier,
  };
}

import { tailSource, type Recogniser } from "../scan/index.js";
import { gazetteers, type Gazetteers } from "./gazetteer.js";
import { codeAt } from "./chars.js";
import { SeekMemo } from "./seek-memo.js";
import { FOLD_LOWER_FIRST, FOLD_LOWER_REST, FOLD_UPPER_FIRST, hashLowerAscii, WordHashes, WordShapes, WordTable } from "./word-hash.js";
import {
  brandPairs,
  calendar,
  leadPhrases,
  LOWER as L,
  notNames,
  particles,
  placeBefore,
  possessedByPerson,
  thingAfter,
  thingBefore,
  titles,
  UPPER as U,
  verbsBefore,
} from "./name-words.js";

/**
 * Person names in running text, decided by gazetteers and the words around them instead of a model:
 * a run of capitalised words is a name when it reads as given name + surname (census and faker
 * lists), or follows a title or a phrase of address (`Dr.`, `Dear`, `my name is`), or is a given
 * name that is not also a common word or a place. Names that are words (`Will`, `Rose`, `Hope`,
 * `Paris`, `Jordan`) need a surname after them or a cue around them (`I told Will`, `Rose said`).
 *
 * The regex is only the shape (capitalised words, initials, particles, `Doe, Jane`, lower-case words
 * after `my name is`) and bounds what the stream guard holds; `validate` decides and may shorten.
 * It reads at most LOOKBEHIND characters before a match and RIGHT characters after its regex end,
 * which the pattern's final lookahead makes the stream guard wait for.
 */

const LOOKBEHIND = 40;
const RIGHT = 16;

const tokRest = `(?:[${L}]{1,20}(?:['’-]?[${U}][${L}]{1,20})?(?:-[${U}]?[${L}]{1,20})?|['’][${U}][${L}]{1,20}|[${U}]{1,20})(?![${U}${L}0-9])`;
const tok = `[${U}]${tokRest}`;
const initial = `[${U}]\\.`;
const particle = `(?:${[...particles].sort((a, b) => b.length - a.length).join("|")})`;
const element = `(?:${initial}|(?:${particle}[ -]){0,2}${tok})`;
/** A capital that starts a word (not inside McDonald, O'Brien, Jean-Luc, J.R.). */
const wordStart = `[${U}](?<![${U}${L}0-9_'’.\\-][${U}])`;
const capitalised = `${wordStart}(?:\\.|${tokRest})(?:(?:, | )${element}){0,4}`;
const leadCue = `(?:[Nn]ame is|[Nn]ame's|[Cc]all me|\\b[Ii] am|\\b[Ii]'m|[Tt]his is)`;
const lowerCase = `[a-z](?<=${leadCue} [a-z])[a-z]{1,19}(?: [a-z]{2,20}){0,2}`;

export const personPattern = `(?:${capitalised}|${lowerCase})(?=[\\s\\S]{0,${RIGHT}})`;

interface Info {
  /** Census rank as a given name, cut by rankBucket (0, 400 or 1,500), Infinity for other lists' names, -1 when not a given name. */
  given: number;
  /** Likewise as a surname (0, 3,000 or 5,000). */
  sur: number;
  common: boolean;
  uncommon: boolean;
  place: string | undefined;
  /** Never part of a name: titles, company words, nationalities, brands. */
  block: boolean;
  caps: boolean;
}

function titleCase(w: string): string {
  return w[0]! + w.slice(1).toLowerCase();
}

/**
 * A census rank cut to the thresholds the decision compares it with (given: 400, 1,500; surname:
 * 3,000, 5,000; both: -1 for none, Infinity for other lists' names): every test of a rank gives
 * the same answer for the cut one, and the ~80,000 words share a few hundred records, which stay
 * in the cache however random the words asked about (see WordTable).
 */
function rankBucket(rank: number, cuts: readonly number[]): number {
  if (rank < 0 || rank === Infinity) return rank;
  let b = 0;
  for (const c of cuts) if (rank >= c) b = c;
  return b;
}
const GIVEN_CUTS = [400, 1500];
const SUR_CUTS = [3000, 5000];

/** One frozen record per distinct Info. */
const interned = new Map<string, Info>();
function intern(t: Info): Info {
  const key = `${t.given}|${t.sur}|${t.common}|${t.uncommon}|${t.place}|${t.block}|${t.caps}`;
  let x = interned.get(key);
  if (x === undefined) interned.set(key, (x = Object.freeze(t)));
  return x;
}

function computeInfo(g: Gazetteers, key: string, caps: boolean): Info {
  const lower = key.toLowerCase();
  return {
    given: rankBucket(g.given.get(key) ?? -1, GIVEN_CUTS),
    sur: rankBucket(g.surnames.get(key) ?? -1, SUR_CUTS),
    common: calendar.has(lower) || g.common.has(lower),
    uncommon: g.uncommon.has(lower),
    place: g.places.get(key),
    block: notNames.has(lower) || titles.has(lower) || thingAfter.has(lower) || thingBefore.has(lower),
    caps,
  };
}

const unknown: Info = Object.freeze({ given: -1, sur: -1, common: false, uncommon: false, place: undefined, block: false, caps: false });

let lexicon: Map<string, Info> | undefined;
/**
 * Every word any list knows, title-cased, with what the lists say of it: one lookup per word on
 * the hot path instead of eight, and no allocation. Built once, when a rule with `person` is compiled.
 */
export function personLexicon(): Map<string, Info> {
  return lexicon ?? buildLexicon();
}

function buildLexicon(): Map<string, Info> {
  const g = gazetteers();
  const keys = new Set<string>([...g.given.keys(), ...g.surnames.keys()]);
  for (const p of g.places.keys()) if (!p.includes(" ")) keys.add(p);
  for (const set of [g.common, g.uncommon, calendar, notNames, titles, thingAfter, thingBefore]) for (const w of set) keys.add(w[0]!.toUpperCase() + w.slice(1));
  const m = new Map<string, Info>();
  for (const k of keys) m.set(k, intern(computeInfo(g, k, false)));
  lexicon = m;
  lexTable = new WordTable(m);
  capStart = buildCapStart(m);
  return m;
}

/** The lexicon read in place (seekPerson's fast paths): the same entries, no substring per word. */
let lexTable: WordTable<Info> | undefined;

/** Upper-case infos by the title-cased entry they copy (capsInfo without the word as key). */
const capsOfEntry = new Map<Info, Info>();
const unknownCaps: Info = Object.freeze({ ...unknown, caps: true });

/**
 * What the lists say of upper-case words (`PRIVATE`, `KEY`), by word: working it out builds three
 * strings and an object, and text that shouts (headers, PEM lines, logs) asks for the same few
 * words again and again. Infos are never changed, so one object serves every ask. Bounded.
 */
const capsInfo = new Map<string, Info | null>();

function infoOf(_g: Gazetteers | undefined, word: string): Info {
  const lex = personLexicon();
  if (word.length > 1 && word.charCodeAt(1) < 97) {
    let c = capsInfo.get(word);
    if (c === undefined) {
      if (word === word.toUpperCase()) {
        const t = lex.get(titleCase(word));
        c = Object.freeze(t === undefined ? { ...unknown, caps: true } : { ...t, caps: true });
      } else c = null;
      if (capsInfo.size >= 4096) capsInfo.clear();
      capsInfo.set(word, c);
    }
    if (c !== null) return c;
  }
  return lex.get(word) ?? unknown;
}

/**
 * What the lists say of the word text[s, e), remembered by position while one text is scanned.
 * A capitalised word is asked about up to six times (its seek's fast rejection, cannotStart, then
 * as an element of every earlier candidate's run and its own): on text where every word is a name
 * (lists, tables, `Jane Doe, John Smith, …`) each of those was a lookup in an 80,000-word table,
 * mostly a cache miss. Direct-mapped by start: a slot holds the last word read at a position
 * congruent to it. Dropped with the seek's memory when the scan ends (Recogniser.forget).
 */
const WORD_SLOTS = 256;
const slotStart = new Int32Array(WORD_SLOTS).fill(-1);
const slotEnd = new Int32Array(WORD_SLOTS);
const slotInfo: Info[] = new Array<Info>(WORD_SLOTS);
let slotText: string | undefined;

const FNV_SEED = 0x811c9dc5 | 0;

/** infoOf(text.slice(s, e)), read in place when the word is ASCII letters after an ASCII capital. */
function infoRange(text: string, s: number, e: number): Info {
  if (text !== slotText) {
    slotText = text;
    slotStart.fill(-1);
  }
  const k = s & (WORD_SLOTS - 1);
  if (slotStart[k] === s && slotEnd[k] === e) return slotInfo[k]!;
  // One pass: whether the word is ASCII letters after an ASCII capital, its hash as written and,
  // for a word upper case throughout, its hash title-cased: no substring, one pass.
  const c0 = text.charCodeAt(s);
  let plain = e > s && c0 >= 65 && c0 <= 90;
  let upperRest = true;
  let h = Math.imul(FNV_SEED ^ c0, 16777619);
  let hTitle = h;
  for (let i = s + 1; plain && i < e; i++) {
    const c = text.charCodeAt(i);
    if (c >= 97 && c <= 122) {
      upperRest = false;
      h = Math.imul(h ^ c, 16777619);
    } else if (c >= 65 && c <= 90) {
      h = Math.imul(h ^ c, 16777619);
      hTitle = Math.imul(hTitle ^ (c + 32), 16777619);
    } else plain = false;
  }
  let t: Info;
  if (!plain) t = infoOf(undefined, text.slice(s, e));
  else {
    if (lexTable === undefined) personLexicon();
    if (e - s > 1 && upperRest) {
      // Upper case throughout: the title-cased entry, marked caps (as infoOf).
      const u = lexTable!.getHashed(hTitle, text, s, e, FOLD_LOWER_REST);
      if (u === undefined) t = unknownCaps;
      else {
        let c = capsOfEntry.get(u);
        if (c === undefined) capsOfEntry.set(u, (c = Object.freeze({ ...u, caps: true })));
        t = c;
      }
    } else t = lexTable!.getHashed(h, text, s, e) ?? unknown;
  }
  slotStart[k] = s;
  slotEnd[k] = e;
  slotInfo[k] = t;
  return t;
}

const isGiven = (t: Info) => t.given >= 0 && !t.block;
const placeLike = (t: Info) => t.place === "country" || t.place === "major" || (t.place === "city" && t.given >= 400);
const strongGiven = (t: Info) => isGiven(t) && !t.common && !placeLike(t) && !(t.uncommon && t.given === Infinity);
const surLike = (t: Info) => t.sur >= 0 && !t.block && (!t.common || t.sur < 3000);
const strongSur = (t: Info) => t.sur >= 0 && !t.block && !t.common && t.place !== "country" && t.place !== "major";
const unknownLength = (t: Info, n: number) =>
  t.given < 0 && t.sur < 0 && !t.common && !t.uncommon && t.place === undefined && !t.block && !t.caps && n >= 3;
const unknownWord = (t: Info, w: string) => unknownLength(t, w.length);
const nameishLength = (t: Info, n: number) => isGiven(t) || (t.sur >= 0 && !t.block) || unknownLength(t, n);
const nameish = (t: Info, w: string) => nameishLength(t, w.length);

/**
 * The elements of the pattern's match that decide reads (words, initials `Q.`; a lower-case particle
 * belongs to the word after it), in parallel arrays reused by every decision: no object, array or
 * substring per word. Element i spans [elStart[i], elEnd[i]); its word itself starts at elWord[i]
 * (after a particle joined by a hyphen, `al-Hassan`). decide is never re-entered.
 */
let elStart = new Int32Array(8);
let elEnd = new Int32Array(8);
let elWord = new Int32Array(8);
/** EL_INITIAL, EL_COMMA (separated from the previous element by a comma). */
let elFlags = new Uint8Array(8);
/** What the lists say of the word (undefined for an initial). */
const elInfo: (Info | undefined)[] = new Array<Info | undefined>(8).fill(undefined);
let elCount = 0;
const EL_INITIAL = 1;
const EL_COMMA = 2;

function pushElement(start: number, end: number, word: number, flags: number, info: Info | undefined): void {
  const i = elCount;
  if (i === elStart.length) {
    const grow = <T extends Int32Array | Uint8Array>(a: T, b: T): T => (b.set(a), b);
    elStart = grow(elStart, new Int32Array(i * 2));
    elEnd = grow(elEnd, new Int32Array(i * 2));
    elWord = grow(elWord, new Int32Array(i * 2));
    elFlags = grow(elFlags, new Uint8Array(i * 2));
  }
  elStart[i] = start;
  elEnd[i] = end;
  elWord[i] = word;
  elFlags[i] = flags;
  elInfo[i] = info;
  elCount = i + 1;
}

/** Reads the elements of text[start, end) into the arrays above. */
function elements(text: string, start: number, end: number): void {
  elCount = 0;
  if (start === runStart && end === runEnd && text === runText) {
    // The run of plain words plainMatchEnd has just read: its words are the elements.
    for (let k = 0; k < runCount; k++) pushElement(runWordStart[k]!, runWordEnd[k]!, runWordStart[k]!, runComma[k]!, infoRange(text, runWordStart[k]!, runWordEnd[k]!));
    return;
  }
  let i = start;
  let comma = 0;
  let pendingParticle = -1;
  while (i < end) {
    let j = i;
    for (; j < end; j++) {
      const d = text.charCodeAt(j);
      if (d === 32 || d === 44) break;
    }
    const c = i < j ? text.charCodeAt(i) : NaN;
    if (c >= 97 && c <= 122) {
      // A particle, maybe joined to its surname by a hyphen (al-Hassan): it belongs to the next word.
      let dash = i;
      while (dash < j && text.charCodeAt(dash) !== 45) dash++;
      if (dash === j) {
        if (pendingParticle === -1) pendingParticle = i;
      } else {
        pushElement(pendingParticle === -1 ? i : pendingParticle, j, dash + 1, comma, infoRange(text, dash + 1, j));
        pendingParticle = -1;
        comma = 0;
      }
    } else if (j - i === 2 && text.charCodeAt(i + 1) === 46) {
      pushElement(i, j, i, comma | EL_INITIAL, undefined);
      comma = 0;
    } else {
      pushElement(pendingParticle === -1 ? i : pendingParticle, j, i, comma, infoRange(text, i, j));
      pendingParticle = -1;
      comma = 0;
    }
    if (j < end && text.charCodeAt(j) === 44) {
      comma = EL_COMMA;
      j++;
    }
    i = j + 1;
  }
}

/** Letters (Latin, with accents) and apostrophes: the characters of a word. */
function isWordChar(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 0xc0 && c <= 0x24f && c !== 0xd7 && c !== 0xf7) || c === 39 || c === 0x2019;
}

interface Before {
  /** Up to three words before the match, nearest first, lower case. */
  words: string[];
  /** What lies between the nearest word and the match. */
  gap: string;
  /** Only the first `most` words were read (see before). */
  partial?: boolean;
}

/**
 * The words before `start`: up to `most` of them (three by default). With fewer than three asked
 * for, `partial` says the walk stopped at that count and more words may lie before (strongCue then
 * reads all three: only its lead phrases look past the nearest word).
 */
function before(text: string, start: number, most = 3): Before {
  const from = Math.max(0, start - LOOKBEHIND);
  const words: string[] = [];
  let gap = "";
  let i = start;
  while (words.length < 3 && i > from) {
    if (words.length === most) return { words, gap, partial: true };
    let j = i;
    while (j > from && !isWordChar(text.charCodeAt(j - 1))) j--;
    if (words.length === 0) gap = text.slice(j, i);
    else
      for (let q = j; q < i; q++) {
        const c = text.charCodeAt(q);
        if (c === 46 || c === 33 || c === 63 || c === 10 || c === 58 || c === 59) return { words, gap };
      }
    let k = j;
    while (k > from && isWordChar(text.charCodeAt(k - 1))) k--;
    if (k === j || (k === from && from > 0)) break;
    words.push(text.slice(k, j).toLowerCase());
    i = k;
  }
  return { words, gap };
}

/** The last word of each lead phrase: the nearest word before must be one for any phrase to match. */
const leadLast = new Set(leadPhrases.map((p) => p[p.length - 1]!));

/** Abbreviated titles that may keep their full stop (`Dr. Doe`). */
const abbreviations = new Set(["mr", "mrs", "ms", "mx", "dr", "prof", "rev", "fr", "capt", "lt", "col", "gen", "det", "sgt", "sen", "rep", "gov", "sr", "sra", "srta", "m", "mme", "mlle", "hr", "sig", "dott", "attn", "st", "mt", "ft", "messrs"]);
const greetings = new Set(["dear", "hi", "hello", "hey", "thanks", "cheers", "regards", "sincerely", "best", "attn", "attention", "signed"]);

function strongCue(b: Before, text: string, start: number): boolean {
  const w1 = b.words[0];
  if (w1 === undefined) return false;
  const gap = b.gap;
  if (titles.has(w1)) {
    if (gap === " " || gap === "  ") return true;
    if (abbreviations.has(w1) && (gap === ". " || gap === "." || gap === ".  ")) return true;
    if (greetings.has(w1) && /^[ \t]*[,:]?[ \t]*\r?\n?[ \t]*$/.test(gap)) return true;
    return false;
  }
  if (!/^[ \t]*:?[ \t]*$/.test(gap)) return false;
  if (!leadLast.has(w1)) return false;
  if (b.partial === true) b = before(text, start);
  return leadPhrases.some((p) => p.every((w, i) => b.words[p.length - 1 - i] === w));
}

/** The characters the word after a name stops at (afterClasses): \s (ECMAScript's white space and line terminators) and `,.;:!?()"`. */
function endsAfterWord(c: number): boolean {
  if (c <= 32) return c === 32 || (c >= 9 && c <= 13);
  if (c < 128) return c === 44 || c === 46 || c === 59 || c === 58 || c === 33 || c === 63 || c === 40 || c === 41 || c === 34;
  return c === 0xa0 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) || c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000 || c === 0xfeff;
}

/** First words of the brand pairs: the pair is built and looked up only after one of them. */
const brandFirst = new Set([...brandPairs].map((p) => p.slice(0, p.indexOf("_"))));

const productWords = new Set("pro plus ultra mini air lite edition series model version max se xl gt sport turbo neo note fold flip".split(" "));

const saidVerbs = new Set(
  "said says told asked wrote writes replied replies answered answers emailed texted phoned called thinks thought smiled laughed nodded confirmed explained mentioned insisted suggested agreed whispered shouted added noted presented arrived joined signed".split(
    " ",
  ),
);

/**
 * What the word lists say of the word right before a candidate or right after a name, as bits: one
 * lookup where the word stands, instead of a substring, its lower case and a Set per list (a fresh
 * substring is hashed again by every Set it is looked up in). Each bit is exactly one test decide
 * made on the lower-cased word.
 */
const W_TITLE = 1;
const W_ABBREV = 1 << 1;
const W_GREETING = 1 << 2;
const W_LEAD_LAST = 1 << 3;
/** thingBefore except the determiners: a place prefix (`St.`, `Lake`, `Fort`). */
const W_PLACE_PREFIX = 1 << 4;
const W_BRAND_FIRST = 1 << 5;
/** the, a, an */
const W_ARTICLE = 1 << 6;
/** the, a, an, this, that, our, your, their, its */
const W_DETERMINER = 1 << 7;
const W_PRODUCT = 1 << 8;
const W_PLACE_BEFORE = 1 << 9;
const W_VERB_BEFORE = 1 << 10;
const W_THING_AFTER = 1 << 11;
const W_SAID = 1 << 12;
const W_POSSESSED = 1 << 13;
/** afterClasses: the word follows a possessive `'s`. */
const W_POSSESSIVE = 1 << 14;

const placePrefixExempt = ["the", "a", "an", "this", "that", "these", "those", "our", "your", "their", "its"];
const determiners = ["the", "a", "an", "this", "that", "our", "your", "their", "its"];

let classTable: WordTable<number> | undefined;
/** The shapes of the words with classes: most words before and after a name are passed over by their ends alone. */
let classShapes: WordShapes | undefined;

function wordClasses(): WordTable<number> {
  return classTable ?? buildClasses();
}

function classFilter(): WordShapes {
  if (classShapes === undefined) buildClasses();
  return classShapes!;
}

function buildClasses(): WordTable<number> {
  const m = new Map<string, number>();
  const add = (ws: Iterable<string>, bit: number) => {
    for (const w of ws) m.set(w, (m.get(w) ?? 0) | bit);
  };
  add(titles, W_TITLE);
  add(abbreviations, W_ABBREV);
  add(greetings, W_GREETING);
  add(leadLast, W_LEAD_LAST);
  add([...thingBefore].filter((w) => !placePrefixExempt.includes(w)), W_PLACE_PREFIX);
  add(brandFirst, W_BRAND_FIRST);
  add(["the", "a", "an"], W_ARTICLE);
  add(determiners, W_DETERMINER);
  add(productWords, W_PRODUCT);
  add(placeBefore, W_PLACE_BEFORE);
  add(verbsBefore, W_VERB_BEFORE);
  add(thingAfter, W_THING_AFTER);
  add(saidVerbs, W_SAID);
  add(possessedByPerson, W_POSSESSED);
  classShapes = new WordShapes(m.keys());
  return (classTable = new WordTable(m));
}

/** The classes of text[s, e) lower-cased (as text.slice(s, e).toLowerCase() is looked up in each list). */
function classesOf(text: string, s: number, e: number): number {
  const table = wordClasses();
  const h = hashLowerAscii(text, s, e);
  if (h !== undefined) return table.getHashed(h, text, s, e, FOLD_LOWER_FIRST | FOLD_LOWER_REST) ?? 0;
  const w = text.slice(s, e).toLowerCase();
  return table.get(w, 0, w.length) ?? 0;
}

/**
 * The nearest word before a candidate as before(text, start, 1) finds it, kept in scalars (decide
 * is not re-entered): its bounds (prevStart -1: none), where the gap between it and the candidate
 * begins (the gap is text[gapStart, start); gapStart === start with nothing before), its classes.
 */
let prevStart = -1;
let prevClasses = 0;
let gapStart = 0;

function readBefore(text: string, start: number): void {
  const from = Math.max(0, start - LOOKBEHIND);
  prevStart = -1;
  prevClasses = 0;
  gapStart = start;
  if (start <= from) return;
  let j = start;
  while (j > from && !isWordChar(text.charCodeAt(j - 1))) j--;
  gapStart = j;
  let k = j;
  let high = 0;
  for (; k > from; k--) {
    const c = text.charCodeAt(k - 1);
    if (!isWordChar(c)) break;
    high |= c;
  }
  if (k === j || (k === from && from > 0)) return;
  prevStart = k;
  prevClasses = high < 128 && !classFilter().mayHoldAscii(text, k, j) ? 0 : classesOf(text, k, j);
}

/** There is a word before the candidate, one space before it. */
function spaceBefore(text: string, start: number): boolean {
  return prevStart !== -1 && start - gapStart === 1 && text.charCodeAt(gapStart) === 32;
}

/** strongCue(before(text, start), text, start), from readBefore's scalars: the words themselves are cut out only for a lead phrase. */
function strongCueBefore(text: string, start: number): boolean {
  if (prevStart === -1) return false;
  const cls = prevClasses;
  const g = gapStart;
  const n = start - g;
  if (cls & W_TITLE) {
    const c0 = text.charCodeAt(g);
    if (c0 === 32 && (n === 1 || (n === 2 && text.charCodeAt(g + 1) === 32))) return true;
    if (cls & W_ABBREV && c0 === 46 && (n === 1 || (n === 2 && text.charCodeAt(g + 1) === 32) || (n === 3 && text.charCodeAt(g + 1) === 32 && text.charCodeAt(g + 2) === 32))) return true;
    if (cls & W_GREETING && /^[ \t]*[,:]?[ \t]*\r?\n?[ \t]*$/.test(text.slice(g, start))) return true;
    return false;
  }
  if (!(cls & W_LEAD_LAST)) return false;
  // /^[ \t]*:?[ \t]*$/ on the gap.
  let q = g;
  while (q < start && (text.charCodeAt(q) === 32 || text.charCodeAt(q) === 9)) q++;
  if (q < start && text.charCodeAt(q) === 58) q++;
  while (q < start && (text.charCodeAt(q) === 32 || text.charCodeAt(q) === 9)) q++;
  if (q !== start) return false;
  const b = before(text, start);
  return leadPhrases.some((p) => p.every((w, i) => b.words[p.length - 1 - i] === w));
}

/**
 * The word after a name, skipping one space or `, `, or a possessive `'s` and the space after it,
 * as /^(?:(['’]s)? |, )([^\s,.;:!?()"]+)/ reads text.slice(end, end + RIGHT) (held to it by
 * test/policy/names-equivalence.test.ts), as classes: those of the word lower-cased, with
 * W_POSSESSIVE after `'s`; 0 for no word. No slice and no regex per candidate.
 */
function afterClasses(text: string, end: number): number {
  const lim = Math.min(text.length, end + RIGHT);
  const c = text.charCodeAt(end);
  let q: number;
  let possessive = 0;
  if ((c === 39 || c === 0x2019) && end + 2 < lim && text.charCodeAt(end + 1) === 115 && text.charCodeAt(end + 2) === 32) {
    q = end + 3;
    possessive = W_POSSESSIVE;
  } else if (c === 32 && end < lim) q = end + 1;
  else if (c === 44 && end + 1 < lim && text.charCodeAt(end + 1) === 32) q = end + 2;
  else return 0;
  let r = q;
  let high = 0;
  for (; r < lim; r++) {
    const d = text.charCodeAt(r);
    if (endsAfterWord(d)) break;
    high |= d;
  }
  if (r === q) return 0;
  if (high < 128 && !classFilter().mayHoldAscii(text, q, r)) return possessive;
  return classesOf(text, q, r) | possessive;
}

/** The word after a name makes it a thing (`Jordan Inc`), unless it follows a possessive. */
const thingFollows = (a: number) => (a & (W_POSSESSIVE | W_THING_AFTER)) === W_THING_AFTER;

/** The street types as written (gazetteers().streetTypes), read in place. */
let streetTable: WordTable<boolean> | undefined;
/** Their shapes as written: equal words have equal shapes, so a word of another shape is none of them (whatever its characters). */
let streetShapes: WordShapes | undefined;
function isStreetType(text: string, i: number): boolean {
  const s = elWord[i]!;
  const e = elEnd[i]!;
  if (streetTable === undefined) buildStreetTable();
  // Most words of a run of names are of no street type's shape: no hash, no probe.
  if (e > s && !streetShapes!.mayHoldAscii(text, s, e)) return false;
  return streetTable!.get(text, s, e) !== undefined;
}
function buildStreetTable(): WordTable<boolean> {
  const types = [...gazetteers().streetTypes];
  streetShapes = new WordShapes(types);
  return (streetTable = new WordTable(types.map((w): [string, boolean] => [w, true])));
}

/** The first words of the brand pairs, by their hash: a word whose lower case hashes to none of them begins none. */
const brandHashes = new WordHashes(brandFirst);

/** (classesOf(text, s, e) & W_BRAND_FIRST) !== 0, with most words (names) passed over by their lower case's hash alone. */
function beginsBrand(text: string, s: number, e: number): boolean {
  const h = hashLowerAscii(text, s, e);
  if (h !== undefined && !brandHashes.mayHoldHash(h)) return false;
  return (classesOf(text, s, e) & W_BRAND_FIRST) !== 0;
}

/** Element i's word, cut out and lower-cased (brand pairs only, after a first word that begins one). */
const lowerWordOf = (text: string, i: number) => text.slice(elWord[i]!, elEnd[i]!).toLowerCase();
/** Element i's word's length. */
const wordLength = (i: number) => elEnd[i]! - elWord[i]!;

/**
 * Most candidates are capitalised words that are no name (`The`, `After`, `Please`): every rule
 * needs the first word to be a name, a surname, an unknown word or an initial. One lookup decides.
 */
function cannotStart(text: string, start: number, end: number): boolean {
  let j = start + 1;
  while (j < end && isWordChar(text.charCodeAt(j))) j++;
  if (j - start === 1 && text.charCodeAt(j) === 46) return false;
  return cannotStartWith(text, j, infoRange(text, start, j), j - start);
}

/** cannotStart once the word (ending at `j`, `n` characters) and what the lists say of it are known. */
function cannotStartWith(text: string, j: number, t: Info, n: number): boolean {
  if (t.block) return true;
  // Everyday words that some list also has as a name (`In`, `Most`, `Friday`): a name only when
  // the name is a common one (`Will`, `Rose`, `Mark`: census rank under 1,500) or the surname is.
  if (t.common) {
    if ((isGiven(t) && t.given < 1500) || surLike(t)) return false;
    // `Jun Zhang`: a rarer name that is also a word may still begin a full name.
    const c = codeAt(text, j + 1);
    return !(isGiven(t) && codeAt(text, j) === 32 && c >= 65 && c <= 90);
  }
  return !nameishLength(t, n);
}

/** The last decision, which seekPerson has just taken and the scanner asks for again at once. */
let lastText: string | undefined;
let lastStart = -1;
let lastEnd = -1;
let lastResult = -1;

/**
 * Whether the word at `p` is ASCII letters only, ended by something that is neither letter nor
 * apostrophe nor a hyphen that could join another word (`Jean-Luc`); a run of hyphens joins
 * nothing (`-----BEGIN PRIVATE KEY-----`: no pattern element continues over `--`).
 */
function plainWord(text: string, p: number): boolean {
  return plainEnd(text, p) !== -1;
}

/** The end of the plain word at `p` (see plainWord), or -1 when it is not one. */
function plainEnd(text: string, p: number): number {
  let j = p + 1;
  for (;;) {
    const c = codeAt(text, j);
    if ((c >= 97 && c <= 122) || (c >= 65 && c <= 90)) j++;
    else return j - p <= 21 && !(isWordChar(c) || (c === 45 && codeAt(text, j + 1) !== 45)) ? j : -1;
  }
}

/**
 * Recent decisions with the window they read ([start - LOOKBEHIND, end + RIGHT), cut at the text's
 * ends): a candidate whose window holds the same characters at the same offsets gets the same
 * answer without deciding again. Text that repeats a line (PEM headers, log lines, tables) asks
 * the same question every line; prose almost never, and a miss costs a few character compares.
 */
interface Recent {
  /** The window's characters (a slice of the text it was read from). */
  window: string;
  /** Whether the window begins at the text's start (before() stops there). */
  atStart: boolean;
  /** start - ws, end - start. */
  at: number;
  len: number;
  /** result - start, or -1. */
  result: number;
}
const RECENT = 8;
const recent: (Recent | undefined)[] = new Array(RECENT).fill(undefined);
let recentNext = 0;

function accept(text: string, start: number, end: number): number {
  if (start === lastStart && end === lastEnd && text === lastText) return lastResult;
  const ws = Math.max(0, start - LOOKBEHIND);
  const size = Math.min(text.length, end + RIGHT) - ws;
  const at = start - ws;
  const len = end - start;
  // The window is cut out once and compared as a string: V8 compares two strings' characters
  // natively, several times faster than a loop of charCodeAt here (a hit reads 60-100 of them).
  let window: string | undefined;
  let r: number | undefined;
  for (const e of recent)
    if (e !== undefined && e.at === at && e.len === len && e.window.length === size && e.atStart === (ws === 0)) {
      window ??= text.slice(ws, ws + size);
      if (e.window === window) {
        r = e.result === -1 ? -1 : start + e.result;
        break;
      }
    }
  if (r === undefined) {
    r = decide(text, start, end);
    recent[recentNext] = { window: window ?? text.slice(ws, ws + size), atStart: ws === 0, at, len, result: r === -1 ? -1 : r - start };
    recentNext = (recentNext + 1) % RECENT;
  }
  lastText = text;
  lastStart = start;
  lastEnd = end;
  lastResult = r;
  return r;
}

function decide(text: string, start: number, end: number): number {
  const g = gazetteers();
  const c = text.charCodeAt(start);
  if (c >= 97 && c <= 122) return acceptLower(g, text, start, end, before(text, start));
  if (cannotStart(text, start, end)) return -1;
  readBefore(text, start);
  elements(text, start, end);
  const count = elCount;
  const cls = prevClasses;
  if (cls & W_PLACE_PREFIX) return -1;
  const firstInfo = elInfo[0];
  const firstInitial = (elFlags[0]! & EL_INITIAL) !== 0;
  if (firstInfo?.block) return -1;
  const space = spaceBefore(text, start);
  // `Morgan Stanley`, `Rolls Royce`: firms named like people, from either word.
  const firstBrand = (count > 1 || (space && (cls & W_BRAND_FIRST) !== 0)) && beginsBrand(text, elWord[0]!, elEnd[0]!);
  if (firstBrand && count > 1 && !(elFlags[1]! & EL_COMMA) && brandPairs.has(`${lowerWordOf(text, 0)}_${lowerWordOf(text, 1)}`)) return -1;
  if (space && cls & W_BRAND_FIRST && brandPairs.has(`${text.slice(prevStart, gapStart).toLowerCase()}_${lowerWordOf(text, 0)}`)) return -1;
  const article = space && (cls & W_ARTICLE) !== 0;

  // Up to the first comma (a comma inside is only `Doe, Jane`).
  let n = 1;
  while (n < count && !(elFlags[n]! & EL_COMMA)) n++;
  if (n >= count) n = count;

  if (strongCueBefore(text, start)) {
    let k = 0;
    while (k < n) {
      const t = elInfo[k];
      if (!(elFlags[k]! & EL_INITIAL) && !(t && nameishLength(t, wordLength(k)) && !(t.common && t.given < 0 && t.sur < 0))) break;
      k++;
    }
    while (k > 0 && elFlags[k - 1]! & EL_INITIAL && k > 1) k--;
    if (k > 0 && !(k === 1 && firstInitial)) return elEnd[k - 1]!;
  }

  // Doe, Jane (surname, comma, given name).
  if (count >= 2 && elFlags[1]! & EL_COMMA && !firstInitial && elInfo[1]) {
    const s = firstInfo!;
    const gv = elInfo[1]!;
    if (surLike(s) && !placeLike(s) && isGiven(gv) && !gv.caps && !s.caps && (strongGiven(gv) || strongSur(s))) {
      let k = 2;
      if (count > 2 && (elFlags[2]! & (EL_INITIAL | EL_COMMA)) === EL_INITIAL) k = 3;
      if (!(afterClasses(text, elEnd[k - 1]!) & W_THING_AFTER)) return elEnd[k - 1]!;
    }
  }

  // Given name … surname.
  for (let k = n - 1; k >= 1; k--)
    if (fullName(text, k, firstBrand) && (!article || strongSur(elInfo[k] ?? unknown))) return elEnd[k]!;

  // A single word.
  if (firstInitial || !firstInfo || firstInfo.caps) return -1;
  const t = firstInfo;
  const firstEnd = elEnd[0]!;
  const nx = afterClasses(text, firstEnd);
  if (thingFollows(nx)) return -1;
  if (count > 1 && !(elFlags[1]! & EL_COMMA) && isStreetType(text, 1) && !((elInfo[1]?.sur ?? -1) >= 0 && elInfo[1]!.sur < 5000)) return -1;
  if (!nameishLength(t, wordLength(0))) return -1;
  if (nx & (nx & W_POSSESSIVE ? W_POSSESSED : W_SAID)) return firstEnd;
  if (article) return -1;
  if (!isGiven(t)) return -1;
  // `iPhone 15 Pro Max`, `Galaxy S24 Ultra`: a product's model words or number right before.
  if (space && cls & W_PRODUCT) return -1;
  if (start - gapStart === 1 && text.charCodeAt(gapStart) === 32 && start >= 2 && /\d/.test(text[start - 2]!)) return -1;
  if (space && cls & W_PLACE_BEFORE && t.place !== undefined) return -1;
  if (space && cls & W_VERB_BEFORE) return firstEnd;
  if (space && cls & W_DETERMINER) return -1;
  return strongGiven(t) ? firstEnd : -1;
}

/** Whether elements 0..k read as one person's full name (`firstBrand`: the first word begins a brand pair). */
function fullName(text: string, k: number, firstBrand: boolean): boolean {
  const l = elInfo[k];
  if (elFlags[k]! & EL_INITIAL || !l) return false;
  const caps = l.caps;
  for (let i = 0; i <= k; i++) {
    if (elFlags[i]! & EL_INITIAL) {
      if (caps || i === k) return false;
      continue;
    }
    const t = elInfo[i]!;
    if (t.caps !== caps || t.block) return false;
    if (i > 0 && i < k && !nameishLength(t, wordLength(i))) return false;
    if (i > 0 && i < k && t.common && t.given < 0 && t.sur < 0) return false;
  }
  const lastLen = wordLength(k);
  if (elFlags[0]! & EL_INITIAL) {
    if (!(strongSur(l) || unknownLength(l, lastLen))) return false;
  } else {
    const f = elInfo[0]!;
    const lastOk = surLike(l) || unknownLength(l, lastLen) || (isGiven(l) && !l.common);
    if (!lastOk) return false;
    if (caps) {
      if (!isGiven(f) || !surLike(l)) return false;
    } else if (strongGiven(f)) {
      // Jane Doe
    } else if (isGiven(f)) {
      // Will Turner, Rose Tyler, Paris Hilton: the surname has to be one that is not a word.
      if (!(strongSur(l) || unknownLength(l, lastLen))) return false;
    } else if (unknownLength(f, wordLength(0))) {
      // Thanh Nguyen, Chidi Okafor: an unknown word before a surname that is no word.
      if (!strongSur(l)) return false;
    } else return false;
    if (firstBrand && brandPairs.has(`${lowerWordOf(text, 0)}_${lowerWordOf(text, k)}`)) return false;
  }
  // `Pearl Harbor`, `Hope Creek`: a run ending in a street or place type is a place, unless the
  // type is also a common surname (`Kim Park`, `Mary Hill`, `Tom Ford`).
  if (isStreetType(text, k) && !(l.sur >= 0 && l.sur < 5000)) return false;
  if (thingFollows(afterClasses(text, elEnd[k]!))) return false;
  return true;
}

function acceptLower(g: Gazetteers, text: string, start: number, end: number, b: Before): number {
  if (!strongCue(b, text, start)) return -1;
  const words = text.slice(start, end).split(" ");
  const w1 = b.words[0]!;
  const explicit = w1 === "is" || w1 === "name's" || w1 === "me" || w1 === "was";
  let at = start;
  let accepted = -1;
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    const t = infoOf(g, w[0]!.toUpperCase() + w.slice(1));
    const ok =
      i === 0
        ? (isGiven(t) && (strongGiven(t) || explicit)) || (explicit && unknownWord(t, w))
        : (explicit && unknownWord(t, w)) ||
          (isGiven(t) && (!t.common || explicit)) || (t.sur >= 0 && (!t.common || explicit) && !t.block) || (particles.has(w) && i < words.length - 1);
    if (!ok) break;
    at += w.length;
    if (!particles.has(w)) accepted = at;
    at += 1;
  }
  return accepted;
}

const sticky = new RegExp(personPattern, "y");
let capStart = new RegExp(wordStart, "g");

/**
 * Words that open most sentences and never a name. The candidate regex steps over them itself
 * (a negative lookahead tried only at capitals), which is cheaper than a call and a lookup each.
 */
const openers =
  "The This That These Those There Then They Their Them It Its In If Is Into A An And As At After All Also Any Are About Because Before But By Can Could Do Does Did Each Even Every For From First How However He Her His Here Have Has Had I'm I've I'd I'll Instead Just Let Like Many Most More Much My No Not Now Next Note Of On Once One Only Or Our Other Please Some Since So Such She Should Still Thanks Thank To Today Too Under Until Use Using Very We What When Where Which While Who Why With Without Would Yes Yet You Your Yesterday Tomorrow Sure Hello Hi Dear Great Good Well Both Between During Each Either Finally Following Given Hence Meanwhile Moreover Otherwise Perhaps Rather Second Several Similarly Sometimes Therefore Thus Unlike Whether Although Though Whatever Whenever Wherever";

function buildCapStart(lex: Map<string, Info>): RegExp {
  // Only words the decision itself rejects at once, so the regex and validate agree.
  const skip = openers.split(" ").filter((w) => {
    const t = lex.get(w) ?? unknown;
    return t.block || (t.common && !((isGiven(t) && t.given < 1500) || surLike(t)) && !isGiven(t)) || (!t.common && !nameish(t, w));
  });
  return new RegExp(`(?!(?:${skip.join("|")})(?![${U}${L}'’]))${wordStart}`, "g");
}
const cueStart = new RegExp(`${leadCue} (?=[a-z])`, "g");

/** The last answer of nextCue, reused while the same text is scanned forward (a text without cues would be searched to its end on every call). */
let cueScan: object | undefined;
let cueFrom = 0;
let cueAt = -1;

/** First position at or after `pos` right after a lead phrase and before a lower-case letter, or -1. */
function nextCue(text: string, pos: number, scan: object): number {
  if (scan === cueScan && pos >= cueFrom && (cueAt === -1 || cueAt >= pos)) return cueAt;
  cueStart.lastIndex = Math.max(0, pos - 12);
  let at = -1;
  for (let m = cueStart.exec(text); m !== null; m = cueStart.exec(text)) {
    const e = m.index + m[0].length;
    if (e >= pos) {
      at = e;
      break;
    }
  }
  cueScan = scan;
  cueFrom = pos;
  cueAt = at;
  return at;
}

/** The same memory for the next word-initial capital (`capStart`). */
let capScan: object | undefined;
let capFrom = 0;
let capAt = -1;

/**
 * First word-initial capital at or after `pos`, or -1. Remembered per scan pass: the scanner calls
 * seekPerson again after every finding, and a text without capitals whose cues are all findings
 * (`my name is ` repeated) searched to its end on every call, quadratic in its length.
 */
function nextCap(text: string, pos: number, scan: object): number {
  if (scan === capScan && pos >= capFrom && (capAt === -1 || capAt >= pos)) return capAt;
  capStart.lastIndex = pos;
  // The match is the capital alone.
  const at = capStart.test(text) ? capStart.lastIndex - 1 : -1;
  capScan = scan;
  capFrom = pos;
  capAt = at;
  return at;
}

/**
 * Candidates are word-initial capitals and the word after a lead phrase; each is decided here (the
 * same decision validate makes), so the scanner only stops where there is a name.
 */
function seekPerson(text: string, from: number, scan: object = {}, limit = Infinity): number {
  let cap = -2;
  let cue = -2;
  let pos = from;
  for (;;) {
    if (cap !== -1 && cap < pos) cap = nextCap(text, pos, scan);
    if (cue !== -1 && cue < pos) cue = nextCue(text, pos, scan);
    const p = cap === -1 ? cue : cue === -1 ? cap : Math.min(cap, cue);
    if (p === -1) return -1;
    // Past the scanner's next position: decided, if need be, when the scanner seeks from it (Recogniser.bounded).
    if (p > limit) return p;
    // Before running the regex, candidates the decision rejects whatever it finds: see capitalRejected, lowerRejected.
    if (p !== cue ? capitalRejected(text, p) : p !== cap && lowerRejected(text, p)) {
      pos = p + 1;
      continue;
    }
    let end = p !== cue ? plainMatchEnd(text, p) : -1;
    if (end === -1) {
      sticky.lastIndex = p;
      if (sticky.test(text)) end = sticky.lastIndex;
    }
    if (end !== -1) {
      const r = accept(text, p, end);
      if (r > p) {
        memo.remember(text, p, r);
        return p;
      }
    }
    pos = p + 1;
  }
}

const memo = new SeekMemo();

/** The pattern's particles, by their hash as written (a lower-case word after a name may begin an element only if it is one). */
const particleHashes = new WordHashes(particles);

/**
 * A character after a run of a-z that ends the pattern's word there whatever the word began with:
 * ASCII, and no letter, digit, apostrophe or hyphen (none of tokRest's continuations, and its
 * final lookahead holds); -1, the text's end, too.
 */
function endsPlainWord(c: number): boolean {
  if (c < 0) return true;
  if (c >= 128) return false;
  return !((c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 39 || c === 45);
}

/**
 * Where the pattern's match at the capital `p` ends, read by hand when it is a run of plain words
 * (an ASCII capital and 1-20 of a-z, each ended by endsPlainWord) joined by ` ` or `, `; -1 when
 * the run holds anything else the pattern may take (an initial, a particle, a capital in a word,
 * a letter outside ASCII, a long word): the regex decides those. In a run of names the regex was
 * a call and a run over the same words per capital. Held to the regex by
 * test/policy/names-equivalence.test.ts. Never reads past the text (-1 stands for its end): one
 * such read makes V8 call charCodeAt out of line at every read of the loop.
 */
export function plainMatchEnd(text: string, p: number): number {
  // A capital inside the run read last: its run is the rest of that one (see runFrom).
  if (text === runText && p > runStart && p < runEnd) {
    const e = runFrom(text, p);
    if (e !== -2) return e;
  }
  // The last run stays described until its words are overwritten.
  const len = text.length;
  if (p >= len) return -1;
  let c = text.charCodeAt(p);
  if (c < 65 || c > 90) return -1;
  if (p > 0) {
    // wordStart's lookbehind, where it is plainly met (otherwise the regex says).
    const b = text.charCodeAt(p - 1);
    if (b >= 128 || (b >= 97 && b <= 122) || (b >= 65 && b <= 90) || (b >= 48 && b <= 57) || b === 95 || b === 39 || b === 46 || b === 45) return -1;
  }
  // The first word: the capital, then a-z.
  let end = p + 1;
  c = -1;
  while (end < len) {
    c = text.charCodeAt(end);
    if (c < 97 || c > 122) break;
    c = -1;
    end++;
  }
  if (end === p + 1 || end - p > 21 || !endsPlainWord(c)) return -1;
  runText = undefined;
  runWordStart[0] = p;
  runWordEnd[0] = end;
  runComma[0] = 0;
  return runOn(text, p, 0, end);
}

/**
 * plainMatchEnd from word n of the run from `p` (read into the run's arrays, ending at `end`):
 * the separator, then what begins the next element, up to five words.
 */
function runOn(text: string, p: number, n: number, end: number): number {
  const len = text.length;
  for (;;) {
    if (n === 4) return ranPlain(text, p, end, n + 1);
    const c = end < len ? text.charCodeAt(end) : -1;
    // The separator (`, ` is tried first), then what begins the next element.
    let q: number;
    let comma: number;
    if (c === 44 && end + 1 < len && text.charCodeAt(end + 1) === 32) {
      q = end + 2;
      comma = EL_COMMA;
    } else if (c === 32) {
      q = end + 1;
      comma = 0;
    } else return ranPlain(text, p, end, n + 1);
    if (q >= len) return ranPlain(text, p, end, n + 1);
    const d = text.charCodeAt(q);
    if (d >= 65 && d <= 90) {
      // The next word: the capital at q, then a-z.
      let e = q + 1;
      let f = -1;
      while (e < len) {
        f = text.charCodeAt(e);
        if (f < 97 || f > 122) break;
        f = -1;
        e++;
      }
      if (e === q + 1 || e - q > 21 || !endsPlainWord(f)) return -1;
      n++;
      runWordStart[n] = q;
      runWordEnd[n] = e;
      runComma[n] = comma;
      end = e;
      continue;
    }
    if (d >= 97 && d <= 122) {
      // A particle joined by a space or hyphen may begin the element; any other word of a-z ends the run.
      let r = q + 1;
      let e = -1;
      while (r < len) {
        e = text.charCodeAt(r);
        if (e < 97 || e > 122) break;
        e = -1;
        r++;
      }
      if ((e === 32 || e === 45) && particleHashes.mayHold(text, q, r)) return -1;
      return ranPlain(text, p, end, n + 1);
    }
    // Outside ASCII the next element may still begin (É, Ā); any other character ends the run.
    return d >= 128 ? -1 : ranPlain(text, p, end, n + 1);
  }
}

/**
 * plainMatchEnd at `p`, a word's capital inside the run read last (not its first word), from that
 * run, or -2 when `p` begins none of its words. The run from a later word of a run is the rest
 * of it: each word, and where the run stops after its last (the separator and what follows, read
 * the same whichever word the run began at), are as they were read, and the capital's lookbehind
 * holds (a space before it). Only a run stopped by its five words goes on past them. In a list of
 * places (`in London, Paris, Berlin, Tokyo `) every capital was read with the words after it, each
 * word up to four times; in random names most runs are cut short by `. ` or ` and `, and this
 * saves little there.
 */
function runFrom(text: string, p: number): number {
  const count = runCount;
  let i = 1;
  while (i < count && runWordStart[i] !== p) i++;
  if (i === count) return -2;
  const rest = count - i;
  for (let k = 0; k < rest; k++) {
    runWordStart[k] = runWordStart[k + i]!;
    runWordEnd[k] = runWordEnd[k + i]!;
    runComma[k] = runComma[k + i]!;
  }
  runComma[0] = 0;
  if (count < 5) return ranPlain(text, p, runEnd, rest);
  runText = undefined;
  return runOn(text, p, rest - 1, runWordEnd[rest - 1]!);
}

/**
 * The last run plainMatchEnd read, word by word (start, end, EL_COMMA when `, ` is before it):
 * elements takes them for the same span instead of reading its characters again. Dropped when a
 * scan ends (forgetPerson) and at the next plainMatchEnd.
 */
let runText: string | undefined;
let runStart = -1;
let runEnd = -1;
let runCount = 0;
const runWordStart = new Int32Array(5);
const runWordEnd = new Int32Array(5);
const runComma = new Uint8Array(5);

/** The words of the run plainMatchEnd read last, as [start, end, comma] each, or undefined (tests: a run reused is the run read afresh). */
export function plainRunWords(): number[][] | undefined {
  if (runText === undefined) return undefined;
  return Array.from({ length: runCount }, (_, k) => [runWordStart[k]!, runWordEnd[k]!, runComma[k]!]);
}

function ranPlain(text: string, p: number, end: number, count: number): number {
  runText = text;
  runStart = p;
  runEnd = end;
  runCount = count;
  return end;
}

/** Words whose presence right before a candidate can make strongCue true: titles and the last word of each lead phrase. */
let cueWords: WordHashes | undefined;
const cueList = [...titles, ...leadPhrases.map((p) => p[p.length - 1]!)];
const cueShapes = new WordShapes(cueList);
/** Words after a name that make it one (`Will said`). */
const saidHashes = new WordHashes(saidVerbs);
const saidShapes = new WordShapes(saidVerbs);
/** First characters of the particles: what an element after a name may begin with, capitals aside. */
const particleFirst = new Set([...particles].map((w) => w.charCodeAt(0)));

/** The pattern's [${U}]. */
function isUpperClass(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 0xc0 && c <= 0xd6) || (c >= 0xd8 && c <= 0xde) || (c >= 0x100 && c <= 0x17f);
}

/**
 * Whether strongCue(before(text, start)) is certainly false: the nearest word before (as before()
 * finds it) is neither a title nor the last word of a lead phrase. False when unsure (a word
 * outside ASCII, whose lower case is not worked out here).
 */
function noCueBefore(text: string, start: number): boolean {
  const from = Math.max(0, start - LOOKBEHIND);
  if (start <= from) return true;
  let j = start;
  while (j > from && !isWordChar(text.charCodeAt(j - 1))) j--;
  let k = j;
  let high = 0;
  for (; k > from; k--) {
    const c = text.charCodeAt(k - 1);
    if (!isWordChar(c)) break;
    high |= c;
  }
  if (k === j || (k === from && from > 0)) return true;
  if (high < 128 && !cueShapes.mayHoldAscii(text, k, j)) return true;
  const h = hashLowerAscii(text, k, j);
  if (h === undefined) return false;
  cueWords ??= new WordHashes(cueList);
  return !cueWords.mayHoldHash(h);
}

/** Whether another element of the pattern may follow a word ending at `j` (`, ` or ` `, then a capital or a particle). */
function mayExtend(text: string, j: number): boolean {
  const c = codeAt(text, j);
  let q: number;
  if (c === 32) q = j + 1;
  else if (c === 44 && codeAt(text, j + 1) === 32) q = j + 2;
  else return false;
  const d = codeAt(text, q);
  return isUpperClass(d) || particleFirst.has(d);
}

/** Whether after(text, end) may be a said verb or a possessive (false only when certainly neither). */
function maySayAfter(text: string, end: number): boolean {
  const c = codeAt(text, end);
  let q: number;
  if (c === 39 || c === 0x2019) return true;
  if (c === 32) q = end + 1;
  else if (c === 44 && codeAt(text, end + 1) === 32) q = end + 2;
  else return false;
  const lim = Math.min(text.length, end + RIGHT);
  let r = q;
  let high = 0;
  for (; r < lim; r++) {
    const d = text.charCodeAt(r);
    if (d <= 32 || d === 44 || d === 46 || d === 59 || d === 58 || d === 33 || d === 63 || d === 40 || d === 41 || d === 34) break;
    high |= d;
  }
  if (r === q) return false;
  if (high < 128 && !saidShapes.mayHoldAscii(text, q, r)) return false;
  const h = hashLowerAscii(text, q, r);
  return h === undefined || saidHashes.mayHoldHash(h);
}

/**
 * Whether decide rejects the capital at `p` whatever the pattern matches there, known from the
 * plain ASCII word at `p` (which is then the pattern's first element) and a few characters around:
 *  - a word that cannotStart rejects;
 *  - an upper-case word that is no given name (`KEY`, `BEARER`): only a strong cue before it can
 *    make a name (a caps run is a full name only from a given name; a caps word alone never is);
 *  - a mixed-case word that is no given name, no cue before it, no comma after it (`Doe, Jane`)
 *    and no said verb or possessive after it (`Main Street`, `Bearer x`): a full name must begin
 *    with a given name or with an unknown word followed by more (then it is decided in full), and
 *    the single-word rules need a cue or such a verb.
 * An initial (`Q.`) is never rejected here: the pattern continues after its full stop.
 */
function capitalRejected(text: string, p: number): boolean {
  const j = plainEnd(text, p);
  if (j === -1) return false;
  // The letters run into a digit (`GB00`, `AKIA12`): the pattern cannot match here. Its first
  // element goes on only through letters, apostrophes and hyphens (or `.` right after the
  // capital), and tokRest must end where no letter or digit follows: inside the run a letter
  // does, at its end the digit.
  const d = codeAt(text, j);
  if (d >= 48 && d <= 57) return true;
  if (j - p === 1 && d === 46) return false;
  const t = infoRange(text, p, j);
  if (cannotStartWith(text, j, t, j - p)) return true;
  if (isGiven(t)) return false;
  if (t.caps) return noCueBefore(text, p);
  // A full name needs a given name first, or an unknown word (`Thanh Nguyen`) with more after it.
  if (unknownLength(t, j - p) && mayExtend(text, j)) return false;
  // `Doe, Jane`.
  if (d === 44) return false;
  return noCueBefore(text, p) && !maySayAfter(text, j);
}

/**
 * Whether acceptLower rejects the word after a lead phrase at `p`: its first word (the pattern's
 * first run of a-z, at most 20) is neither a given name nor an unknown word, so not even an explicit
 * phrase (`my name is`) takes it.
 */
function lowerRejected(text: string, p: number): boolean {
  let e = p;
  while (e < p + 20) {
    const c = text.charCodeAt(e);
    if (c < 97 || c > 122) break;
    e++;
  }
  if (e - p < 2) return true;
  if (lexTable === undefined) personLexicon();
  const t = lexTable!.get(text, p, e, FOLD_UPPER_FIRST) ?? unknown;
  return !isGiven(t) && !unknownLength(t, e - p);
}

/**
 * Whether the capitalised word at `p` is rejected by the decision whatever text comes after it: a
 * plain ASCII word that is complete, with the two characters after it already there (cannotStart
 * reads both), that cannot begin a name. seekPerson skips it by the same test.
 */
function neverStarts(text: string, p: number): boolean {
  const c = text.charCodeAt(p);
  if (c < 65 || c > 90) return false;
  let j = p + 1;
  for (let d = text.charCodeAt(j); (d >= 97 && d <= 122) || (d >= 65 && d <= 90); d = text.charCodeAt(++j));
  if (j + 1 >= text.length) return false;
  return plainWord(text, p) && cannotStart(text, p, text.length);
}

let tailRe: RegExp | undefined;

/**
 * The stream guard's hold-back: where the pattern's own tail says a match could still change (a
 * capitalised run or a word after a lead phrase, and RIGHT characters after it), except at words
 * that can never begin a name. Without that exception every capitalised word (`You`, `Send`, `The`)
 * held the stream until RIGHT more characters had come: three or four more chunks of an answer
 * streamed word by word before its first word went out.
 */
function personTail(text: string, from: number): number {
  tailRe ??= new RegExp(`(?=${tailSource(personPattern)!})`, "g");
  for (let pos = from; ; ) {
    tailRe.lastIndex = pos;
    if (!tailRe.test(text)) return -1;
    const p = tailRe.lastIndex;
    if (!neverStarts(text, p)) return p;
    pos = p + 1;
  }
}

/** The decision without the memory of recent windows (tests hold the memory to it). */
export function decidePerson(text: string, start: number, end: number): number {
  return decide(text, start, end);
}

/**
 * Called as every scan ends: nothing of the text may stay referenced from here (the last decision,
 * the recent windows, which are slices of it, and upper-case words, a slice of 13 characters or
 * more keeping its whole text alive). Each serves repeats within one text; across texts it would
 * keep a request's names after the request.
 */
function forgetPerson(): void {
  memo.forget();
  lastText = undefined;
  recent.fill(undefined);
  if (capsInfo.size > 0) capsInfo.clear();
  // The words read by position, and the searches' last positions (infoRange, nextCap, nextCue).
  slotText = undefined;
  runText = undefined;
  capScan = undefined;
  cueScan = undefined;
}

export const person: Recogniser = {
  type: "person",
  pattern: personPattern,
  maxLength: 400,
  lookbehind: LOOKBEHIND,
  seek: seekPerson,
  bounded: true,
  decided: memo.decided,
  forget: forgetPerson,
  validate: accept,
  tail: personTail,
};

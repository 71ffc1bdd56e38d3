import type { Recogniser } from "../scan/index.js";
import { gazetteers } from "./gazetteer.js";
import { LOWER as L, UPPER as U } from "./name-words.js";
import { placeBefore } from "./name-words.js";
import { SeekMemo } from "./seek-memo.js";
import { FOLD_LOWER_FIRST, FOLD_LOWER_REST, WordHashes, WordTable } from "./word-hash.js";

/**
 * Places: countries, US states, German Länder, and cities of 50,000 people or more (GeoNames), as
 * capitalised runs of up to four words. A place whose name is also a common word (`Nice`, `Reading`,
 * `Mobile`) needs a place word before it (`in Nice`). Off unless configured: most deployments let
 * places through.
 */

const regions =
  "Alabama Alaska Arizona Arkansas California Colorado Connecticut Delaware Florida Georgia Hawaii Idaho Illinois Indiana Iowa Kansas Kentucky Louisiana Maine Maryland Massachusetts Michigan Minnesota Mississippi Missouri Montana Nebraska Nevada New_Hampshire New_Jersey New_Mexico New_York North_Carolina North_Dakota Ohio Oklahoma Oregon Pennsylvania Rhode_Island South_Carolina South_Dakota Tennessee Texas Utah Vermont Virginia Washington West_Virginia Wisconsin Wyoming " +
  "England Scotland Wales Northern_Ireland Britain Great_Britain UK USA America Europe Asia Africa Bavaria Bayern Saxony Sachsen Hesse Hessen Brandenburg Thuringia Thüringen Baden-Württemberg Nordrhein-Westfalen Niedersachsen Schleswig-Holstein Rheinland-Pfalz Saarland Mecklenburg-Vorpommern Sachsen-Anhalt " +
  "Normandy Normandie Brittany Bretagne Provence Alsace Burgundy Bourgogne Occitanie Île-de-France Corsica Corse Ontario Quebec Québec Alberta Manitoba Saskatchewan Nova_Scotia New_Brunswick Newfoundland Yukon Nunavut Tasmania Queensland Victoria New_South_Wales Catalonia Andalusia Lombardy Tuscany Sicily Sardinia";
const regionSet = new Set(regions.split(" ").map((r) => r.replaceAll("_", " ")));

const word = `[${U}][${L}'’.-]{0,24}`;
export const locationPattern = `[${U}](?<![${U}${L}0-9_'’.\\-][${U}])[${L}'’.-]{0,24}(?:[ -](?:(?:de|del|do|da|upon|on|am|an|sur|en|la|le|of) )?${word}){0,3}(?=[\\s\\S]{0,2})`;

/**
 * accept's lists read in place: place and region names with their kind (a place's own kind first,
 * as accept asks the places before the regions), and the common and less common words, lower case.
 * Built with the gazetteers, on first use.
 */
let placeKinds: WordTable<string> | undefined;
let wordKinds: WordTable<number> | undefined;
const COMMON = 1;
const UNCOMMON = 2;

/** accept's hashes of the match's leading runs (a match is at most some 110 characters). */
const prefixHashes = new Int32Array(256);

/** Whether text[start, end) is ASCII (its lower case is then read in place). */
function ascii(text: string, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (text.charCodeAt(i) >= 128) return false;
  return true;
}

/** Builds accept's tables on first use (the check is small enough to be inlined where it is asked). */
function placeTables(): void {
  if (placeKinds === undefined || wordKinds === undefined) buildPlaceTables();
}

function buildPlaceTables(): void {
  const g = gazetteers();
  placeKinds = new WordTable<string>([...g.places, ...[...regionSet].filter((r) => !g.places.has(r)).map((r): [string, string] => [r, "region"])]);
  const kinds = new Map<string, number>();
  for (const w of g.uncommon) kinds.set(w, UNCOMMON);
  for (const w of g.common) kinds.set(w, COMMON);
  wordKinds = new WordTable(kinds);
}

/**
 * The longest leading run of words of the match that names a place (a trailing full stop, the end
 * of a sentence, not part of it), read where it stands: no substring per cut. Held to the
 * recogniser as it was written on substrings (test/policy/pii-reference/location.ts).
 */
function accept(text: string, start: number, end: number): number {
  placeTables();
  const names = placeKinds!;
  // The hash of every leading run of the span, in one pass (each cut's name is one of them).
  const n = end - start;
  const hashes = n < prefixHashes.length ? prefixHashes : new Int32Array(n + 1);
  let h = 0x811c9dc5 | 0;
  hashes[0] = h;
  for (let i = 0; i < n; i++) hashes[i + 1] = h = Math.imul(h ^ text.charCodeAt(start + i), 16777619);
  // The cuts, longest first: the span's end, then each space or hyphen inside it.
  for (let cut = end; cut > start; ) {
    let nameEnd = cut;
    if (text.charCodeAt(nameEnd - 1) === 46) nameEnd--;
    if (nameEnd > start && names.getHashed(hashes[nameEnd - start]!, text, start, nameEnd) !== undefined) {
      let oneWord = true;
      for (let i = start; i < nameEnd && oneWord; i++) if (text.charCodeAt(i) === 32) oneWord = false;
      if (!oneWord) return nameEnd;
      let kind: number | undefined;
      if (ascii(text, start, nameEnd)) kind = wordKinds!.get(text, start, nameEnd, FOLD_LOWER_FIRST | FOLD_LOWER_REST);
      else {
        const g = gazetteers();
        const lower = text.slice(start, nameEnd).toLowerCase();
        kind = g.common.has(lower) ? COMMON : g.uncommon.has(lower) ? UNCOMMON : undefined;
      }
      if (kind === COMMON) return -1;
      if (kind === UNCOMMON) {
        // A place that is also a word: only after a place word.
        const m = /([A-Za-z]+)\s+$/.exec(text.slice(Math.max(0, start - 16), start));
        if (!m || !placeBefore.has(m[1]!.toLowerCase())) return -1;
      }
      return nameEnd;
    }
    do cut--;
    while (cut > start && text.charCodeAt(cut) !== 32 && text.charCodeAt(cut) !== 45);
  }
  return -1;
}

const sticky = new RegExp(locationPattern, "y");
const capStart = new RegExp(`[${U}](?<![${U}${L}0-9_'’.\\-][${U}])`, "g");

/**
 * The first word of every place and region name, cut at its first space or hyphen (where accept
 * cuts): every name accept can take begins with the candidate's first word so cut, or is that word
 * without a final full stop. Built with the gazetteers, on first use.
 */
let firstWords: WordHashes | undefined;
function placeFirstWords(): WordHashes {
  return firstWords ?? buildFirstWords();
}

function buildFirstWords(): WordHashes {
  const cut = (n: string) => n.slice(0, n.search(/[ -]|$/));
  firstWords = new WordHashes([...[...gazetteers().places.keys()].map(cut), ...[...regionSet].map(cut)]);
  return firstWords;
}

/** The pattern's `[${L}'’.]`: the characters of a word up to a space or hyphen (a cut). */
function inWord(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 0xdf && c <= 0xf6) || (c >= 0xf8 && c <= 0x17f) || c === 39 || c === 0x2019 || c === 46;
}

/**
 * Whether no place can start at the capital `p`: the pattern's first word there (greedy, at most 25
 * characters, up to accept's first cut) is the first word of no place name, with or without a
 * final full stop. Read in place: no regex, no substring.
 */
function noPlaceAt(text: string, p: number, firsts: WordHashes): boolean {
  // Never read past the text: a read there once makes V8 call charCodeAt out of line at every read
  // of the compiled loop (no word goes on past the end either way).
  const lim = Math.min(p + 25, text.length);
  let h = 0x811c9dc5 | 0;
  let before = h;
  let r = p;
  for (; r < lim; r++) {
    const c = text.charCodeAt(r);
    if (r > p && !inWord(c)) break;
    before = h;
    h = Math.imul(h ^ c, 16777619);
  }
  const c = r < text.length ? text.charCodeAt(r) : -1;
  if (c !== 32 && c !== 45) {
    // No space or hyphen after the word: no further word can follow it (the pattern joins words
    // with one), so the match is this word and accept's only cut is its end. A place only if the
    // word (or the word without its final full stop) names one, not just begins one (`A` of
    // `A Coruña` in `AKIA12`, `G` of `GB00`).
    placeTables();
    const names = placeKinds!;
    if (names.getHashed(h, text, p, r) !== undefined) return false;
    return !(text.charCodeAt(r - 1) === 46 && r - 1 > p && names.getHashed(before, text, p, r - 1) !== undefined);
  }
  if (firsts.mayHoldHash(h)) return false;
  return !(text.charCodeAt(r - 1) === 46 && r - 1 > p && firsts.mayHoldHash(before));
}

/** The last decision: seek takes it, and the scanner asks for it again at once. */
let lastText: string | undefined;
let lastStart = -1;
let lastEnd = -1;
let lastResult = -1;

function validate(text: string, start: number, end: number): number {
  if (start === lastStart && end === lastEnd && text === lastText) return lastResult;
  return accept(text, start, end);
}

const memo = new SeekMemo();

/** As every scan ends: the last decision's text is not kept past it. */
function forget(): void {
  memo.forget();
  lastText = undefined;
}

function seek(text: string, from: number, _scan?: object, limit = Infinity): number {
  const firsts = placeFirstWords();
  for (let pos = from; ; ) {
    capStart.lastIndex = pos;
    if (!capStart.test(text)) return -1;
    // The match is the capital alone.
    const p = capStart.lastIndex - 1;
    // Past the scanner's next position: decided, if need be, when the scanner seeks from it (Recogniser.bounded).
    if (p > limit) return p;
    pos = p + 1;
    if (noPlaceAt(text, p, firsts)) continue;
    sticky.lastIndex = p;
    if (!sticky.test(text)) continue;
    const end = sticky.lastIndex;
    const r = accept(text, p, end);
    lastText = text;
    lastStart = p;
    lastEnd = end;
    lastResult = r;
    if (r > p) {
      memo.remember(text, p, r);
      return p;
    }
  }
}

export const location: Recogniser = { type: "location", pattern: locationPattern, maxLength: 4 * 30, lookbehind: 16, seek, bounded: true, decided: memo.decided, forget, validate };

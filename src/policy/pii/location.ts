import type { Recogniser } from "../scan/index.js";
import { gazetteers } from "./gazetteer.js";
import { LOWER as L, UPPER as U } from "./name-words.js";
import { placeBefore } from "./name-words.js";
import { SeekMemo } from "./seek-memo.js";
import { WordHashMost, WordTable } from "./word-hash.js";

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

/** accept's list read in place: place and region names, with the bits below. Built with the gazetteers, on first use. */
let placeKinds: WordTable<number> | undefined;
/** A place's bits in placeKinds: its lower case is a common word, a less common word; it holds a space. */
const COMMON = 1;
const UNCOMMON = 2;
const SPACED = 4;

/** accept's hashes of the match's leading runs (a match is at most some 110 characters). */
const prefixHashes = new Int32Array(256);

/** Builds accept's tables on first use (the check is small enough to be inlined where it is asked). */
function placeTables(): void {
  if (placeKinds === undefined) buildPlaceTables();
}

/**
 * Place and region names with what accept asks of a name it has found (whether it holds a space,
 * whether its lower case is a common or less common word), worked out once per name here rather
 * than per finding (a pass for the space, one for ASCII, a folded lookup in the word lists).
 */
function buildPlaceTables(): void {
  const g = gazetteers();
  const bits = (name: string): [string, number] => {
    const lower = name.toLowerCase();
    return [name, (name.includes(" ") ? SPACED : 0) | (g.common.has(lower) ? COMMON : g.uncommon.has(lower) ? UNCOMMON : 0)];
  };
  placeKinds = new WordTable<number>([...[...g.places.keys()].map(bits), ...[...regionSet].filter((r) => !g.places.has(r)).map(bits)]);
}

/**
 * The longest leading run of words of the match that names a place (a trailing full stop, the end
 * of a sentence, not part of it), read where it stands: no substring per cut. Held to the
 * recogniser as it was written on substrings (test/policy/pii-reference/location.ts).
 * `most`: no place name the match can begin with holds more than that many spaces and hyphens
 * (seek knows it from the first word, see placeAt), so the longer cuts are not tried, nor hashed:
 * in a run of capitalised words (`Jane Doe Smith Paris`) the match is four words and most first
 * words begin only one-word names.
 */
function accept(text: string, start: number, end: number, most = ANY): number {
  placeTables();
  const names = placeKinds!;
  // The longest cut a name can end at: the span's end, or the space or hyphen after `most` of them.
  let top = end;
  if (most < ANY)
    for (let i = start, seps = 0; i < end; i++) {
      const c = text.charCodeAt(i);
      if ((c === 32 || c === 45) && ++seps > most) {
        top = i;
        break;
      }
    }
  // The hash of every leading run of the span up to there, in one pass (each cut's name is one of them).
  const n = top - start;
  const hashes = n < prefixHashes.length ? prefixHashes : new Int32Array(n + 1);
  let h = 0x811c9dc5 | 0;
  hashes[0] = h;
  for (let i = 0; i < n; i++) hashes[i + 1] = h = Math.imul(h ^ text.charCodeAt(start + i), 16777619);
  // The cuts, longest first: the span's end (or `top`), then each space or hyphen inside it.
  for (let cut = top; cut > start; ) {
    let nameEnd = cut;
    if (text.charCodeAt(nameEnd - 1) === 46) nameEnd--;
    const kind = nameEnd > start ? names.getHashed(hashes[nameEnd - start]!, text, start, nameEnd) : undefined;
    if (kind !== undefined) return takeName(text, start, nameEnd, kind);
    do cut--;
    while (cut > start && text.charCodeAt(cut) !== 32 && text.charCodeAt(cut) !== 45);
  }
  return -1;
}

/** accept's answer once the cut text[start, nameEnd) names a place with the bits `kind`. */
function takeName(text: string, start: number, nameEnd: number, kind: number): number {
  // A name of more than one word is a place whatever its words.
  if (kind & SPACED) return nameEnd;
  if (kind & COMMON) return -1;
  if (kind & UNCOMMON) {
    // A place that is also a word: only after a place word.
    const m = /([A-Za-z]+)\s+$/.exec(text.slice(Math.max(0, start - 16), start));
    if (!m || !placeBefore.has(m[1]!.toLowerCase())) return -1;
  }
  return nameEnd;
}

/**
 * accept(text, p, end, 0) for the match at `p` whatever its `end`, from placeAt's word: with no
 * name of more than one word to try, the only cut is the end of the pattern's first word (where
 * placeAt stopped: the pattern's greedy first word runs at least that far, and a space or hyphen
 * there is the first of the match), so neither the pattern nor a hash of the match is needed.
 */
function acceptWord(text: string, p: number): number {
  let nameEnd = wordEnd;
  let h = wordHash;
  if (text.charCodeAt(nameEnd - 1) === 46) {
    nameEnd--;
    h = wordHashBefore;
  }
  if (nameEnd <= p) return -1;
  const kind = placeKinds!.getHashed(h, text, p, nameEnd);
  return kind === undefined ? -1 : takeName(text, p, nameEnd, kind);
}

const sticky = new RegExp(locationPattern, "y");
const capStart = new RegExp(`[${U}](?<![${U}${L}0-9_'’.\\-][${U}])`, "g");

/**
 * The first word of every place and region name, cut at its first space or hyphen (where accept
 * cuts), with the most spaces and hyphens of the names it begins: every name accept can take
 * begins with the candidate's first word so cut, or is that word without a final full stop (no
 * space or hyphen). Built with the gazetteers, on first use.
 */
let firstWords: WordHashMost | undefined;
function placeFirstWords(): WordHashMost {
  return firstWords ?? buildFirstWords();
}

function buildFirstWords(): WordHashMost {
  const cut = (n: string): [string, number] => [n.slice(0, n.search(/[ -]|$/)), n.split(/[ -]/).length - 1];
  firstWords = new WordHashMost([...[...gazetteers().places.keys()].map(cut), ...[...regionSet].map(cut)]);
  return firstWords;
}

/** accept without a bound on the spaces and hyphens of the names it tries. */
const ANY = 1 << 30;

/** The pattern's `[${L}'’.]`: the characters of a word up to a space or hyphen (a cut). */
function inWord(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 0xdf && c <= 0xf6) || (c >= 0xf8 && c <= 0x17f) || c === 39 || c === 0x2019 || c === 46;
}

/**
 * -1 when no place can start at the capital `p`: the pattern's first word there (greedy, at most 25
 * characters, up to accept's first cut) is the first word of no place name, with or without a
 * final full stop. Otherwise the most spaces and hyphens a place name beginning there may hold
 * (accept's `most`). Read in place: no regex, no substring. Where the word ends and its hashes
 * with and without its last character are left in wordEnd, wordHash, wordHashBefore.
 */
function placeAt(text: string, p: number, firsts: WordHashMost): number {
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
  wordEnd = r;
  wordHash = h;
  wordHashBefore = before;
  const c = r < text.length ? text.charCodeAt(r) : -1;
  if (c !== 32 && c !== 45) {
    // No space or hyphen after the word: no further word can follow it (the pattern joins words
    // with one), so the match is this word and accept's only cut is its end. A place only if the
    // word (or the word without its final full stop) names one, not just begins one (`A` of
    // `A Coruña` in `AKIA12`, `G` of `GB00`).
    placeTables();
    const names = placeKinds!;
    if (names.getHashed(h, text, p, r) !== undefined) return 0;
    return text.charCodeAt(r - 1) === 46 && r - 1 > p && names.getHashed(before, text, p, r - 1) !== undefined ? 0 : -1;
  }
  const most = firsts.most(h);
  // The word without its full stop begins only one-word names (`Paris.` of `Paris. Berlin`).
  return text.charCodeAt(r - 1) === 46 && r - 1 > p && firsts.most(before) !== -1 ? Math.max(most, 0) : most;
}

/** placeAt's word: its end, and the hashes of text[p, wordEnd) and text[p, wordEnd - 1). */
let wordEnd = 0;
let wordHash = 0;
let wordHashBefore = 0;

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
    const most = placeAt(text, p, firsts);
    if (most === -1) continue;
    let r: number;
    if (most === 0) {
      // One cut, known without the pattern (acceptWord); validate, not told the pattern's end, decides afresh.
      placeTables();
      r = acceptWord(text, p);
      lastText = undefined;
    } else {
      sticky.lastIndex = p;
      if (!sticky.test(text)) continue;
      const end = sticky.lastIndex;
      r = accept(text, p, end, most);
      lastText = text;
      lastStart = p;
      lastEnd = end;
      lastResult = r;
    }
    if (r > p) {
      memo.remember(text, p, r);
      return p;
    }
  }
}

export const location: Recogniser = { type: "location", pattern: locationPattern, maxLength: 4 * 30, lookbehind: 16, seek, bounded: true, decided: memo.decided, forget, validate };

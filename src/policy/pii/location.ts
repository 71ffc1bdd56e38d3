import type { Recogniser } from "../scan/index.js";
import { gazetteers } from "./gazetteer.js";
import { LOWER as L, UPPER as U } from "./name-words.js";
import { placeBefore } from "./name-words.js";
import { SeekMemo } from "./seek-memo.js";
import { WordHashes } from "./word-hash.js";

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

function accept(text: string, start: number, end: number): number {
  const g = gazetteers();
  const span = text.slice(start, end);
  // Longest leading run of words that names a place; a trailing dot (end of sentence) is not part of it.
  const cuts: number[] = [];
  for (let i = 0; i < span.length; i++) if (span[i] === " " || span[i] === "-") cuts.push(i);
  cuts.push(span.length);
  for (let k = cuts.length - 1; k >= 0; k--) {
    let name = span.slice(0, cuts[k]);
    if (name.endsWith(".")) name = name.slice(0, -1);
    const kind = g.places.get(name) ?? (regionSet.has(name) ? "region" : undefined);
    if (kind === undefined) continue;
    const lower = name.toLowerCase();
    if (!name.includes(" ") && g.common.has(lower)) return -1;
    if (!name.includes(" ") && g.uncommon.has(lower)) {
      // A place that is also a word: only after a place word.
      const m = /([A-Za-z]+)\s+$/.exec(text.slice(Math.max(0, start - 16), start));
      if (!m || !placeBefore.has(m[1]!.toLowerCase())) return -1;
    }
    return start + name.length;
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
  if (firstWords) return firstWords;
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
  const lim = p + 25;
  let h = 0x811c9dc5 | 0;
  let before = h;
  let r = p;
  for (; r < lim; r++) {
    const c = text.charCodeAt(r);
    if (r > p && !inWord(c)) break;
    before = h;
    h = Math.imul(h ^ c, 16777619);
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

function seek(text: string, from: number): number {
  const firsts = placeFirstWords();
  for (let pos = from; ; ) {
    capStart.lastIndex = pos;
    if (!capStart.test(text)) return -1;
    // The match is the capital alone.
    const p = capStart.lastIndex - 1;
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

export const location: Recogniser = { type: "location", pattern: locationPattern, maxLength: 4 * 30, lookbehind: 16, seek, decided: memo.decided, validate };

import type { Recogniser } from "../../../src/policy/scan/index.js";
import { gazetteers } from "../../../src/policy/pii/gazetteer.js";
import { LOWER as L, UPPER as U } from "../../../src/policy/pii/name-words.js";
import { placeBefore } from "../../../src/policy/pii/name-words.js";

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

function seek(text: string, from: number): number {
  for (let pos = from; ; ) {
    capStart.lastIndex = pos;
    const m = capStart.exec(text);
    if (m === null) return -1;
    sticky.lastIndex = m.index;
    if (sticky.test(text) && accept(text, m.index, sticky.lastIndex) > m.index) return m.index;
    pos = m.index + 1;
  }
}

export const location: Recogniser = { type: "location", pattern: locationPattern, maxLength: 4 * 30, lookbehind: 16, seek, validate: accept };

/**
 * Name-like shapes that do not repeat (issue #13: the worst input of every recogniser within 3× of
 * prose). The repeated units of bench/shapes.ts (`Jane Rose Will Paris Main Street `, `123 Main
 * Street `) say what one unit costs, but a recogniser that remembered its last few decisions would
 * read them almost for free; these draw every word at random from the gazetteers the recognisers
 * stand on (given names, surnames, places, street types, month names), so every candidate is a new
 * question. Seeded: the same text on every run.
 */
import { gazetteers, streetTypeNames } from "../../src/policy/pii/gazetteer.js";

const seeded = (seed: number) => () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);

function pools() {
  const g = gazetteers();
  const given = [...g.given.keys()].filter((w) => /^[A-Z][a-z]+$/.test(w));
  const surnames = [...g.surnames.keys()].filter((w) => /^[A-Z][a-z]+$/.test(w));
  const places = [...g.places.keys()].filter((w) => /^[A-Z][A-Za-z .'-]+$/.test(w));
  return { given, surnames, places, streetTypes: streetTypeNames().filter((w) => /^[A-Z][a-z]+$/.test(w)) };
}

/** Pieces drawn by `next` until the text holds `bytes` characters (all ASCII: bytes = characters). */
function build(bytes: number, next: () => string): string {
  const out: string[] = [];
  let n = 0;
  while (n < bytes) {
    const s = next();
    out.push(s);
    n += s.length;
  }
  return out.join("").slice(0, bytes);
}

/** Capitalised words drawn from the given names, surnames and places, joined by spaces, commas and full stops. */
export function randomCapitalised(bytes: number, seed = 11): string {
  const r = seeded(seed);
  const { given, surnames, places } = pools();
  const pick = <T>(a: readonly T[]) => a[Math.floor(r() * a.length)]!;
  const seps = [" ", " ", " ", ", ", ". ", " and "];
  return build(bytes, () => {
    const x = r();
    const w = x < 0.4 ? pick(given) : x < 0.75 ? pick(surnames) : pick(places);
    return w + pick(seps);
  });
}

/** Full names (given name + surname, sometimes a middle initial or a title) and places, as a list. */
export function randomPeopleAndPlaces(bytes: number, seed = 12): string {
  const r = seeded(seed);
  const { given, surnames, places } = pools();
  const pick = <T>(a: readonly T[]) => a[Math.floor(r() * a.length)]!;
  const titles = ["Mr. ", "Dr. ", "Ms. ", "", "", ""];
  return build(bytes, () => {
    const x = r();
    if (x < 0.5) return `${pick(titles)}${pick(given)} ${r() < 0.3 ? String.fromCharCode(65 + Math.floor(r() * 26)) + ". " : ""}${pick(surnames)}, `;
    return `in ${pick(places)}, `;
  });
}

/** Places from the gazetteer after `in`, `to` or a comma: every one a finding of location. */
export function randomPlaces(bytes: number, seed = 13): string {
  const r = seeded(seed);
  const { places } = pools();
  const pick = <T>(a: readonly T[]) => a[Math.floor(r() * a.length)]!;
  const lead = ["in ", "to ", "", "", "from "];
  return build(bytes, () => `${pick(lead)}${pick(places)}, `);
}

/** Number-first street addresses with random numbers, name words and street types. */
export function randomStreets(bytes: number, seed = 14): string {
  const r = seeded(seed);
  const { given, surnames, streetTypes } = pools();
  const pick = <T>(a: readonly T[]) => a[Math.floor(r() * a.length)]!;
  const core = ["Street", "Road", "Avenue", "Lane", "Drive", "Close", "St", "Rd", "Ave"];
  return build(bytes, () => {
    const n = 1 + Math.floor(r() * 9999);
    const name = r() < 0.5 ? pick(surnames) : pick(given);
    const type = r() < 0.6 ? pick(core) : pick(streetTypes);
    return `${n} ${name} ${type} `;
  });
}

const months = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December", "Jan", "Feb", "Mar", "Sept", "Oct"];

/** Dates after a birth word: month names and numbers, numeric dates, all at random. */
export function randomBirthDates(bytes: number, seed = 15): string {
  const r = seeded(seed);
  const pick = <T>(a: readonly T[]) => a[Math.floor(r() * a.length)]!;
  const cue = ["born ", "DOB: ", "born on ", "b. ", "date of birth "];
  return build(bytes, () => {
    const d = 1 + Math.floor(r() * 28);
    const m = 1 + Math.floor(r() * 12);
    const y = 1930 + Math.floor(r() * 90);
    const x = r();
    const date = x < 0.35 ? `${pick(months)} ${d}, ${y}` : x < 0.7 ? `${d} ${pick(months)} ${y}` : `${String(d).padStart(2, "0")}/${String(m).padStart(2, "0")}/${y}`;
    return `${pick(cue)}${date}, `;
  });
}

/** Month names with numbers and no birth word (`May 12, 1980 June 3 `): dates that are not births. */
export function randomMonthDates(bytes: number, seed = 16): string {
  const r = seeded(seed);
  const pick = <T>(a: readonly T[]) => a[Math.floor(r() * a.length)]!;
  return build(bytes, () => `${pick(months)} ${1 + Math.floor(r() * 28)}${r() < 0.5 ? `, ${1930 + Math.floor(r() * 90)}` : ""} `);
}

/** Short capital-led codes with digits (`QX41 `, `BRT07 `): a capital every few bytes that no name takes. */
export function randomCapCodes(bytes: number, seed = 17): string {
  const r = seeded(seed);
  const cap = () => String.fromCharCode(65 + Math.floor(r() * 26));
  return build(bytes, () => {
    let s = cap();
    const letters = Math.floor(r() * 4);
    for (let i = 0; i < letters; i++) s += cap();
    const digits = 1 + Math.floor(r() * 3);
    for (let i = 0; i < digits; i++) s += String(Math.floor(r() * 10));
    return s + " ";
  });
}

/** name → generator of `bytes` characters, for bench/shapes.ts and instruction-count harnesses. */
export const nameShapes: [string, (bytes: number) => string][] = [
  ["names: random capitalised", randomCapitalised],
  ["names: random people and places", randomPeopleAndPlaces],
  ["names: random places", randomPlaces],
  ["names: random streets", randomStreets],
  ["names: random birth dates", randomBirthDates],
  ["names: random month dates", randomMonthDates],
  ["names: random cap codes", randomCapCodes],
];

import type { Recogniser } from "../scan/index.js";
import { gazetteers, streetTypeNames, type Gazetteers } from "./gazetteer.js";
import { LOWER as L, UPPER as U } from "./name-words.js";
import { ukPostcode } from "./postal-code.js";
import { SeekMemo } from "./seek-memo.js";

/**
 * Street addresses of the US, UK, Germany and France, and PO boxes:
 *   number-first   `1600 Pennsylvania Avenue NW, Suite 200, Washington, DC 20500`, `221B Baker Street,
 *                  London NW1 6XE`, `Flat 3, 12 High St`, `12 bis rue de la Paix, 75002 Paris`
 *   name-first     `Musterstraße 12, 10115 Berlin`, `Berliner Allee 5a`, `Calle Mayor 5`
 *   boxes          `P.O. Box 123`, `Postfach 10 01 23`, `BP 42`
 * followed by an optional unit and an optional city line (US city + state + ZIP, UK town + postcode,
 * DE/FR postcode + town). Every address holds a street-type word (or Box/Postfach), so candidates
 * are found from those words; the regex gives the shape and validate checks the words.
 */

const W = `[${U}][${L}'’.-]{0,24}`;
const ordinal = `\\d{1,3}(?:st|nd|rd|th)`;
/** US/UK street types: the common ones written out or abbreviated. The gazetteer adds USPS's full list. */
const coreTypes =
  "Street|St|Avenue|Ave|Av|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Place|Pl|Way|Terrace|Ter|Terr|Circle|Cir|Parkway|Pkwy|Highway|Hwy|Square|Sq|Close|Crescent|Cres|Grove|Gr|Gardens|Gdns|Trail|Trl|Loop|Pike|Row|Mews|Walk|Hill|Rise|Plaza|Alley|Aly|Expressway|Expy|Freeway|Fwy|Turnpike|Tpke|Causeway|Cswy|Broadway";
const usStates =
  "AL|AK|AZ|AR|CA|CO|CT|DE|DC|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|NV|NH|NJ|NM|NY|NC|ND|OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY|PR|GU|VI";
const stateNames =
  "Alabama|Alaska|Arizona|Arkansas|California|Colorado|Connecticut|Delaware|Florida|Georgia|Hawaii|Idaho|Illinois|Indiana|Iowa|Kansas|Kentucky|Louisiana|Maine|Maryland|Massachusetts|Michigan|Minnesota|Mississippi|Missouri|Montana|Nebraska|Nevada|New Hampshire|New Jersey|New Mexico|New York|North Carolina|North Dakota|Ohio|Oklahoma|Oregon|Pennsylvania|Rhode Island|South Carolina|South Dakota|Tennessee|Texas|Utah|Vermont|Virginia|Washington|West Virginia|Wisconsin|Wyoming";
const frTypes = "rue|avenue|av\\.|boulevard|bd|bld|place|allée|allee|impasse|chemin|quai|route|cours|passage|square|voie|rond-point|faubourg|chaussée|sentier|cité|esplanade|promenade|parvis";
const frTypesCap = frTypes
  .split("|")
  .map((t) => t[0]!.toUpperCase() + t.slice(1))
  .join("|");
const deSuffix = "straße|strasse|str\\.|weg|platz|allee|gasse|damm|ufer|chaussee|steig|pfad";
const deTypeWord = "Straße|Strasse|Str\\.|Weg|Platz|Allee|Gasse|Ring|Damm|Ufer|Chaussee|Steig|Pfad|Markt";
const esItTypes = "Calle|Avenida|Av\\.|Paseo|Plaza|Carrer|Rua|Via|Viale|Piazza|Corso|Largo|Vicolo";

const sep = `(?:,? |,?[ \\t]*\\r?\\n[ \\t]*)`;
const unit = `(?:${sep}(?:Apartment|Apt\\.?|Suite|Ste\\.?|Unit|Floor|Fl\\.|Flat|Studio|Room|Rm\\.?|Building|Bldg\\.?|#|No\\.?|Nr\\.?|Zimmer|Appt\\.?|Bât\\.?|Étage|étage)(?![A-Za-z]) ?#?[0-9A-Za-z][0-9A-Za-z-]{0,5}(?![\\w-]))`;
const cityWords = `${W}(?:[ -]${W}){0,3}`;
const usCity = `${sep}${cityWords},? (?:${usStates}|${stateNames})(?: \\d{5}(?:-\\d{4})?)?`;
const ukCity = `${sep}(?:${cityWords}${sep})?${ukPostcode}`;
/** US military mail: `APO AE 09012`. */
const militaryCity = `${sep}(?:APO|FPO|DPO) (?:AA|AE|AP) \\d{5}`;
const euCity = `${sep}(?:D-|F-|DE-|FR-)?\\d{5} ${cityWords}(?: Cedex(?: \\d{1,2})?)?`;
const plainCity = `${sep}${cityWords}`;
const cityLine = `(?:${usCity}|${ukCity}|${euCity}|${militaryCity}|${plainCity})`;

const number = `\\d{1,6}[A-Za-z]?(?:[-/]\\d{1,5}[A-Za-z]?)?`;
const unitFirst = `(?:(?<![\\w-])(?:Flat|Apartment|Apt\\.?|Unit|Suite) [0-9A-Z]{1,5},? )?`;
const direction = `(?:(?:N|S|E|W|NE|NW|SE|SW|North|South|East|West)\\.? )?`;
/** Every English street type, longest first so that `Streets` is not read as `Street`. */
const enTypes = [...new Set([...coreTypes.split("|"), ...streetTypeNames()])].sort((a, b) => b.length - a.length || a.localeCompare(b)).join("|");
const enStreet = `(?:(?:${W}|${ordinal}) ){1,4}${byFirstChar(enTypes)}(?![${L}])\\.?(?: (?:N|S|E|W|NE|NW|SE|SW)\\b\\.?)?`;
const frStreet = `(?:bis |ter |Bis |Ter )?(?:${frTypes}|${frTypesCap})(?: (?:de la|de l'|de l’|du|des|de|d'|d’|la|le|les))?(?: ?[${U}${L}][${L}'’-]{0,24}){1,5}`;
const numberFirst = `${unitFirst}\\d(?<![\\w.,$€£-]\\d)\\d{0,5}[A-Za-z]?(?:[-/]\\d{1,5}[A-Za-z]?)?`;
const deStreet = `[${U}](?<![\\w-][${U}])(?:[${L}]{1,30}(?:[ -][${U}][${L}]{1,30}){0,2}(?:${deSuffix})|[${L}]{1,30}(?:[ -][${U}][${L}]{1,30}){0,2} (?:${deTypeWord}))`;
const esItStreet = `(?<![\\w-])(?:${esItTypes})(?: (?:de la|de|del|della|dei|di|do|da|dos))?(?: [${U}][${L}'’-]{1,24}){1,4},? (?:n[º°o]\\.? ?)?\\d{1,4}[A-Za-z]?`;
const box = `(?<![\\w.])(?:(?:P\\.? ?O\\.? ?Box|PO Box|POB|Post Office Box|Postfach|B\\.P\\.|BP|Boîte [Pp]ostale|Apartado(?: de correos)?|Casella [Pp]ostale) \\d{1,6}(?: \\d{2}){0,2}|(?:PSC|Unit) \\d{4},? Box \\d{4}|(?:USNS|USNV|USS|USCGC) [A-Z][a-z]{1,20})`;

const tail = `${unit}?${cityLine}?(?=[\\s\\S]{0,8})`;
const numberedCore = `${numberFirst}(?:,? )?(?:${direction}${enStreet}|${frStreet})`;
const namedCore = `(?:${deStreet} ${number}|${esItStreet})`;

const sure = new Set(coreTypes.split("|"));
const frAfterNumber = new RegExp(`^[^ ]*\\d[^ ]*,? (?:bis |ter |Bis |Ter )?(?:${frTypes}|${frTypesCap})\\b`);
/** First characters of what frAfterNumber takes after the number's space: `bis`, `ter` and the French types. */
const frFirst = new Set(["bis", "ter", "Bis", "Ter", ...frTypes.split("|"), ...frTypesCap.split("|")].map((t) => t.charCodeAt(0)));

/**
 * frAfterNumber.test(body): its `[^ ]*\d[^ ]*,? ` can only end at the body's first space, so a body
 * whose first space is not followed by one of frFirst (`123 Main Street`) fails without the regex.
 */
function frenchAfterNumber(body: string): boolean {
  const sp = body.indexOf(" ");
  return sp !== -1 && frFirst.has(body.charCodeAt(sp + 1)) && frAfterNumber.test(body);
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/** Words before an address that say one follows (`lives at`, `Address:`). */
const addressCue = /(?:address|adresse|anschrift|live|lives|living|located|reside|resides|ship|send|deliver|mail|visit|office|at|to|on|from|is|:)\W*$/i;
const unitRe = new RegExp(unit, "y");
const cityRes = [usCity, ukCity, euCity, militaryCity].map((s) => new RegExp(s, "y"));
const plainCityRe = new RegExp(plainCity, "y");

/** The longest leading run of words of `town` that is a known place, as a character count. */
function knownTown(town: string, places: ReadonlyMap<string, string>): number {
  const words = town.split(" ");
  for (let n = words.length; n > 0; n--) {
    const t = words.slice(0, n).join(" ");
    if (places.has(t)) return t.length;
  }
  return -1;
}

/** The classes [${U}] and [${L}] (name-words.ts). */
function isUpperClass(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 0xc0 && c <= 0xd6) || (c >= 0xd8 && c <= 0xde) || (c >= 0x100 && c <= 0x17f);
}
function isLowerClass(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 0xdf && c <= 0xf6) || (c >= 0xf8 && c <= 0xff) || (c >= 0x100 && c <= 0x17f);
}

/** Whether body[j..] is what typeAtEnd's regex allows after its type word: `.`?, then the end or ` ` and a direction (N, SE, ...) and `.`?. */
function directionTail(body: string, j: number): boolean {
  const n = body.length;
  if (body.charCodeAt(j) === 46) j++;
  if (j === n) return true;
  if (body.charCodeAt(j) !== 32) return false;
  const e = body.charCodeAt(n - 1) === 46 ? n - 1 : n;
  const a = body.charCodeAt(j + 1);
  if (e - (j + 1) === 1) return a === 78 || a === 83 || a === 69 || a === 87;
  if (e - (j + 1) !== 2) return false;
  const b = body.charCodeAt(j + 2);
  return (a === 78 || a === 83) && (b === 69 || b === 87);
}

/**
 * The street type ending a number-first street's body, as the regex
 * `([${U}][${L}]{1,14})\.?(?: (?:N|S|E|W|NE|NW|SE|SW)\.?)?$` finds it (run on the body it tried
 * every start; test/policy/names-equivalence.test.ts holds this to it), read by hand: where its
 * type word (group 1) starts, times 32, plus its length; -1 when it does not match. A match is at most 20 characters (a 15-letter word, `.`, ` NE.`); the type word is a
 * capital and the whole run of lower-case letters after it (the next character must be `.`, ` ` or
 * the end, none of them such a letter), and at most one start matches (what follows a type word
 * holds no lower-case letter), so the first start found is the regex's.
 */
export function typeAtEnd(body: string): number {
  const n = body.length;
  for (let i = Math.max(0, n - 20); i < n; i++) {
    if (!isUpperClass(body.charCodeAt(i))) continue;
    let j = i + 1;
    while (j < i + 15 && j < n && isLowerClass(body.charCodeAt(j))) j++;
    if (j === i + 1 || !directionTail(body, j)) continue;
    return (i << 5) | (j - i);
  }
  return -1;
}

/** After the street itself (ending at `at`): an optional unit and city line, within the regex's `end`. */
/** Where what follows a separator at `at` begins (see afterSeparator), as the kinds of line that may start there. */
const NONE = 0;
const DIGIT = 1;
const ANY = 2;

/**
 * What may follow the street at `at`. Every unit and city line begins with a separator (`sep`:
 * commas, spaces, tabs, line breaks) and then, after the whole run of those characters, with a
 * letter, `#` or (a French or German postcode only) a digit: on prose and repeated addresses most
 * are ruled out by one character, without their regexes.
 */
function afterSeparator(text: string, at: number): number {
  let q = at;
  for (let c = text.charCodeAt(q); c === 44 || c === 32 || c === 9 || c === 13 || c === 10; c = text.charCodeAt(++q));
  if (q === at) return NONE;
  const c = text.charCodeAt(q);
  if (c >= 65 || c === 35) return ANY;
  return c >= 48 && c <= 57 ? DIGIT : NONE;
}
/** The UK city line's postcode begins with a capital, as that reasoning assumes (else every line is tried). */
const ukStartsUpper = ukPostcode.startsWith("[A-Z]");
const euCityRe = cityRes[2]!;

/**
 * Where euCityRe sticky at `at` ends (-1: no match), remembered for the last position asked: on a
 * list of addresses each street is followed by the next one's number, so the seek's tailEnd and
 * then extend, as the same candidate is decided, both try the postcode line at the same place.
 * Forgotten as a scan ends (the recognisers' forget).
 */
let euText: string | undefined;
let euAt = -1;
let euEnd = -1;
function euCityEnd(text: string, at: number): number {
  if (at === euAt && text === euText) return euEnd;
  euCityRe.lastIndex = at;
  euEnd = euCityRe.test(text) ? euCityRe.lastIndex : -1;
  euText = text;
  euAt = at;
  return euEnd;
}

function extend(text: string, at: number, end: number): { at: number; extra: boolean } {
  const next = ukStartsUpper ? afterSeparator(text, at) : ANY;
  if (next === NONE) return { at, extra: false };
  if (next === DIGIT) {
    // Only the French or German postcode and town line (`, 75002 Paris`) begins with a digit.
    const e = euCityEnd(text, at);
    if (e !== -1 && e <= end) return { at: text.charCodeAt(e - 1) === 46 ? e - 1 : e, extra: true };
    return { at, extra: false };
  }
  let extra = false;
  unitRe.lastIndex = at;
  if (unitRe.test(text) && unitRe.lastIndex <= end) {
    at = unitRe.lastIndex;
    extra = true;
  }
  let best = -1;
  for (const re of cityRes) {
    re.lastIndex = at;
    if (re.test(text) && re.lastIndex <= end && re.lastIndex > best) best = re.lastIndex;
  }
  if (best === -1) {
    // `, London` / `, Springfield`: kept only when the town is a known place.
    plainCityRe.lastIndex = at;
    if (plainCityRe.test(text) && plainCityRe.lastIndex <= end) {
      const raw = text.slice(at, plainCityRe.lastIndex);
      const lead = raw.length - raw.replace(/^[,\s]+/, "").length;
      const n = knownTown(raw.slice(lead), gazetteers().places);
      if (n > 0) best = at + lead + n;
    }
  }
  // A full stop after the town ends the sentence, not the address.
  if (best !== -1 && text.charCodeAt(best - 1) === 46) best--;
  return best === -1 ? { at, extra } : { at: best, extra: true };
}

/**
 * A number-first street: taken on its own when its type is an everyday street word (Street, Road,
 * Close) or French (rue, avenue); with a rarer USPS type (Divide, Heights, Point) its name words must
 * not be common words or the words before must say an address follows; otherwise it needs a unit or
 * a city line after it.
 */
function acceptNumbered(core: RegExp) {
  return (text: string, start: number, end: number): number => {
    core.lastIndex = start;
    if (!core.test(text) || core.lastIndex > end) return -1;
    return decideNumbered(text, start, core.lastIndex, end);
  };
}

/** Words of a number-first street's name that say nothing of it: a unit word or a direction. */
const notNameWords = new Set(["Flat", "Apartment", "Apt", "Apt.", "Unit", "Suite", "N", "S", "E", "W", "North", "South", "East", "West"]);

/**
 * Whether the words of body[0, typeAt) split at spaces, leaving out empty ones, those with a digit
 * (the house number) and notNameWords, are some and each not a common word, or a surname or given
 * name as well (`Hunter`, `Rose`). Read by position: no array of the words, no regex per word
 * (two per word, where a rarer street type, `Prairie`, `Garth`, made every street ask).
 */
function nameyWords(body: string, typeAt: number, g: Gazetteers): boolean {
  let some = false;
  for (let i = 0; i <= typeAt; ) {
    let j = i;
    let digit = false;
    for (; j < typeAt; j++) {
      const c = body.charCodeAt(j);
      if (c === 32) break;
      if (c >= 48 && c <= 57) digit = true;
    }
    if (j > i && !digit) {
      const w = body.slice(i, j);
      if (!notNameWords.has(w)) {
        if (g.common.has(w.toLowerCase()) && !g.surnames.has(w) && !g.given.has(w)) return false;
        some = true;
      }
    }
    i = j + 1;
  }
  return some;
}

/** acceptNumbered once the street itself is known to end at `at` (the core's match). */
function decideNumbered(text: string, start: number, at: number, end: number): number {
  const body = text.slice(start, at);
  let strong = true;
  if (!frenchAfterNumber(body)) {
    const found = typeAtEnd(body);
    if (found === -1) return -1;
    const typeAt = found >> 5;
    const type = body.slice(typeAt, typeAt + (found & 31));
    if (!sure.has(type)) {
      const g = gazetteers();
      if (!g.streetTypes.has(type)) return -1;
      strong = nameyWords(body, typeAt, g) || addressCue.test(text.slice(Math.max(0, start - 24), start));
    }
  }
  const x = extend(text, at, end);
  if (x.extra) return x.at;
  // `2 Park Place sets`: a one-digit number and nothing else that says address (French forms excepted).
  if (isDigit(body.charCodeAt(0)) && body.length > 1 && !isDigit(body.charCodeAt(1)) && !frenchAfterNumber(body) && !addressCue.test(text.slice(Math.max(0, start - 24), start))) return -1;
  return strong ? x.at : -1;
}

function acceptNamed(core: RegExp) {
  return (text: string, start: number, end: number): number => {
    core.lastIndex = start;
    if (!core.test(text) || core.lastIndex > end) return -1;
    return extend(text, core.lastIndex, end).at;
  };
}

/**
 * A number-first match has a letter within this many characters of its first digit: house number
 * \d{1,6}, a letter, -/ and five digits, a letter, `, `, three digits of an ordinal, then letters
 * (a street word, an ordinal's suffix, a French type): by the 18th; 20 leaves a margin.
 */
const LETTER_WITHIN = 20;

/** Where a number-first address may start: a digit after a non-word character, or a unit word. */
const numberedStart = new RegExp(`\\d(?<![\\w.,$€£-]\\d)|(?<![\\w-])(?:Flat|Apartment|Apt|Unit|Suite) [0-9A-Z]`, "g");
/** Where a German, Spanish or Italian one may: a capital starting a word. */
const namedStart = new RegExp(`(?<![\\w-])[${U}]`, "g");

/**
 * Leftmost position at or after `from` where `accept` takes a match of `sticky`: every match holds a
 * key word within `window` characters of its start, so each key's window of starts is tried in
 * order, every position once.
 */
function keyedSeek(
  keys: () => RegExp,
  starts: RegExp,
  sticky: RegExp,
  accept: (t: string, s: number, e: number) => number,
  window: number,
  memo: SeekMemo,
) {
  return (text: string, from: number): number => {
    const key = keys();
    let lo = from;
    key.lastIndex = from;
    for (let m = key.exec(text); m !== null; m = key.exec(text)) {
      const k = m.index;
      const w = Math.max(lo, k - window);
      lo = Math.max(lo, k + 1);
      starts.lastIndex = w;
      for (let s = starts.exec(text); s !== null && s.index <= k; s = starts.exec(text)) {
        const p = s.index;
        sticky.lastIndex = p;
        if (sticky.test(text)) {
          const r = accept(text, p, sticky.lastIndex);
          if (r > p) {
            memo.remember(text, p, r);
            return p;
          }
        }
      }
    }
    return -1;
  };
}


/**
 * Alternatives grouped by their first character, in their order (`s(?:traße|trasse|tr\\.)`): V8
 * tries alternatives one by one at every position, and the groups' first letters reject most at once.
 * Alternatives with different first characters never match at the same place, so the matches are
 * the same.
 */
function byFirstChar(alternatives: string): string {
  const groups = new Map<string, string[]>();
  for (const a of alternatives.split("|")) groups.set(a[0]!, [...(groups.get(a[0]!) ?? []), a.slice(1)]);
  return `(?:${[...groups].map(([c, rest]) => `${c}(?:${rest.join("|")})`).join("|")})`;
}

const namedKeys = new RegExp(`(?:${byFirstChar(deSuffix)}|(?<![${U}${L}])${byFirstChar(`${deTypeWord}|${esItTypes}`)})(?![${L}])`, "g");

/**
 * `accept` remembering its last answer: seek has just taken the decision at a candidate, and the
 * scanner asks for it again at once (validate, the same text, start and end).
 */
function remembered(accept: (t: string, s: number, e: number) => number): (t: string, s: number, e: number) => number {
  let lastText: string | undefined;
  let lastStart = -1;
  let lastEnd = -1;
  let lastResult = -1;
  return (text, start, end) => {
    if (start === lastStart && end === lastEnd && text === lastText) return lastResult;
    lastResult = accept(text, start, end);
    lastText = text;
    lastStart = start;
    lastEnd = end;
    return lastResult;
  };
}

function recogniser(
  pattern: string,
  maxLength: number,
  seek: (t: string, f: number) => number,
  validate: (t: string, s: number, e: number) => number,
  memo: SeekMemo,
): Recogniser {
  const forget = (): void => {
    memo.forget();
    euText = undefined;
  };
  return { type: "street_address", pattern, maxLength, lookbehind: 24, seek, decided: memo.decided, forget, validate };
}

const numberedPattern = `${numberedCore}${tail}`;
const numberedCoreSticky = new RegExp(numberedCore, "y");
const numberedAccept = remembered(acceptNumbered(numberedCoreSticky));
/**
 * The pattern's match in two runs: the core, then the tail from where it ended. The tail can match
 * nothing (every part optional, its lookahead always true), so the whole pattern never backtracks
 * into the core: its match is the core's followed by the tail's, and the core's end, which
 * acceptNumbered needs, comes without running the core a third time.
 */
const tailSticky = new RegExp(tail, "y");

/**
 * Where `tail` sticky at `at` ends. Every unit and city line begins with a separator and then a
 * letter, `#` or (the French or German postcode line only) a digit, as afterSeparator reads it: on
 * repeated addresses the tail is mostly known to be empty, or to be that one line, from one character.
 */
function tailEnd(text: string, at: number): number {
  const next = ukStartsUpper ? afterSeparator(text, at) : ANY;
  if (next === NONE) return at;
  if (next === DIGIT) {
    const e = euCityEnd(text, at);
    return e === -1 ? at : e;
  }
  const re = tailSticky;
  re.lastIndex = at;
  return re.test(text) ? re.lastIndex : at;
}
const numberedMemo = new SeekMemo();

/**
 * Number-first addresses are sought from their start: digits are rare in prose, and the regex
 * rejects a number not followed by a street at once.
 */
function seekNumbered(text: string, from: number): number {
  numberedStart.lastIndex = from;
  // The first character at or after `from` that may be a letter (code 65 and up), once looked for.
  let letter = -1;
  for (let m = numberedStart.exec(text); m !== null; m = numberedStart.exec(text)) {
    const p = m.index;
    // From a digit, the pattern needs a letter (a street word, an ordinal's suffix, a French type)
    // within LETTER_WITHIN characters. Runs of digits and separators (`4111 1111 …`) are passed
    // over without the regex; each character is looked at once however many candidates there are.
    if (text.charCodeAt(p) <= 57) {
      if (letter <= p) {
        letter = p + 1;
        while (letter < text.length && text.charCodeAt(letter) < 65) letter++;
      }
      if (letter - p >= LETTER_WITHIN) {
        numberedStart.lastIndex = letter - LETTER_WITHIN + 1;
        continue;
      }
    }
    numberedCoreSticky.lastIndex = p;
    if (numberedCoreSticky.test(text)) {
      const at = numberedCoreSticky.lastIndex;
      const r = decideNumbered(text, p, at, tailEnd(text, at));
      if (r > p) {
        numberedMemo.remember(text, p, r);
        return p;
      }
    }
    numberedStart.lastIndex = p + 1;
  }
  return -1;
}
const namedPattern = `${namedCore}${tail}`;
const namedAccept = remembered(acceptNamed(new RegExp(namedCore, "y")));
const boxPattern = `${box}${tail}`;
const boxAccept = remembered(acceptNamed(new RegExp(box, "y")));
const boxStart = new RegExp(`(?<![\\w.])${box}`, "g");
const boxSticky = new RegExp(boxPattern, "y");
const namedMemo = new SeekMemo();
const boxMemo = new SeekMemo();

export const streetAddress: readonly Recogniser[] = [
  recogniser(numberedPattern, 360, seekNumbered, numberedAccept, numberedMemo),
  recogniser(namedPattern, 320, keyedSeek(() => namedKeys, namedStart, new RegExp(namedPattern, "y"), namedAccept, 110, namedMemo), namedAccept, namedMemo),
  recogniser(
    boxPattern,
    260,
    (text, from) => {
      for (boxStart.lastIndex = from; ; ) {
        const m = boxStart.exec(text);
        if (m === null) return -1;
        boxSticky.lastIndex = m.index;
        if (boxSticky.test(text)) {
          const r = boxAccept(text, m.index, boxSticky.lastIndex);
          if (r > m.index) {
            boxMemo.remember(text, m.index, r);
            return m.index;
          }
        }
        boxStart.lastIndex = m.index + 1;
      }
    },
    boxAccept,
    boxMemo,
  ),
];

import { parsePattern, type Node } from "../scan/index.js";

/**
 * Words a lexicon phrase cannot match without: `requiredWords(p)` is a set of words (lower-cased)
 * such that every match of `p` (a case-insensitive pattern that begins at a word) holds one of them
 * as a whole word — a maximal run of ASCII word characters, as `\b` and the lexicon's word table
 * count them — that is not the match's first word; and `span`, the longest a match can be.
 *
 * What it is for: a phrase whose second word can be anything (`kill [\w'-]{1,24} process`,
 * `sex(?: [\w'-]{1,24}){0,4} with a minor`) cannot be ruled out by its opening words, and its regex
 * would be tried at every one of its first words; but it is only worth trying where one of these
 * words follows within `span` characters ("process", "minor", ...), which the lexicon's one pass
 * over the words knows from words it has already read and looked up.
 *
 * Only ever errs towards no answer (undefined): a run of word characters counts only where the
 * pattern puts a non-word character or a `\b` on both sides of it (so the text's word there is
 * exactly the run), and only when it is not optional.
 */
export interface RequiredWords {
  words: Set<string>;
  /** The most UTF-16 units a match's word of `words` can start after the match's own start. */
  wordsAt: number;
  /** A second such set, at another place in the pattern (every match holds a word of each), if any. */
  also: Set<string> | undefined;
  /** As wordsAt, for `also`. */
  alsoAt: number;
  span: number;
}

/** A set of required words, and the most units one of them can start after the match's start. */
interface Found {
  words: Set<string>;
  at: number;
}

/** Largest set followed (beyond it a part is "anything"). */
const MAX_SET = 512;

const wide = "\u00a0\u00e9\u0130\u0131\u017f\u212a\u2019\u2013\u3000\ufeff\u4e2d";

function isWordCode(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
}

/** What an atom matches: only word characters (their lower-cased forms), only non-word ones, or both. */
const kinds = new Map<string, { word: Set<string>; other: boolean }>();
function atomKind(src: string): { word: Set<string>; other: boolean } {
  let k = kinds.get(src);
  if (k === undefined) kinds.set(src, (k = readAtom(src)));
  return k;
}

function readAtom(src: string): { word: Set<string>; other: boolean } {
  const re = new RegExp(`^(?:${src})$`, "i");
  const word = new Set<string>();
  let other = false;
  for (let c = 0; c < 128; c++) {
    const ch = String.fromCharCode(c);
    if (!re.test(ch)) continue;
    if (isWordCode(c)) word.add(ch.toLowerCase());
    else other = true;
  }
  if (/\^|^\.$|\\[WSDsPpux]/.test(src) || /[^\x00-\x7f]/.test(src) || [...wide].some((ch) => re.test(ch))) other = true;
  return { word, other };
}

/** A mandatory atom that matches only non-word characters. */
function isSeparator(n: Node): boolean {
  if (n.t !== "atom") return false;
  const k = atomKind(n.src);
  return k.word.size === 0;
}

const isBoundary = (n: Node) => n.t === "assert" && n.src === "\\b";

/** Every string `n` matches, when that is a small set of strings of word characters only (lower-cased); else undefined. */
function wordStrings(n: Node): Set<string> | undefined {
  switch (n.t) {
    case "atom": {
      const k = atomKind(n.src);
      return k.other || k.word.size === 0 || k.word.size > 40 ? undefined : k.word;
    }
    case "assert":
    case "look":
      return undefined;
    case "seq": {
      let acc = new Set([""]);
      for (const item of n.items) {
        const x = wordStrings(item);
        if (x === undefined) return undefined;
        acc = product(acc, x);
        if (acc.size > MAX_SET) return undefined;
      }
      return acc;
    }
    case "alt": {
      const out = new Set<string>();
      for (const o of n.options) {
        const x = wordStrings(o);
        if (x === undefined) return undefined;
        for (const s of x) out.add(s);
        if (out.size > MAX_SET) return undefined;
      }
      return out;
    }
    case "rep": {
      if (n.max === Infinity || n.max > 8) return undefined;
      const body = wordStrings(n.body);
      if (body === undefined) return undefined;
      const out = new Set<string>();
      let acc = new Set([""]);
      for (let k = 0; k <= n.max; k++) {
        if (k >= n.min) for (const s of acc) out.add(s);
        if (out.size > MAX_SET) return undefined;
        if (k === n.max) break;
        acc = product(acc, body);
        if (acc.size > MAX_SET) return undefined;
      }
      return out;
    }
  }
}

function product(a: Set<string>, b: Set<string>): Set<string> {
  const out = new Set<string>();
  for (const x of a) for (const y of b) out.add(x + y);
  return out;
}

/** Words of most texts: a set holding one rules out little. */
const COMMON = new Set(
  "a an the of to in on at by for with about from into as is are was were be been it its i me my you your we our he him his she her they them their this that these those all and or not no so just up off out will ll s t m re going want know get have do".split(
    " ",
  ),
);

/** Which of two sets to prefer (lower): fewest common words, then fewest words. */
function cost(x: Set<string>): number {
  let common = 0;
  for (const w of x) if (COMMON.has(w)) common++;
  return common * 1000 + x.size;
}

/** Whether every match of `n` ends (or, with `atStart`, begins) with a non-word character. */
function edgeIsSeparator(n: Node, atStart: boolean): boolean {
  switch (n.t) {
    case "atom":
      return isSeparator(n);
    case "alt":
      return n.options.every((o) => edgeIsSeparator(o, atStart));
    case "rep":
      return n.min >= 1 && edgeIsSeparator(n.body, atStart);
    case "seq": {
      const items = n.items.filter((x) => x.t !== "look");
      const edge = atStart ? items[0] : items.at(-1);
      return edge !== undefined && edgeIsSeparator(edge, atStart);
    }
    default:
      return false;
  }
}

/**
 * Whether the text just before items[i] (direction -1) or just after it (+1) is surely a non-word
 * character or the edge of a word: a separator, a `\b`, an optional part that itself ends (begins)
 * with one and is preceded (followed) by one, or the context `edge` past the sequence's end.
 */
function bounded(items: Node[], i: number, dir: -1 | 1, edge: boolean): boolean {
  for (let j = i + dir; ; j += dir) {
    if (j < 0 || j >= items.length) return edge;
    const n = items[j]!;
    if (n.t === "look") continue;
    if (isBoundary(n) || isSeparator(n)) return true;
    if (n.t === "rep" && n.min === 0 && edgeIsSeparator(n.body, dir === 1)) continue;
    return false;
  }
}

/**
 * The best set of words (fewest) of which every match of `n` holds one, bounded as above, given
 * whether what comes before and after `n` is bounded; and whether `n`'s matches are never empty at
 * that place (only then can a word inside it stand for the whole pattern). `at` is the longest the
 * match can be before `n` begins; the set comes with the most units its word can start after the
 * match's start (a phrase's verb right after its opening is looked for a few words on, not across
 * the whole phrase's span).
 */
function best(n: Node, before: boolean, after: boolean, at: number, all?: Found[], suffix?: Set<string>): Found | undefined {
  if (n.t === "alt") {
    const out = new Set<string>();
    let most = 0;
    for (const o of n.options) {
      const x = best(o, before, after, at, undefined, suffix);
      if (x === undefined) return undefined;
      for (const w of x.words) out.add(w);
      most = Math.max(most, x.at);
    }
    return { words: out, at: most };
  }
  if (n.t === "rep") return n.min >= 1 && n.max === 1 ? best(n.body, before, after, at, undefined, suffix) : undefined;
  if (n.t !== "seq") {
    const w = wordStrings(n);
    const ws = w === undefined || suffix === undefined ? w : product(w, suffix);
    return ws !== undefined && before && after && !ws.has("") ? { words: ws, at } : undefined;
  }
  const items = n.items;
  // The longest the match can be before each item.
  const before_ = [at];
  for (const x of items) before_.push(before_.at(-1)! + longest(x));
  let found: Found | undefined;
  const consider = (x: Found | undefined) => {
    if (x === undefined || x.words.size === 0) return;
    all?.push(x);
    if (found === undefined || cost(x.words) < cost(found.words)) found = x;
  };
  // Runs of items that match word characters only, bounded on both sides.
  for (let i = 0; i < items.length; i++) {
    if (wordStrings(items[i]!) === undefined) continue;
    if (!bounded(items, i, -1, before)) continue;
    let acc = new Set([""]);
    for (let j = i; j < items.length; j++) {
      const x = wordStrings(items[j]!);
      if (x === undefined) break;
      acc = product(acc, x);
      if (acc.size > MAX_SET) break;
      // A run to the end of the sequence goes on into the word characters that follow it (`suffix`).
      const whole = j === items.length - 1 && suffix !== undefined ? product(acc, suffix) : acc;
      if (!whole.has("") && whole.size <= MAX_SET && bounded(items, j, 1, after)) consider({ words: whole, at: before_[i]! });
    }
  }
  // Alternations and groups inside, each between bounded neighbours.
  for (let i = 0; i < items.length; i++) {
    const x = items[i]!;
    if (x.t !== "alt" && !(x.t === "rep" && x.min >= 1 && x.max === 1)) continue;
    if (wordStrings(x) !== undefined) continue;
    // Word characters right after it (`s?` after a list of nouns) belong to the same word: they go
    // into the options' last runs, and the bound is looked for after them.
    let last = i;
    let tail: Set<string> | undefined;
    while (last + 1 < items.length) {
      const w = wordStrings(items[last + 1]!);
      if (w === undefined) break;
      tail = product(tail ?? new Set([""]), w);
      last++;
    }
    if (last === items.length - 1 && suffix !== undefined) tail = product(tail ?? new Set([""]), suffix);
    if (tail !== undefined && tail.size > MAX_SET) continue;
    consider(best(x, bounded(items, i, -1, before), bounded(items, last, 1, after), before_[i]!, undefined, tail));
  }
  return found;
}

/** The longest match of `n` in UTF-16 units (Infinity when unbounded). */
function longest(n: Node): number {
  switch (n.t) {
    case "atom":
      return n.src.length === 2 && n.src.charCodeAt(0) >= 0xd800 && n.src.charCodeAt(0) <= 0xdbff ? 2 : 1;
    case "assert":
    case "look":
      return 0;
    case "seq":
      return n.items.reduce((a, x) => a + longest(x), 0);
    case "alt":
      return Math.max(...n.options.map(longest));
    case "rep":
      return n.max === 0 ? 0 : n.max * longest(n.body);
  }
}

/**
 * For a pattern `\b(?:...)` whose matches begin with a word: words every match holds after its first
 * word, and the longest match; undefined when no such set can be shown.
 */
export function requiredWords(pattern: string): RequiredWords | undefined {
  const node = parsePattern(pattern);
  if (node === undefined || node.t !== "seq" || !isBoundary(node.items[0]!)) return undefined;
  const span = longest(node);
  if (!Number.isFinite(span)) return undefined;
  // The first item is the leading \b: what follows it is the match (its first word may count: the
  // scan looks for required words from the first word on).
  const items = node.items.slice(1);
  // Every set found in the top-level sequence is required on its own: the best two are kept.
  const all: Found[] = [];
  const found = best({ t: "seq", items }, false, true, 0, all);
  if (found === undefined) return undefined;
  const key = (x: Set<string>) => [...x].sort().join(" ");
  const also = all.filter((x) => key(x.words) !== key(found.words)).sort((a, b) => cost(a.words) - cost(b.words))[0];
  return { words: found.words, wordsAt: Math.min(found.at, span), also: also?.words, alsoAt: Math.min(also?.at ?? span, span), span };
}

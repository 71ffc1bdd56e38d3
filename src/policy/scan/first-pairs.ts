import { parsePattern, type Node } from "./regex-ast.js";

/**
 * The first two characters a match of a pattern can begin with, as a table over pairs of character
 * codes: 0–127 stand for themselves, OTHER for every character beyond ASCII and for the end of the
 * text. The scanner uses it to try, at a position, only the patterns that can begin with the two
 * characters found there (the content lexicon's hundreds of phrases otherwise cost a V8 attempt
 * each at every word).
 *
 * Over-approximate by construction: assertions and lookarounds are read as matching nothing and
 * constraining nothing, a class counts every character it might match (anything beyond ASCII once
 * it might match one), and a match that can be one character long pairs with every second one.
 */
export const OTHER = 128;
export const CODES = 129;

type CharSet = Uint8Array;

interface Product {
  a: CharSet;
  b: CharSet;
}

/** The pairs a node's matches begin with (a union of products), its one-character matches, and whether it matches empty. */
interface Prefixes {
  products: Product[];
  singles: CharSet;
  empty: boolean;
}

const none = (): CharSet => new Uint8Array(CODES);

function union(x: CharSet, y: CharSet): CharSet {
  const out = none();
  for (let i = 0; i < CODES; i++) out[i] = x[i]! | y[i]!;
  return out;
}

function isEmptySet(x: CharSet): boolean {
  for (let i = 0; i < CODES; i++) if (x[i]) return false;
  return true;
}

/** Non-ASCII characters a class may match; any atom matching one is taken to match them all (charsOf: also used by cross-guard.ts). */
const wide = "\u00a0\u00e9\u00c9\u0130\u0131\u017f\u212a\u2019\u201c\u2013\u2014\u2028\u3000\ufeff\u4e2d\ud83d\ude00";

const atomCache = new Map<string, CharSet>();

export function charsOf(src: string, flags: string): CharSet {
  const key = flags + src;
  let set = atomCache.get(key);
  if (set) return set;
  set = none();
  const re = new RegExp(`^(?:${src})$`, flags);
  for (let c = 0; c < 128; c++) if (re.test(String.fromCharCode(c))) set[c] = 1;
  // Negated classes, `.`, \W \S \D \s \p and non-ASCII ranges reach beyond ASCII.
  if (/\^|^\.$|\\[WSDsPpux]/.test(src) || /[^\x00-\x7f]/.test(src) || [...wide].some((ch) => re.test(ch))) set[OTHER] = 1;
  atomCache.set(key, set);
  return set;
}

function firsts(p: Prefixes): CharSet {
  let f = p.singles;
  for (const x of p.products) f = union(f, x.a);
  return f;
}

function seq(x: Prefixes, y: Prefixes): Prefixes {
  const products = [...x.products];
  const fy = firsts(y);
  if (!isEmptySet(x.singles) && !isEmptySet(fy)) products.push({ a: x.singles, b: fy });
  if (x.empty) products.push(...y.products);
  let singles = none();
  if (y.empty) singles = union(singles, x.singles);
  if (x.empty) singles = union(singles, y.singles);
  return { products, singles, empty: x.empty && y.empty };
}

const nothing = (): Prefixes => ({ products: [], singles: none(), empty: true });

function prefixes(n: Node, flags: string): Prefixes {
  switch (n.t) {
    case "atom":
      return { products: [], singles: charsOf(n.src, flags), empty: false };
    case "assert":
    case "look":
      return nothing();
    case "seq": {
      let acc = nothing();
      for (const item of n.items) {
        // Once every match so far is at least two characters long, later items add no first pair.
        if (!acc.empty && isEmptySet(acc.singles)) break;
        acc = seq(acc, prefixes(item, flags));
      }
      return acc;
    }
    case "alt": {
      const parts = n.options.map((o) => prefixes(o, flags));
      return {
        products: parts.flatMap((p) => p.products),
        singles: parts.reduce((s, p) => union(s, p.singles), none()),
        empty: parts.some((p) => p.empty),
      };
    }
    case "rep": {
      if (n.max === 0) return nothing();
      const body = prefixes(n.body, flags);
      const optional: Prefixes = { ...body, empty: true };
      // Only the first two repetitions can hold the first two characters.
      const first = n.min >= 1 ? body : optional;
      if (n.max === 1) return first;
      return seq(first, n.min >= 2 ? body : optional);
    }
  }
}

/**
 * A table of CODES x CODES entries, 1 where a match of `pattern` may begin with that pair; undefined
 * when the pattern may match the empty string or uses something the parser does not follow.
 */
export function firstPairs(pattern: string, flags: string): Uint8Array | undefined {
  const node = parsePattern(pattern);
  if (node === undefined) return undefined;
  const p = prefixes(node, flags.replace(/[gy]/g, ""));
  if (p.empty) return undefined;
  const table = new Uint8Array(CODES * CODES);
  for (const { a, b } of p.products)
    for (let i = 0; i < CODES; i++) {
      if (!a[i]) continue;
      for (let j = 0; j < CODES; j++) if (b[j]) table[i * CODES + j] = 1;
    }
  for (let i = 0; i < CODES; i++) if (p.singles[i]) table.fill(1, i * CODES, (i + 1) * CODES);
  return table;
}

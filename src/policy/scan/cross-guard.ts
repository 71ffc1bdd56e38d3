/**
 * Whether a match can hold a cut: the chain runner scans a window around every boundary between two
 * texts of one flow (a system prompt and the user's message, two content parts) for a value split
 * over it, and for short chat texts that window is most of both texts scanned a second time. A match
 * that crosses the cut consumes the character before it and the one after it next to each other,
 * every character it consumes is one its pattern can consume, it begins before the cut with a
 * character its pattern can begin with and ends after it with one it can end with, and it contains
 * one of its pattern's required literals; when no recogniser's pattern passes those tests at a cut,
 * no finding can cross it and the window need not be scanned.
 *
 * Each test is a necessary condition read from the pattern's tree (regex-ast.ts), erring towards
 * "may cross": lookarounds and assertions are read as consuming nothing and constraining nothing; a
 * class counts every character it might match, with every character beyond ASCII as one (OTHER);
 * a pattern the parser does not follow, a standalone one (custom patterns, other flags) and a
 * scanner under a prefix or ignoreCase answer "may cross" everywhere.
 */
import { charsOf, CODES, OTHER } from "./first-pairs.js";
import { parsePattern, type Node } from "./regex-ast.js";
import type { Recogniser } from "./recogniser.js";
import type { Scanner } from "./scanner.js";
import { requiredLiterals } from "./required-literals.js";

type CharSet = Uint8Array;

/** What a recogniser's matches can hold, for the tests above. */
interface Shape {
  /** CODES x CODES: 1 where the two characters may stand next to each other inside a match. */
  pairs: Uint8Array;
  /** Characters a match may consume, begin with, end with. */
  alphabet: CharSet;
  first: CharSet;
  last: CharSet;
  /** Literals one of which every match contains, as one regex (null: none known); made on first need, the analysis of a large pattern being slow. */
  literals: RegExp | null | undefined;
  pattern: string;
  maxLength: number;
}

interface Ends {
  first: CharSet;
  last: CharSet;
  nullable: boolean;
}

const none = (): CharSet => new Uint8Array(CODES);

function or(x: CharSet, y: CharSet): CharSet {
  const out = none();
  for (let i = 0; i < CODES; i++) out[i] = x[i]! | y[i]!;
  return out;
}

/** Marks every pair (a in x, b in y) in `pairs`. */
function addProduct(pairs: Uint8Array, x: CharSet, y: CharSet): void {
  const ys: number[] = [];
  for (let j = 0; j < CODES; j++) if (y[j]) ys.push(j);
  if (ys.length === 0) return;
  for (let i = 0; i < CODES; i++) {
    if (!x[i]) continue;
    for (const j of ys) pairs[i * CODES + j] = 1;
  }
}

/**
 * The characters a node's matches can begin and end with and whether it can match empty; the
 * adjacent pairs inside its matches are marked in `pairs` and the characters it consumes in `alphabet`.
 */
function walk(n: Node, flags: string, pairs: Uint8Array, alphabet: CharSet): Ends {
  switch (n.t) {
    case "atom": {
      const set = charsOf(n.src, flags);
      for (let i = 0; i < CODES; i++) if (set[i]) alphabet[i] = 1;
      // An atom beyond ASCII may be two code units (a surrogate pair): they stand next to each other.
      if (set[OTHER]) pairs[OTHER * CODES + OTHER] = 1;
      return { first: set, last: set, nullable: false };
    }
    case "assert":
    case "look":
      return { first: none(), last: none(), nullable: true };
    case "seq": {
      let acc: Ends = { first: none(), last: none(), nullable: true };
      for (const item of n.items) {
        const e = walk(item, flags, pairs, alphabet);
        addProduct(pairs, acc.last, e.first);
        acc = {
          first: acc.nullable ? or(acc.first, e.first) : acc.first,
          last: e.nullable ? or(acc.last, e.last) : e.last,
          nullable: acc.nullable && e.nullable,
        };
      }
      return acc;
    }
    case "alt": {
      let acc: Ends = { first: none(), last: none(), nullable: false };
      for (const o of n.options) {
        const e = walk(o, flags, pairs, alphabet);
        acc = { first: or(acc.first, e.first), last: or(acc.last, e.last), nullable: acc.nullable || e.nullable };
      }
      return acc;
    }
    case "rep": {
      if (n.max === 0) return { first: none(), last: none(), nullable: true };
      const e = walk(n.body, flags, pairs, alphabet);
      // A second repetition follows the first.
      if (n.max >= 2) addProduct(pairs, e.last, e.first);
      return { first: e.first, last: e.last, nullable: n.min === 0 || e.nullable };
    }
  }
}

/** BOUNDARY in required-literals.ts: a `\b` inside a literal, which consumes nothing. */
const BOUNDARY = "\u0000";

function shapeOf(r: Recogniser): Shape | undefined {
  if (r.standalone) return undefined;
  const node = parsePattern(r.pattern);
  if (node === undefined) return undefined;
  const pairs = new Uint8Array(CODES * CODES);
  const alphabet = none();
  const ends = walk(node, "", pairs, alphabet);
  return { pairs, alphabet, first: ends.first, last: ends.last, literals: undefined, pattern: r.pattern, maxLength: r.maxLength };
}

/** Literals as one regex, factored by common prefixes (`str(?:aße|asse|\\.)`): a flat alternation of dozens runs several times slower. */
function literalRegex(literals: readonly string[]): RegExp {
  interface Trie {
    end: boolean;
    next: Map<string, Trie>;
  }
  const root: Trie = { end: false, next: new Map() };
  for (const l of literals) {
    let n = root;
    for (const c of l) {
      let k = n.next.get(c);
      if (!k) n.next.set(c, (k = { end: false, next: new Map() }));
      n = k;
    }
    n.end = true;
  }
  const escape = (c: string) => c.replace(/[\\^$.*+?()[\]{}|/-]/g, "\\$&");
  // A literal ending here is found wherever a longer one with its start is: the longer add nothing.
  const emit = (n: Trie): string => {
    if (n.end) return "";
    const parts = [...n.next].map(([c, k]) => escape(c) + emit(k));
    return parts.length === 1 ? parts[0]! : `(?:${parts.join("|")})`;
  };
  return new RegExp(emit(root));
}

function literalsOf(s: Shape): RegExp | null {
  if (s.literals === undefined) {
    const l = requiredLiterals(s.pattern)?.map((x) => x.split(BOUNDARY).join(""));
    s.literals = l === undefined || l.length === 0 || l.some((x) => x === "") ? null : literalRegex(l);
  }
  return s.literals;
}

/**
 * Non-exported copies of first-pairs.ts's constants for the per-character walks below: an imported
 * const is read through a cell with an initialisation check on every use, a module's own const is
 * folded by the optimiser (the guard of a system prompt and a user message: 15.0 k -> 12.2 k
 * instructions, issue #20).
 */
const OTHER_CODE = OTHER;
const CODE_COUNT = CODES;

function code(c: number): number {
  return c < OTHER_CODE ? c : OTHER_CODE;
}

/**
 * Whether a match of `s` may consume text[cut - 1] and text[cut], for a shape whose pair, beginning
 * and ending characters allow it (groupMayCross): then, for a pattern with literals, one of them must
 * lie within the run of characters the pattern can consume around the cut, within maxLength of the
 * cut each side. (The literals are plain text: one found in that run is also found in the whole
 * maxLength range around the cut, so a first search of that range, as this did before, could
 * never change the answer; it cost a second regex run wherever the run held no literal.)
 */
function literalsMayCross(s: Shape, text: string, cut: number): boolean {
  const literals = literalsOf(s);
  if (literals === null) return true;
  const { alphabet, maxLength } = s;
  const min = Math.max(0, cut + 1 - maxLength);
  const max = Math.min(text.length, cut - 1 + maxLength);
  let lo = cut;
  while (lo > min && alphabet[code(text.charCodeAt(lo - 1))]) lo--;
  let hi = cut;
  while (hi < max && alphabet[code(text.charCodeAt(hi))]) hi++;
  return literals.test(text.slice(lo, hi));
}

/** Shapes tested together: one bit each in the masks below (bit 31 left alone, so masks stay positive). */
const GROUP = 31;

/**
 * Up to GROUP shapes as bit masks by character, so that one walk over the text each side of a cut
 * tests all of them: the pair, a beginning character in the run before the cut, an ending one after.
 */
interface Group {
  shapes: Shape[];
  pairs: Int32Array;
  alphabet: Int32Array;
  first: Int32Array;
  last: Int32Array;
  /** Shapes whose match may reach d characters before the cut (index d), and e characters after its first (index e). */
  left: Int32Array;
  right: Int32Array;
}

function groupOf(shapes: Shape[]): Group {
  const g: Group = {
    shapes,
    pairs: new Int32Array(CODES * CODES),
    alphabet: new Int32Array(CODES),
    first: new Int32Array(CODES),
    last: new Int32Array(CODES),
    left: new Int32Array(Math.max(...shapes.map((s) => s.maxLength)) + 1),
    right: new Int32Array(Math.max(...shapes.map((s) => s.maxLength)) + 1),
  };
  shapes.forEach((s, i) => {
    const bit = 1 << i;
    for (let k = 0; k < CODES * CODES; k++) if (s.pairs[k]) g.pairs[k]! |= bit;
    for (let c = 0; c < CODES; c++) {
      if (s.alphabet[c]) g.alphabet[c]! |= bit;
      if (s.first[c]) g.first[c]! |= bit;
      if (s.last[c]) g.last[c]! |= bit;
    }
    // A match holding text[cut - 1] and text[cut] begins at most maxLength - 1 before the cut and ends
    // (its last character) at most maxLength - 2 after it.
    for (let d = 0; d <= s.maxLength - 1; d++) g.left[d]! |= bit;
    for (let e = 0; e <= s.maxLength - 2; e++) g.right[e]! |= bit;
  });
  return g;
}

function groupMayCross(g: Group, text: string, cut: number): boolean {
  const live = g.pairs[code(text.charCodeAt(cut - 1)) * CODE_COUNT + code(text.charCodeAt(cut))]!;
  if (live === 0) return false;
  const { alphabet, first, last, left, right } = g;
  // Before the cut: the shapes whose run there holds a character they can begin with.
  let alive = live;
  let begun = 0;
  for (let p = cut - 1, d = 1; p >= 0 && d < left.length; p--, d++) {
    const c = code(text.charCodeAt(p));
    alive &= left[d]! & alphabet[c]!;
    begun |= alive & first[c]!;
    if ((alive & ~begun) === 0) break;
  }
  if (begun === 0) return false;
  // After it: of those, the ones whose run holds a character they can end with.
  alive = begun;
  let ended = 0;
  for (let q = cut, e = 0; q < text.length && e < right.length; q++, e++) {
    const c = code(text.charCodeAt(q));
    alive &= right[e]! & alphabet[c]!;
    ended |= alive & last[c]!;
    if ((alive & ~ended) === 0) break;
  }
  // The few left: their literals, one at a time.
  for (let i = 0; ended !== 0; i++, ended >>>= 1) if (ended & 1 && literalsMayCross(g.shapes[i]!, text, cut)) return true;
  return false;
}

/**
 * For a scanner's recognisers (compiled without a prefix or ignoreCase): a test that is false only
 * when no match of any of them can consume both text[cut - 1] and text[cut] (0 < cut < text.length).
 * The text is what the recognisers read (the normalised view).
 */
export function crossGuard(recognisers: readonly Recogniser[]): (text: string, cut: number) => boolean {
  const shapes = recognisers.map(shapeOf);
  if (shapes.length === 0) return () => false;
  if (shapes.some((s) => s === undefined)) return () => true;
  const groups: Group[] = [];
  for (let k = 0; k < shapes.length; k += GROUP) groups.push(groupOf(shapes.slice(k, k + GROUP) as Shape[]));
  return (text, cut) => {
    for (const g of groups) if (groupMayCross(g, text, cut)) return true;
    return false;
  };
}

const guards = new WeakMap<Scanner, (text: string, cut: number) => boolean>();

/**
 * The cross guard of a scanner compiled without a prefix or ignoreCase (a PII rule's), made once per
 * scanner: compilePiiScanner asks for it when the rule is compiled, so no request pays for the analysis.
 */
export function crossGuardOf(scanner: Scanner): (text: string, cut: number) => boolean {
  let g = guards.get(scanner);
  if (g === undefined) guards.set(scanner, (g = crossGuard(scanner.recognisers)));
  return g;
}

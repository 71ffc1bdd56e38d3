/**
 * Literals a regex cannot match without: `requiredLiterals(p)` is a set of strings such that every
 * match of `p` contains at least one of them. A scanner whose recognisers all have such a set tests
 * the text for their union first (one small alternation of words, about fifteen times faster than the
 * content lexicon's regex) and skips the full scan of a text that contains none — most text, for a
 * lexicon of harmful phrases.
 *
 * The sets are built from the pattern's tree, always erring towards more strings, never fewer:
 *   exact(n)    every string n can match, when that is a small finite set of literals (assertions
 *               and lookarounds count as the empty string: a superset of what they allow);
 *   required(n) for a sequence, the best of its items' sets and of the exact sets of runs of
 *               consecutive items (" kill" is better than "kill" or " "); for an alternation, the
 *               union of its options' sets (every option must have one); for a repetition of at
 *               least one, its body's set.
 * "Best" is the set whose shortest string is longest (short strings hit ordinary text), then the
 * smaller set.
 */
import { parsePattern, type Node } from "./regex-ast.js";

/** Largest exact set followed; beyond it a node is treated as "anything". */
const MAX_EXACT = 256;

/**
 * `\b` inside a literal: kept (it becomes `\b` in the prefilter) because it tells a whole word
 * ("\bgun\b") from a piece of one ("gun" in "begun"), which is what makes a short literal rare.
 */
const BOUNDARY = "\u0000";

type Strings = readonly string[];

function product(a: Strings, b: Strings): Strings | undefined {
  if (a.length * b.length > MAX_EXACT) return undefined;
  const out = new Set<string>();
  for (const x of a) for (const y of b) out.add(x + y);
  return [...out];
}

function union(sets: Strings[]): Strings | undefined {
  const out = new Set<string>();
  for (const s of sets) for (const x of s) out.add(x);
  return out.size > MAX_EXACT ? undefined : [...out];
}

/** The characters a class or escape stands for, when it is a short list of literal characters. */
function atomStrings(src: string): Strings | undefined {
  // A NUL in a pattern would read as the boundary mark: such a pattern gets no literal from it.
  if (src.includes(BOUNDARY)) return undefined;
  // Without the u flag an astral character is two units that quantifiers and classes split.
  if (SURROGATE.test(src)) return undefined;
  if (src.length === 1) return src === "." ? undefined : [src];
  if (src[0] === "\\") return src.length === 2 && !/[0-9A-Za-z]/.test(src[1]!) ? [src[1]!] : undefined;
  if (src[0] !== "[" || src[1] === "^") return undefined;
  const body = src.slice(1, -1);
  // Ranges and escapes are not followed; a '-' first or last is a literal dash.
  if (body.includes("\\") || body.slice(1, -1).includes("-") || body.length === 0 || body.length > 8) return undefined;
  return [...new Set(body)];
}

function exact(n: Node): Strings | undefined {
  switch (n.t) {
    case "atom":
      return atomStrings(n.src);
    case "assert":
      return n.src === "\\b" ? [BOUNDARY] : [""];
    case "look":
      return [""];
    case "seq": {
      let acc: Strings | undefined = [""];
      for (const item of n.items) {
        const e = exact(item);
        acc = e && acc ? product(acc, e) : undefined;
        if (!acc) return undefined;
      }
      return acc;
    }
    case "alt": {
      const parts: Strings[] = [];
      for (const o of n.options) {
        const e = exact(o);
        if (!e) return undefined;
        parts.push(e);
      }
      return union(parts);
    }
    case "rep": {
      if (n.max === Infinity || n.max > 8) return undefined;
      const body = exact(n.body);
      if (!body) return undefined;
      const parts: Strings[] = [];
      let k: Strings | undefined = [""];
      for (let i = 0; i <= n.max; i++) {
        if (i >= n.min) parts.push(k);
        if (i < n.max) {
          k = product(k, body);
          if (!k) return undefined;
        }
      }
      return union(parts);
    }
  }
}

function shortest(s: Strings): number {
  let m = Infinity;
  for (const x of s) m = Math.min(m, x.length);
  return m;
}

/**
 * Words in nearly every English text: a literal made only of these (" of ", "how to") would make
 * the prefilter pass almost always, so it counts as no literal at all.
 */
const COMMON = new Set(
  (
    "a an the of to in for on with at by from up about into over after and or but if so as is are was were be been am do does did " +
    "have has had i you he she it we they me him her us them my your his its our their this that these those what which who how " +
    "where when why can could would should will shall may might must not no all some any each every just like more most one get " +
    "make go see take know want need tell give help show let let's way ways use i'll i'm you're we're don't new also then " +
    "than there here out off down now only very really much many step steps guide best write create plan going gonna wanna " +
    "someone people thing time said say"
  ).split(" "),
);

const WORD = /[A-Za-z0-9_]+/g;

/**
 * How rare a literal is in ordinary text, by its best word: a common word counts nothing; an
 * uncommon one counts its length, one less for each side not known to end the word (a literal cut
 * out of a longer word, " int" of " into", is in many more texts), and one more when both are.
 */
function strength(x: string): number {
  let best = 0;
  for (const m of x.matchAll(WORD)) {
    const w = m[0];
    if (COMMON.has(w.toLowerCase())) continue;
    const openLeft = m.index === 0;
    const openRight = m.index + w.length === x.length;
    const s = w.length + (openLeft || openRight ? 0 : 1) - (openLeft ? 1 : 0) - (openRight ? 1 : 0);
    if (s > best) best = s;
  }
  return best;
}

/** A set is as good as its weakest literal. */
function quality(s: Strings): number {
  let m = Infinity;
  for (const x of s) m = Math.min(m, strength(x));
  return m;
}

/** Whether a is a better required set than b: a stronger weakest literal, then fewer literals. */
function better(a: Strings, b: Strings | undefined): boolean {
  if (!b) return true;
  const qa = quality(a);
  const qb = quality(b);
  return qa > qb || (qa === qb && a.length < b.length);
}

/** What is known of the character next to a literal: not a word character, or nothing known. */
type Side = "non-word" | "unknown";

const NON_WORD_CLASS = /^\[[^\\^\w]*\]$/;
const SURROGATE = /[\uD800-\uDFFF]/;

/** Whether every character `src` (an atom) can match is a non-word character. */
function nonWordAtom(src: string): boolean {
  if (src === ".") return false;
  if (src.length === 1) return !/\w/.test(src);
  if (SURROGATE.test(src)) return false;
  if (src[0] === "\\") return src === "\\s" || (src.length === 2 && !/[0-9A-Za-z]/.test(src[1]!) && !/\w/.test(src[1]!));
  // A range ([ -~]) spans characters it does not spell out: letters, perhaps.
  return NON_WORD_CLASS.test(src) && !src.slice(2, -2).includes("-");
}

/**
 * Edge of `n` in direction `dir` (1: its first character, -1: its last): "non-word" when every path
 * through n either crosses a `\b` first (next to a word character, that means the other side is
 * not one) or consumes a non-word character first; "empty" when some path consumes nothing.
 */
function edge(n: Node, dir: 1 | -1): "non-word" | "empty" | "unknown" {
  switch (n.t) {
    case "atom":
      return nonWordAtom(n.src) ? "non-word" : "unknown";
    case "assert":
      return n.src === "\\b" ? "non-word" : "empty";
    case "look":
      return "empty";
    case "seq":
      return sideOf(n.items, dir === 1 ? 0 : n.items.length - 1, dir) === "non-word" ? "non-word" : seqEmptyOrUnknown(n.items, dir);
    case "alt": {
      let out: "non-word" | "empty" = "non-word";
      for (const o of n.options) {
        const e = edge(o, dir);
        if (e === "unknown") return "unknown";
        if (e === "empty") out = "empty";
      }
      return out;
    }
    case "rep": {
      const e = edge(n.body, dir);
      return e === "unknown" ? "unknown" : n.min === 0 ? "empty" : e;
    }
  }
}

function seqEmptyOrUnknown(items: Node[], dir: 1 | -1): "empty" | "unknown" {
  for (const item of items) if (edge(item, dir) !== "empty") return "unknown";
  return "empty";
}

/** The side of a literal that ends before items[k] (dir 1) or starts after it (dir -1). */
function sideOf(items: Node[], k: number, dir: 1 | -1): Side {
  for (let i = k; i >= 0 && i < items.length; i += dir) {
    const e = edge(items[i]!, dir);
    if (e === "non-word") return "non-word";
    if (e === "unknown") return "unknown";
  }
  return "unknown";
}

/** Marks the word boundaries a literal's neighbours guarantee ("\bsex" before " with" is "\bsex\b"). */
function bounded(run: Strings, before: Side, after: Side): Strings {
  if (before === "unknown" && after === "unknown") return run;
  return run.map((x) => {
    let y = x;
    if (before === "non-word" && /^\w/.test(y)) y = BOUNDARY + y;
    if (after === "non-word" && /\w$/.test(y)) y = y + BOUNDARY;
    return y;
  });
}

function required(n: Node): Strings | undefined {
  let best: Strings | undefined;
  const consider = (s: Strings | undefined) => {
    if (s && s.length > 0 && shortest(s) > 0 && better(s, best)) best = s;
  };
  switch (n.t) {
    case "atom":
      consider(atomStrings(n.src));
      break;
    case "assert":
    case "look":
      break;
    case "seq": {
      const ex = n.items.map(exact);
      for (let i = 0; i < n.items.length; i++) {
        consider(required(n.items[i]!));
        // Runs of consecutive items with exact sets, as long as their product stays small.
        let run: Strings | undefined = ex[i];
        const before = sideOf(n.items, i - 1, -1);
        for (let j = i; run && j < n.items.length; j++) {
          if (j > i) run = ex[j] ? product(run, ex[j]!) : undefined;
          if (run) consider(bounded(run, before, sideOf(n.items, j + 1, 1)));
        }
      }
      break;
    }
    case "alt": {
      consider(exact(n));
      const parts: Strings[] = [];
      for (const o of n.options) {
        const r = required(o);
        if (!r) return best;
        parts.push(r);
      }
      const all = new Set<string>();
      for (const p of parts) for (const x of p) all.add(x);
      consider([...all]);
      break;
    }
    case "rep":
      if (n.min >= 1) consider(required(n.body));
      consider(exact(n));
      break;
  }
  return best;
}

/** A set of literals every match of `pattern` contains one of, or undefined when none is known. */
export function requiredLiterals(pattern: string): string[] | undefined {
  const node = parsePattern(pattern);
  const r = node && required(node);
  return r ? [...r] : undefined;
}

/** Weakest literal worth a prefilter: shorter words are in most texts, and the test would only cost. */
const MIN_STRENGTH = 3;

/** One literal as regex tokens: a character (escaped where needed) or `\\b`. */
function tokens(literal: string, ignoreCase: boolean): string[] {
  const out: string[] = [];
  for (const c of literal) {
    if (c === BOUNDARY) out.push("\\b");
    else {
      // Only ASCII is folded here: the regex's own i flag decides the rest, one spelling at a time.
      const f = ignoreCase && c < "\u0080" ? c.toLowerCase() : c;
      out.push(/[\\^$.*+?()[\]{}|/]/.test(f) ? "\\" + f : f);
    }
  }
  return out;
}

interface Trie {
  end: boolean;
  next: Map<string, Trie>;
}

/**
 * The literals as one regex, factored by common prefixes (`k(?:ill|ys)`): a flat alternation of a
 * few hundred literals with `\b` in them runs slower than the lexicon it is meant to spare.
 */
function trieSource(literals: Iterable<string[]>): string {
  const root: Trie = { end: false, next: new Map() };
  for (const toks of literals) {
    let n = root;
    for (const t of toks) {
      let k = n.next.get(t);
      if (!k) n.next.set(t, (k = { end: false, next: new Map() }));
      n = k;
    }
    n.end = true;
  }
  const emit = (n: Trie): string => {
    // A literal ending here is in every text that has one of its continuations: they add nothing.
    if (n.end) return "";
    const parts = [...n.next].map(([t, k]) => t + emit(k));
    return parts.length === 1 ? parts[0]! : `(?:${parts.join("|")})`;
  };
  return emit(root);
}

/**
 * A regex that finds, in any text where one of `patterns` matches, at least one of their required
 * literals; undefined when some pattern has no good set (then every text must be scanned).
 */
export function prefilterFor(patterns: readonly string[], flags: string): RegExp | undefined {
  // Under u (or v), case folding and \b treat more characters as letters than this analysis does.
  if (/[uv]/.test(flags)) return undefined;
  const all = new Set<string>();
  for (const p of patterns) {
    const r = requiredLiterals(p);
    if (!r || quality(r) < MIN_STRENGTH) return undefined;
    for (const x of r) all.add(x);
  }
  if (all.size === 0) return undefined;
  const ignoreCase = flags.includes("i");
  return new RegExp(trieSource([...all].map((x) => tokens(x, ignoreCase))), flags.replace(/[gy]/g, ""));
}

/** Whether every character `src` (an atom) can match is an ASCII digit: `\\d`, `7`, `[0-9]`, `[2-9\\d]`. */
function digitAtom(src: string): boolean {
  if (src === "\\d") return true;
  if (src.length === 1) return src >= "0" && src <= "9";
  if (src[0] !== "[" || src[1] === "^") return false;
  const body = src.slice(1, -1);
  if (body.length === 0) return false;
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (c === "\\") {
      if (body[i + 1] !== "d") return false;
      i++;
      continue;
    }
    if (c < "0" || c > "9") return false;
    if (body[i + 1] === "-" && i + 2 < body.length) {
      const e = body[i + 2]!;
      if (e < "0" || e > "9") return false;
      i += 2;
    }
  }
  return true;
}

/** Whether every string `n` matches holds an ASCII digit (erring towards false). */
function needsDigit(n: Node): boolean {
  switch (n.t) {
    case "atom":
      return digitAtom(n.src);
    case "assert":
    case "look":
      return false;
    case "seq":
      return n.items.some(needsDigit);
    case "alt":
      return n.options.every(needsDigit);
    case "rep":
      return n.min >= 1 && needsDigit(n.body);
  }
}

/**
 * Whether every match of `pattern` contains an ASCII digit (0-9), under any flags: `\\d` is
 * [0-9] with or without u and i, and no letter folds to a digit. False when unsure (a pattern
 * outside the parsed subset, a digit written as an escape such as \\x30).
 */
export function requiresDigit(pattern: string): boolean {
  const node = parsePattern(pattern);
  return node !== undefined && needsDigit(node);
}

import { parsePattern, type Node } from "./regex-ast.js";

/**
 * The first word a match of a pattern can begin with, for patterns that start a match at a word:
 * `firstWords("\\b(?:how to|i (?:want|need) to) kill")` is {how, i}. A "word" is a maximal run of
 * regex word characters (ASCII letters, digits, `_`), so the text's word at a position is found by
 * scanning to the first non-word character. The scanner keeps a table from each such word to the
 * patterns that may begin with it, and at each word of the text tries only those: a common word
 * ("the", "in") that begins no phrase costs a table look-up instead of a regex attempt.
 *
 * The words are exact where they can be and over-approximate elsewhere, never under: assertions
 * other than a word boundary, and lookarounds, constrain nothing here. A pattern gets no table
 * (undefined) when some match of it may begin with a non-word character, or when its first word
 * may run on past the end of the match (no boundary after it), since then the text's word at a
 * match need not be one of the listed words; also when the first words are too many to list.
 *
 * `whole` is set when the pattern's matches are exactly these words and nothing else (a single
 * word, `kill(?:s|ed|ing)?\b`): at a text word found in the set, such a pattern matches, ending
 * where the word ends, with no regex run.
 */
export interface FirstWords {
  /** Lower-cased under the `i` flag. */
  words: Set<string>;
  whole: boolean;
}

/** Most first words listed for one pattern; beyond it the pattern gets no table. */
const MAX_WORDS = 2048;
/** Most characters of one atom's word characters followed (`[a-z]` is 26, `\w` is 63 and is not). */
const MAX_ATOM = 36;

class TooMany extends Error {}

function isWordCode(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
}

/** Non-ASCII characters that a class may match (one is enough to call it non-word). */
const wide = "\u00a0\u00e9\u0130\u0131\u017f\u212a\u2019\u2013\u3000\ufeff\u4e2d\ud83d";

/** An atom's word characters (lower-cased under `i`) and whether it may match a non-word character. */
const atomCache = new Map<string, { word: string[]; other: boolean } | "too many">();

function atomChars(src: string, ci: boolean): { word: string[]; other: boolean } {
  const key = (ci ? "i" : "-") + src;
  let x = atomCache.get(key);
  if (x === undefined) atomCache.set(key, (x = readAtom(src, ci)));
  if (x === "too many") throw new TooMany();
  return x;
}

function readAtom(src: string, ci: boolean): { word: string[]; other: boolean } | "too many" {
  const re = new RegExp(`^(?:${src})$`, ci ? "i" : "");
  const word = new Set<string>();
  let other = false;
  for (let c = 0; c < 128; c++) {
    const ch = String.fromCharCode(c);
    if (!re.test(ch)) continue;
    if (isWordCode(c)) word.add(ci ? ch.toLowerCase() : ch);
    else other = true;
  }
  // Negated classes, `.`, \W \S \D \s \p and anything non-ASCII may match beyond ASCII: a non-word character.
  if (/\^|^\.$|\\[WSDsPpux]/.test(src) || /[^\x00-\x7f]/.test(src) || [...wide].some((ch) => re.test(ch))) other = true;
  if (word.size > MAX_ATOM) return "too many";
  return { word: [...word], other };
}

/** A partial first word: its characters so far, and whether the word has ended. */
type State = string;
/** Ended states carry this mark at the end (a word character never equals it). */
const END = "\u0000";

function add(out: Set<State>, s: State): void {
  out.add(s);
  if (out.size > MAX_WORDS) throw new TooMany();
}

function walk(n: Node, states: Set<State>, ci: boolean): Set<State> {
  if ([...states].every((s) => s.endsWith(END))) return states;
  switch (n.t) {
    case "atom": {
      const { word, other } = atomChars(n.src, ci);
      const out = new Set<State>();
      for (const s of states) {
        if (s.endsWith(END)) add(out, s);
        else {
          for (const ch of word) add(out, s + ch);
          if (other) add(out, s + END);
        }
      }
      return out;
    }
    case "assert": {
      // A boundary (or the end) after a word character ends the word; at the start it is the
      // scanner's own leading \b. Anything else constrains nothing here.
      if (n.src !== "\\b" && n.src !== "$") return states;
      const out = new Set<State>();
      for (const s of states) add(out, s !== "" && !s.endsWith(END) ? s + END : s);
      return out;
    }
    case "look":
      return states;
    case "seq": {
      let acc = states;
      for (const item of n.items) acc = walk(item, acc, ci);
      return acc;
    }
    case "alt": {
      const out = new Set<State>();
      for (const o of n.options) for (const s of walk(o, states, ci)) add(out, s);
      return out;
    }
    case "rep": {
      let acc = states;
      for (let k = 0; k < n.min; k++) acc = walk(n.body, acc, ci);
      const out = new Set<State>(acc);
      for (let k = n.min; k < n.max; k++) {
        const next = walk(n.body, acc, ci);
        const before = out.size;
        for (const s of next) add(out, s);
        // Nothing new: more repetitions add nothing either.
        if (out.size === before) break;
        acc = next;
      }
      return out;
    }
  }
}

/** Every string `n` matches, when that is a finite set of words with no assertion or lookaround inside; else undefined. */
function exactWords(n: Node, ci: boolean): Set<string> | undefined {
  switch (n.t) {
    case "atom": {
      const { word, other } = atomChars(n.src, ci);
      return other ? undefined : new Set(word);
    }
    case "assert":
    case "look":
      return undefined;
    case "seq": {
      let acc = new Set([""]);
      for (const item of n.items) {
        const x = exactWords(item, ci);
        if (x === undefined) return undefined;
        const next = new Set<string>();
        for (const a of acc) for (const b of x) add(next, a + b);
        acc = next;
      }
      return acc;
    }
    case "alt": {
      const out = new Set<string>();
      for (const o of n.options) {
        const x = exactWords(o, ci);
        if (x === undefined) return undefined;
        for (const s of x) add(out, s);
      }
      return out;
    }
    case "rep": {
      if (n.max === Infinity) return undefined;
      const body = exactWords(n.body, ci);
      if (body === undefined) return undefined;
      let acc = new Set([""]);
      const out = new Set<string>();
      for (let k = 0; k <= n.max; k++) {
        if (k >= n.min) for (const s of acc) add(out, s);
        if (k === n.max) break;
        const next = new Set<string>();
        for (const a of acc) for (const b of body) add(next, a + b);
        acc = next;
      }
      return out;
    }
  }
}

const isBoundary = (n: Node) => n.t === "assert" && n.src === "\\b";

/** Items of a top-level sequence without leading and trailing `\b`. */
function core(n: Node): Node {
  if (n.t !== "seq") return n;
  let items = n.items;
  while (items.length > 0 && items[0]!.t === "assert" && (items[0] as { src: string }).src === "\\b") items = items.slice(1);
  while (items.length > 0 && items.at(-1)!.t === "assert" && (items.at(-1) as { src: string }).src === "\\b") items = items.slice(0, -1);
  return items.length === 1 ? items[0]! : { t: "seq", items };
}

/**
 * The first words of `pattern` (which must begin with `\b` for the table to be of use: a match
 * then starts where a word starts), or undefined when they cannot be listed.
 */
export function firstWords(pattern: string, flags: string): FirstWords | undefined {
  const node = parsePattern(pattern);
  if (node === undefined) return undefined;
  const ci = flags.includes("i");
  try {
    const states = walk(node, new Set([""]), ci);
    const words = new Set<string>();
    for (const s of states) {
      // The first word may continue past the match, or a match may begin with a non-word character.
      if (!s.endsWith(END) || s === END) return undefined;
      words.add(s.slice(0, -1));
    }
    if (words.size === 0) return undefined;
    // Matches of the pattern between its boundaries are exactly single words: those are the words.
    let whole = false;
    if (node.t === "seq" && isBoundary(node.items[0]!) && isBoundary(node.items.at(-1)!)) {
      const exact = exactWords(core(node), ci);
      whole = exact !== undefined && exact.size === words.size && [...exact].every((w) => words.has(w));
    }
    return { words, whole };
  } catch (e) {
    if (e instanceof TooMany) return undefined;
    throw e;
  }
}

/** Marks a state whose words go on unconstrained (a class of too many word characters, `[\w'-]`). */
const ANY = "\u0001";

/**
 * The first `depth` words of a pattern's matches, as prefixes: every match's first words begin
 * with one of the returned word lists (a shorter list leaves the words after it free: the match
 * may end there, or what follows is not listed). Beyond the first word this narrows which of the
 * phrases beginning with a word the text can still complete: after "kill", only a few of the
 * patterns' second words ("myself", "all", "him", ...) are worth a regex attempt. Undefined when
 * the prefixes cannot be listed (then the pattern is tried at every one of its first words).
 */
export function wordPrefixes(pattern: string, flags: string, depth: number, most = MAX_WORDS): string[][] | undefined {
  const node = parsePattern(pattern);
  if (node === undefined) return undefined;
  const ci = flags.includes("i");
  // States in progress carry the words so far (END after each) and the word being read; a state
  // with `depth` words, or one that met a class of too many characters (ANY), is decided and
  // leaves the walk for `decided`, so the rest of the pattern is walked only by the others.
  const decided = new Set<State>();
  const count = (s: State) => {
    let n = 0;
    for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) === 0) n++;
    return n;
  };
  function grow(out: Set<State>, s: State): void {
    out.add(s);
    if (out.size > most) throw new TooMany();
  }
  function keep(out: Set<State>, s: State, ended: boolean): void {
    if (s.endsWith(ANY) || (ended && count(s) >= depth)) {
      decided.add(s);
      if (decided.size > most) throw new TooMany();
    } else {
      out.add(s);
      if (out.size > most) throw new TooMany();
    }
  }

  function step(n: Node, states: Set<State>): Set<State> {
    if (states.size === 0) return states;
    switch (n.t) {
      case "atom": {
        let chars: { word: string[]; other: boolean } | undefined;
        try {
          chars = atomChars(n.src, ci);
        } catch (e) {
          if (!(e instanceof TooMany)) throw e;
        }
        const out = new Set<State>();
        for (const s of states) {
          if (chars === undefined) keep(out, s + ANY, false);
          else {
            const inWord = s !== "" && !s.endsWith(END);
            for (const ch of chars.word) grow(out, s + ch);
            // A non-word character ends the word in progress; between words it is separation.
            if (chars.other) {
              if (inWord) keep(out, s + END, true);
              else grow(out, s);
            }
          }
        }
        return out;
      }
      case "assert": {
        if (n.src !== "\\b" && n.src !== "$") return states;
        const out = new Set<State>();
        for (const s of states) {
          if (s !== "" && !s.endsWith(END)) keep(out, s + END, true);
          else grow(out, s);
        }
        return out;
      }
      case "look":
        return states;
      case "seq": {
        let acc = states;
        for (const item of n.items) acc = step(item, acc);
        return acc;
      }
      case "alt": {
        const out = new Set<State>();
        for (const o of n.options) for (const s of step(o, states)) grow(out, s);
        return out;
      }
      case "rep": {
        let acc = states;
        for (let k = 0; k < n.min; k++) acc = step(n.body, acc);
        const out = new Set<State>(acc);
        for (let k = n.min; k < n.max; k++) {
          const next = step(n.body, acc);
          const before = out.size;
          for (const s of next) grow(out, s);
          if (out.size === before) break;
          acc = next;
        }
        return out;
      }
    }
  }

  try {
    const out: string[][] = [];
    const seen = new Set<string>();
    for (const s of [...step(node, new Set([""])), ...decided]) {
      // Complete words only: a word cut off by ANY, or by the end of the pattern, says nothing.
      const words = s.split(END).slice(0, count(s));
      if (words.length === 0) return undefined;
      const key = words.join(" ");
      if (!seen.has(key)) {
        seen.add(key);
        out.push(words);
      }
    }
    return out;
  } catch (e) {
    if (e instanceof TooMany) return undefined;
    throw e;
  }
}

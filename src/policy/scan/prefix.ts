/**
 * "Could a match still be in progress here?" — derived from a recogniser's own regex.
 *
 * The outcome of running a regex at position p of a text that may still grow can change only if some
 * path of the regex from p reads past the end of the text: an atom wanting one more character, a
 * greedy quantifier looking for another repetition, a `\b`, `$` or lookahead evaluated at the end.
 * Every other path reads only characters that are already there and decides the same way in any
 * extension. `tailSource(pattern)` builds the regex P(pattern) that matches at p exactly when such a
 * path exists (with every path ending in `$`), so the stream guard can hold back the text a match
 * could still reach into — a word or two of prose — instead of a fixed worst-case window.
 *
 * The construction, for the nodes a pattern is made of:
 *   P(atom)          = $                      (it wants a character that is not there yet)
 *   P(a b … z)       = P(a) | a P(b … z)
 *   P(a | b)         = P(a) | P(b)
 *   P(a{m,n})        = (?:a){0,n-1} P(a)      (k < n whole copies, then one cut off by the end)
 *   P(\b), P(\B), P($) = $
 *   P((?=a)), P((?!a)) = (?=P(a))           (and the sequence goes on after the lookahead as written)
 *   P(^), P(lookbehind) = nothing            (they only read text before the position)
 * It over-approximates what the engine actually reads (it ignores that alternation stops at the first
 * success), which is the safe direction: it may hold a little more, never less. Patterns using
 * constructs outside this list (backreferences, modifiers) get no tail regex; the scanner then falls
 * back to holding the recogniser's maxLength.
 */

import { parsePattern, type Node } from "./regex-ast.js";

/** The node's own regex source (capturing groups become non-capturing). */
function emit(n: Node): string {
  switch (n.t) {
    case "atom":
    case "assert":
      return n.src;
    case "seq":
      return n.items.map(emitGrouped).join("");
    case "alt":
      return `(?:${n.options.map(emit).join("|")})`;
    case "rep":
      return `${emitGrouped(n.body)}${quant(n.min, n.max)}${n.lazy ? "?" : ""}`;
    case "look":
      return `(?${n.behind ? "<" : ""}${n.neg ? "!" : "="}${emit(n.body)})`;
  }
}

function emitGrouped(n: Node): string {
  return n.t === "seq" ? `(?:${emit(n)})` : emit(n);
}

function quant(min: number, max: number): string {
  if (max === Infinity) return min === 0 ? "*" : min === 1 ? "+" : `{${min},}`;
  return min === max ? `{${min}}` : `{${min},${max}}`;
}

/** Whether some path of n consumes at least one character. */
function canConsume(n: Node): boolean {
  switch (n.t) {
    case "atom":
      return true;
    case "assert":
    case "look":
      return false;
    case "seq":
      return n.items.some(canConsume);
    case "alt":
      return n.options.some(canConsume);
    case "rep":
      return n.max > 0 && canConsume(n.body);
  }
}

/**
 * P(n) as described above; undefined when no path of n can read past the end. A path that reads past
 * the end without consuming anything only does so at the very end of the text, which the stream guard
 * never releases anyway; so while nothing is known to be consumed (`consumed` false) those bare `$`
 * branches are left out. That keeps every top-level branch starting with a real character, which
 * is what lets the engine reject a position on its first character.
 */
function tail(n: Node, eof: string, consumed: boolean): string | undefined {
  switch (n.t) {
    case "atom":
      return consumed ? eof : undefined;
    case "assert":
      return n.src === "^" || !consumed ? undefined : "$";
    case "seq":
      return tailSeq(n.items, 0, eof, consumed);
    case "alt":
      return tailAlt(n.options, eof, consumed);
    case "rep": {
      if (n.max === 0) return undefined;
      // Zero whole copies keeps `consumed`; with one or more it is true. Taking true for both only
      // adds `$` branches reachable without consuming, i.e. at the end of the text: harmless.
      const inner = tail(n.body, eof, consumed || (n.max > 1 && canConsume(n.body)));
      if (inner === undefined) return undefined;
      return n.max === 1 ? inner : `${emitGrouped(n.body)}${quant(0, n.max - 1)}${group(inner)}`;
    }
    case "look": {
      if (n.behind) return undefined;
      const inner = tail(n.body, eof, consumed);
      return inner === undefined ? undefined : `(?=${inner})`;
    }
  }
}

function group(src: string): string {
  return src.startsWith("(?:") && src.endsWith(")") && balancedGroup(src) ? src : `(?:${src})`;
}

/** Whether `src` is one `(?:…)` group from its first character to its last. */
function balancedGroup(src: string): boolean {
  let depth = 0;
  for (let i = 0; i < src.length; i++) {
    const c = src[i];
    if (c === "\\") i++;
    else if (c === "[") {
      for (i++; i < src.length && src[i] !== "]"; i++) if (src[i] === "\\") i++;
    } else if (c === "(") depth++;
    else if (c === ")" && --depth === 0 && i !== src.length - 1) return false;
  }
  return depth === 0;
}

function tailSeq(items: Node[], k: number, eof: string, consumed: boolean): string | undefined {
  if (k >= items.length) return undefined;
  const item = items[k]!;
  const head = tail(item, eof, consumed);
  // After the item: if it may consume, treat the rest as consumed (see rep above for why that is safe).
  const rest = tailSeq(items, k + 1, eof, consumed || canConsume(item));
  const on = rest === undefined ? undefined : emitGrouped(item) + rest;
  if (head === undefined) return on;
  if (on === undefined) return head;
  return `(?:${head}|${on})`;
}

function flattenAlt(options: Node[]): Node[] {
  return options.flatMap((o) => (o.t === "alt" ? flattenAlt(o.options) : [o]));
}

/**
 * An alternation, left-factored: options that begin with the same node (by source) share it, so the
 * combined tail of hundreds of phrases is a trie — `how to …`, `how do i …` and every phrase opening
 * with INTENT are tried once up to where they differ. Same language, so the same tail.
 */
function tailAlt(options: Node[], eof: string, consumed: boolean): string | undefined {
  // Map iteration follows insertion order, so buckets keep the order of their first option.
  const buckets = new Map<string, { head: Node; rests: Node[][] }>();
  for (const o of flattenAlt(options)) {
    const items = o.t === "seq" ? o.items : [o];
    if (items.length === 0) continue;
    const key = emitGrouped(items[0]!);
    const b = buckets.get(key);
    if (b) b.rests.push(items.slice(1));
    else buckets.set(key, { head: items[0]!, rests: [items.slice(1)] });
  }
  const parts: string[] = [];
  for (const { head, rests } of buckets.values()) {
    let src: string | undefined;
    if (rests.length === 1) src = tailSeq([head, ...rests[0]!], 0, eof, consumed);
    else {
      const own = tail(head, eof, consumed);
      const after = tailAlt(
        rests.map((items): Node => ({ t: "seq", items })),
        eof,
        consumed || canConsume(head),
      );
      const on = after === undefined ? undefined : emitGrouped(head) + group(after);
      src = own === undefined ? on : on === undefined ? own : `(?:${own}|${on})`;
    }
    if (src !== undefined) parts.push(src);
  }
  return parts.length === 0 ? undefined : parts.length === 1 ? parts[0] : `(?:${parts.join("|")})`;
}

/** The character an atom stands for when it is one literal character (`a`, `-`, `\\.`), else undefined. */
function literalChar(src: string): string | undefined {
  if (src.length === 1) return src === "." ? undefined : src;
  if (src.length === 2 && src[0] === "\\" && !/[A-Za-z0-9]/.test(src[1]!)) return src[1];
  return undefined;
}

/**
 * The literals a match of n opens with, one per way in: the literal characters its sequence begins
 * with, read past what consumes nothing (look-behinds, `\b`, `^`), up to the first other node;
 * undefined when some way in opens with no literal character.
 */
function leadsOf(n: Node): string[] | undefined {
  if (n.t === "alt") {
    const out: string[] = [];
    for (const o of n.options) {
      const l = leadsOf(o);
      if (l === undefined) return undefined;
      for (const x of l) if (!out.includes(x)) out.push(x);
    }
    return out;
  }
  const items = n.t === "seq" ? n.items : [n];
  let lit = "";
  for (const item of items) {
    if ((item.t === "look" && item.behind) || (item.t === "assert" && item.src !== "$")) continue;
    const c = item.t === "atom" ? literalChar(item.src) : undefined;
    if (c === undefined) {
      // A group of alternatives first: its options' own openings.
      if (lit === "" && item.t === "alt") return leadsOf(item);
      break;
    }
    lit += c;
  }
  return lit === "" ? undefined : [lit];
}

/**
 * Literals such that tailSource(pattern) (without ignoreCase) matches at p only where one of them
 * starts at p, or where the text from p to its end is the beginning of one: its top-level branches
 * start with the pattern's own first characters (tail() leaves out the bare `$` branches while
 * nothing is consumed), and a branch that meets the end inside the literal is that literal cut off.
 * Undefined when some way into the pattern opens with no literal character. The stream guard finds
 * these with indexOf (memchr) before it runs the tail regex on a large piece of text: a regex
 * whose patterns open with `e` or `b` tries every such letter of prose.
 */
export function tailLeads(pattern: string): string[] | undefined {
  const node = parsePattern(pattern);
  return node === undefined ? undefined : leadsOf(node);
}

/** Whether tailSource can follow `pattern` (parsing only; nothing is compiled). */
export function tailSupported(pattern: string): boolean {
  return parsePattern(pattern) !== undefined;
}

/**
 * Source of a regex matching at p when a match of `pattern` at p could still change as text is
 * appended (see above), or undefined when the pattern uses something this cannot follow. With the `u`
 * flag a trailing lone high surrogate counts as the end too: its pair may be in the next piece.
 */
export function tailSource(pattern: string, flags = ""): string | undefined {
  const node = parsePattern(pattern);
  if (!node) return undefined;
  const eof = flags.includes("u") || flags.includes("v") ? "(?:$|[\\uD800-\\uDBFF]$)" : "$";
  const src = tail(node, eof, false);
  if (src === undefined) return "(?!)";
  // Guard against the source not meaning what the parser thought: it must compile with the flags.
  try {
    new RegExp(src, flags);
    new RegExp(emit(node), flags);
  } catch {
    return undefined;
  }
  return src;
}

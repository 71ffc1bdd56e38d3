import { RE2JS } from "re2js";

/**
 * What a custom pattern may cost. RE2 is linear in the text, but its constant is the number of
 * threads (match attempts in progress) it follows at each character, and a pattern sets how many
 * can be alive at once: `[a-z]{100}` keeps a hundred going through a run of letters, ~3.5 µs per
 * character in re2js, `{1000}` ~27 (the built-in recognisers together cost ~12 ns per byte). The
 * round-14 outside battery held both pool workers for ~100 s with four 1 MiB bodies against
 * `[a-z]{1000}`; round 15's review passed the bound with `(?:[a-z]{10}){100}` (~26 µs per
 * character) and forty `[a-z]{100}` in a row (~76-110 µs), hence the thread count below.
 */

/** The largest bound one counted repetition may have (`{n}`, `{n,}`, `{n,m}`). */
export const MAX_REPEAT = 100;

/**
 * The most threads a pattern may keep alive at one character. A thread that survives a character
 * sits on an instruction that accepts it, so the count of the program's character instructions
 * that accept one character bounds the work per character of any text. Nested and chained
 * repetitions multiply and add up here as they do in the program: `(?:[a-z]{10}){100}` and
 * `[a-z]{100}` written ten times both keep 1,000 (~25 µs per character), while a list of
 * alternative words keeps only as many as share a letter. 128 lets `[a-z]{100}` be followed by more.
 */
export const MAX_THREADS = 128;

/** RE2's instructions that read a character (re2js's Inst.RUNE … RUNE_ANY_NOT_NL). */
const RUNE = 8;
const RUNE1 = 9;
const RUNE_ANY = 10;
const RUNE_ANY_NOT_NL = 11;

type Inst = { op: number; runes: Int32Array; matchRune(r: number): boolean };

/** Why RE2 cannot run `pattern`, or why it would cost too much per character; undefined when it may run. */
export function customRegexProblem(pattern: string): { syntax: string } | { cost: string } | undefined {
  let re: RE2JS;
  try {
    re = RE2JS.compile(pattern);
  } catch (err) {
    return { syntax: (err as Error).message.replace(/^error parsing regexp: /, "") };
  }
  const bound = largestRepeat(pattern);
  if (bound > MAX_REPEAT)
    return {
      cost: `has a counted repetition of ${bound}, over the ${MAX_REPEAT} a custom pattern may count to: the engine follows that many threads at every character, so one text could cost microseconds per character; use + or *, or a bound of at most ${MAX_REPEAT}`,
    };
  const threads = threadsAtOneCharacter(re);
  if (threads > MAX_THREADS)
    return {
      cost: `can keep ${threads} matches in progress at one character (counted repetitions nested or one after another add up), over the ${MAX_THREADS} a custom pattern may: the engine follows each at every character, so one text could cost tens of microseconds per character; use + or * or smaller bounds`,
    };
  return undefined;
}

/**
 * The most character instructions of `re`'s program that accept one same character: the count is
 * constant between the ends of the instructions' ranges, so those ends (and, for single characters
 * matched case-insensitively, their other cases) are the only characters to try. Reads re2js's
 * compiled program (pinned in package-lock; test/hostile/custom-regex.test.ts checks the counts).
 */
export function threadsAtOneCharacter(re: RE2JS): number {
  const prog = (re as unknown as { re2Input?: { prog?: { inst?: Inst[] } } }).re2Input?.prog;
  // Should a later re2js hide its program, its size is the safe over-estimate.
  if (!Array.isArray(prog?.inst)) return re.programSize();
  const reads = prog.inst.filter((i) => i.op >= RUNE && i.op <= RUNE_ANY_NOT_NL);
  const tries = new Set<number>([0x0a, 0x20, 0x30, 0x41, 0x61]);
  for (const i of reads) {
    const r = i.runes;
    if (r.length === 1) {
      const c = String.fromCodePoint(r[0]!);
      tries.add(r[0]!).add(c.toLowerCase().codePointAt(0)!).add(c.toUpperCase().codePointAt(0)!);
    } else
      for (let j = 0; j + 1 < r.length; j += 2) {
        tries.add(r[j]!);
        if (r[j + 1]! < 0x10ffff) tries.add(r[j + 1]! + 1);
      }
  }
  let most = 0;
  for (const c of tries) {
    let n = 0;
    for (const i of reads) if (i.op === RUNE_ANY || (i.op === RUNE_ANY_NOT_NL && c !== 0x0a) || ((i.op === RUNE || i.op === RUNE1) && i.matchRune(c))) n++;
    if (n > most) most = n;
  }
  return most;
}

/**
 * The largest number in a `{n}`, `{n,}` or `{n,m}` repetition of `pattern`: escapes, `\Q…\E`
 * literal text and classes skipped (a `{` there is a character, not a repetition).
 */
function largestRepeat(pattern: string): number {
  let largest = 0;
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === "\\") {
      if (pattern[i + 1] === "Q") {
        const end = pattern.indexOf("\\E", i + 2);
        i = end === -1 ? pattern.length : end + 1;
      } else i++;
    } else if (inClass) inClass = c !== "]";
    else if (c === "[") {
      inClass = true;
      // A ']' first in a class (or after '^') is a literal.
      if (pattern[i + 1] === "^") i++;
      if (pattern[i + 1] === "]") i++;
    } else if (c === "{") {
      const m = /^\{(\d+)(?:,(\d*))?\}/.exec(pattern.slice(i, i + 24));
      if (m) largest = Math.max(largest, Number(m[1]), m[2] ? Number(m[2]) : 0);
    }
  }
  return largest;
}

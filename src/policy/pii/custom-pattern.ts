import { RE2JS } from "re2js";
import { tailSource, type Recogniser } from "../scan/index.js";

/**
 * How much text the incremental stream guard holds back for a custom pattern. A user regex has no
 * provable length bound; matches longer than this are still found by whole-text checks but may be
 * split by the incremental guard.
 */
export const CUSTOM_PATTERN_HOLD = 1024;

/**
 * A custom `regex` pattern, run on RE2 (re2js: a pure-JS port, linear in the text for every
 * pattern) instead of V8's backtracking engine, on which `(a+)+$` doubles its time with each
 * character. The scanner sees a recogniser whose own regex is trivial (`[\s\S]{1,N}?`, one
 * character at a candidate; its stream-guard tail holds the last CUSTOM_PATTERN_HOLD characters):
 * `seek` finds the leftmost RE2 match and `validate` says where the match at a position ends.
 * Config validation has already refused patterns RE2 cannot run (lookaround, backreferences).
 */
export function customRecogniser(name: string, regex: string): Recogniser {
  const re = RE2JS.compile(regex);
  const tail = tailOf(regex);
  // The last search: in `text`, the leftmost match at or after `from` is [start, end) (start -1: none).
  // The scanner asks validate() about the candidate seek() just gave, or positions before it, so
  // most questions are answered from here without searching again.
  let last: { text: string; from: number; start: number; end: number } | undefined;
  const search = (text: string, from: number) => {
    const m = re.matcher(text);
    last = m.find(from) ? { text, from, start: m.start(), end: m.end() } : { text, from, start: -1, end: -1 };
    return last;
  };
  const known = (text: string, p: number) => last !== undefined && last.text.length === text.length && p >= last.from && last.text === text;
  return {
    type: name,
    pattern: `[\\s\\S]{1,${CUSTOM_PATTERN_HOLD}}?`,
    flags: "u",
    standalone: true,
    maxLength: CUSTOM_PATTERN_HOLD,
    lookbehind: 64,
    ...(tail === undefined ? {} : { tail }),
    seek(text, from) {
      const l = known(text, from) && (last!.start === -1 || last!.start >= from) ? last! : search(text, from);
      return l.start;
    },
    validate(text, start) {
      let l = known(text, start) ? last! : search(text, start);
      // No match begins in [from, l.start): a position in there has none.
      if (l.start === -1 || start < l.start) return -1;
      if (start > l.start) l = search(text, start);
      return l.start === start && l.end > start ? l.end : -1;
    },
  };
}

/**
 * The pattern's own hold-back (prefix.ts builds the regex of positions where a match could still
 * grow), run on RE2 too. Undefined when it cannot be built or RE2 cannot run it: the trivial
 * pattern's tail then holds the last CUSTOM_PATTERN_HOLD characters.
 */
function tailOf(regex: string): ((text: string, from: number) => number) | undefined {
  // prefix.ts also takes a surrogate pair cut off at the end for the end ([\uD800-\uDBFF]$), which
  // RE2 cannot say; the text is searched without its trailing lone high surrogate instead.
  const src = tailSource(regex, "u")?.replaceAll("(?:$|[\\uD800-\\uDBFF]$)", "$");
  if (src === undefined || src.includes("\\uD8")) return undefined;
  let re: RE2JS;
  try {
    re = RE2JS.compile(src);
  } catch {
    return undefined;
  }
  return (text, from) => {
    const last = text.charCodeAt(text.length - 1);
    const t = last >= 0xd800 && last <= 0xdbff ? text.slice(0, -1) : text;
    if (from > t.length) return t.length;
    const m = re.matcher(t);
    return m.find(from) ? m.start() : -1;
  };
}

/**
 * What a shared seek function can tell about each candidate it reports: a small number (below
 * `kinds`) read from the characters there once, so that of the recognisers sharing the seek only
 * those that can start at such a candidate are tried (see Recogniser.kinds).
 */
export interface CandidateKinds {
  readonly kinds: number;
  kindAt(text: string, at: number): number;
}

/**
 * One thing the scanner can find. Recognisers are plain data plus an optional validator so that a
 * rule's whole set can be folded into one combined regular expression, compiled once.
 */
export interface Recogniser {
  /** Finding type reported for a match: `email`, `credit_card`, a custom pattern's name, a content category. */
  readonly type: string;
  /**
   * Regex source. Built-in patterns use non-capturing groups only, so they can be joined into one
   * alternation; anything else (custom patterns) must set `standalone`.
   */
  readonly pattern: string;
  /**
   * Upper bound on the length of any regex match (not just valid ones). The incremental stream guard
   * never looks further back than this for a match in progress (what it holds is decided by the
   * pattern itself, see prefix.ts), so it must be a true bound: patterns use bounded quantifiers.
   */
  readonly maxLength: number;
  /**
   * A literal every match contains, starting within `within` characters of the match start
   * (`within: 1` means the match begins with it). Only used by the stream guard when the pattern is
   * one its tail construction cannot follow: text that cannot start a match is then released long
   * before `maxLength` characters have arrived (a PEM block, `@` in an email).
   */
  readonly anchor?: { readonly literal: string; readonly within: number };
  /** How many characters before a match the pattern's lookbehind or the validator inspects. */
  readonly lookbehind?: number;
  /**
   * Checks a regex match (checksums, ranges, context). Returns the accepted end offset — which may be
   * shorter than `end` when the regex over-reached — or -1 to reject.
   */
  readonly validate?: (text: string, start: number, end: number) => number;
  /**
   * A cheap necessary condition for a valid match at `start`: false only where the pattern does not
   * match there, or `validate` rejects what it matches. The scanner asks it before running the
   * pattern, so a dense near-miss (`GB00 ` every five characters, random digits) costs a few
   * character reads per recogniser instead of a regex run and a validator. True when unsure.
   */
  readonly possible?: (text: string, start: number) => boolean;
  /**
   * With `seek`: the candidate kinds (`of`, the seek's) at which this recogniser can match; at other
   * kinds it is not tried. Used when every recogniser of the seek names the same `of`. `admits`
   * is asked once per kind, when the scanner is compiled.
   */
  readonly kinds?: { readonly of: CandidateKinds; readonly admits: (kind: number) => boolean };
  /**
   * Finds the leftmost position at or after `from` where a match could start (-1 for none), in place
   * of regex scanning. For recognisers whose regex would be slow to run at every position but which
   * hinge on a rare character (`@`, `:`). It may report positions that fail, never skip one that matches.
   * `scan` is one object per scanner pass (undefined for a lone call): a seek may keep what it has
   * found for it, as the pass asks about ever later positions of the same text. (Keying such state
   * on the text would compare a new copy of the same text, a worker's, character by character.)
   * `limit`: passed only to a `bounded` seek, see there.
   */
  readonly seek?: (text: string, from: number, scan?: object, limit?: number) => number;
  /**
   * The seek honours `limit`, a position the scanner decides anyway (another source's candidate):
   * it decides its candidates up to `limit` as usual but may return the first one past `limit`
   * undecided; the scanner seeks again from there once that position is the next to decide. A seek
   * that decides each candidate (names, places) then pays nothing for the capitals inside a finding
   * another recogniser makes first (`Main Street` of `123 Main Street`). Seeking again from a
   * position it returned must give what seeking from the earlier `from` would have.
   */
  readonly bounded?: boolean;
  /**
   * With `seek`: what the seek has already decided at `start` — the end `validate` gives for the
   * pattern's match there (-1: none) — or undefined when it does not know. A seek that runs the
   * pattern and the validator to choose its candidate (names, places, addresses, dates) would
   * otherwise see the scanner run both again there at once; on text where every few words is a
   * finding that second run of a large regex is a good part of the cost. Must answer exactly what
   * the pattern (sticky at `start`) and `validate` would.
   */
  readonly decided?: (text: string, start: number) => number | undefined;
  /**
   * With `decided`: drops whatever text the seek remembers for it. The scanner calls it when a scan
   * (or a frontier search) ends, so a scanned text, which may hold PII, is not kept referenced.
   */
  readonly forget?: () => void;
  /**
   * The stream guard's hold-back for a recogniser that is not run on V8's engine (custom patterns on
   * RE2): the leftmost position at or after `from` where a match could still change as text is
   * appended (what the tail regex of prefix.ts finds), or -1. Replaces the tail built from `pattern`.
   */
  readonly tail?: (text: string, from: number) => number;
  /** Scanned with its own regex instead of the combined one (may use groups, backreferences). */
  readonly standalone?: boolean;
  /** Regex flags for a standalone recogniser (e.g. `u`). */
  readonly flags?: string;
}

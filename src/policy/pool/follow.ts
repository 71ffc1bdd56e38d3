import type { ContentCategory } from "../../config/index.js";
import type { TextSegment } from "../body-texts.js";
import type { CompiledPiiRule, CompiledRule } from "../compiled-rule.js";
import { ContentClassifier, defaultClassifier, judgeText, verdictOf, type ClassifierVerdict } from "../content/index.js";
import { replacementFor } from "../redaction.js";
import { isPlainText, type Finding } from "../scan/index.js";
import { abandonSplit, splitScan } from "./split-scan.js";

/**
 * The content classifier of a large request, run by a second pool worker while the first one
 * scans the text for PII: the classifier reads the redacted text, so in one worker it could only
 * start once the scan was done (1 MiB of prose: ~10 ms of scan, then ~17 ms of classifier). Here
 * the scanning worker (the leader) publishes the findings of the text's largest segment in text
 * order as each stretch of the text is decided, and the follower feeds the classifier the text
 * those findings leave (original text between them, each one's replacement), stretch by stretch,
 * through the classifier's streaming interface. The verdict is the same as judging the redacted
 * text whole: the fold of a text is the concatenation of its pieces' folds and the word reader
 * reads pieces as one text (a high surrogate at a piece's end is carried over to the next piece).
 *
 * The leader uses the follower's scores only when the text the chain hands the classifier is
 * exactly the one the follower read: the segment redacted by these findings alone (no piece of a
 * value split over a boundary with a neighbouring text merged in), and nothing else joined to it.
 * Any other case (another rule changed the text first, several user turns, the follower never
 * started, a fault): the leader judges the text itself, as before. The follower never waits on
 * anything but the leader's progress, and the leader waits for the follower only once the
 * follower has started (it cancels one that has not), so two requests' leaders and followers
 * cannot wait on each other.
 *
 * The channel is one SharedArrayBuffer: a header of int32 words, the scores, then findings as
 * (start, end, recogniser) triples.
 */

/** Header words (Int32Array indices). */
const TICK = 0; // bumped (and notified) by the leader on every change the follower waits for
const PUBLISHED = 1; // findings published (monotonic)
const DECIDED = 2; // every finding starting before this offset is among the published ones
const LEADER = 3; // the leader's state
const FOLLOWER = 4; // the follower's state (notified on every change)
const SEGMENT = 5; // the followed segment's index (-1: not chosen yet)
const LENGTH = 6; // its text's length (a check that both read the same text)
const HEADER = 16;

/** Leader states. */
const SCANNING = 0;
const COMPLETE = 1;
const ABORTED = 2;

/** Follower states. */
const WAITING = 0;
const RUNNING = 1;
const DONE = 2;
const FAILED = 3;
const CANCELLED = 4;

/** Scores (float64) after the header. */
const SCORES_AT = HEADER * 4;
const MAX_CATEGORIES = 16;
const FINDINGS_AT = HEADER + MAX_CATEGORIES * 2;

/** Findings a channel holds; a text with more is judged by the leader itself. */
const MAX_FINDINGS = 16 * 1024;

/** Characters the leader scans between two publications: small enough for the follower to keep up. */
export const FOLLOW_CHUNK = 32 * 1024;

/** The smallest segment worth a second worker (the classifier's cost below it is a few milliseconds). */
export const FOLLOW_MIN_CHARS = 128 * 1024;

/** The follower waits this long for the leader's next stretch before it gives up (a leader that died). */
const FOLLOWER_PATIENCE_MS = 10_000;

/** The leader waits this long for a follower that has started before it judges the text itself (a follower that died). */
const LEADER_PATIENCE_MS = 30_000;

/** A channel for one request's leader and follower (its pages are touched only as far as it is written). */
export function followChannel(): SharedArrayBuffer {
  const sab = new SharedArrayBuffer((FINDINGS_AT + MAX_FINDINGS * 3) * 4);
  new Int32Array(sab)[SEGMENT] = -1;
  return sab;
}

/** Tells a follower to stop: its leader will not lead (its job failed or never ran). */
export function abandon(channel: SharedArrayBuffer | undefined): void {
  if (channel === undefined) return;
  const h = new Int32Array(channel);
  Atomics.compareExchange(h, LEADER, SCANNING, ABORTED);
  Atomics.add(h, TICK, 1);
  Atomics.notify(h, TICK);
}

/** Whether a batch of rules (a body-chain job's) is one the follower can help: a PII rule first, then the built-in classifier on requests. */
export function followable(rules: readonly CompiledRule[]): boolean {
  return (
    rules.length >= 2 &&
    rules[0]!.kind === "pii_detection" &&
    rules[0]!.phases.request &&
    rules.some((r) => r.kind === "content_filter" && r.engine === "builtin" && r.phases.request)
  );
}

/** The segment a follower reads: the longest plain text of the request (json texts and short ones never). */
function followedSegment(segments: readonly TextSegment[]): number {
  let best = -1;
  for (let i = 0; i < segments.length; i++) {
    const s = segments[i]!;
    if (s.json || s.text.length < FOLLOW_MIN_CHARS) continue;
    if (best === -1 || s.text.length > segments[best]!.text.length) best = i;
  }
  return best !== -1 && isPlainText(segments[best]!.text) ? best : -1;
}

/**
 * Every finding of `scanner` in `text` (a text that is its own normalised view), exactly as
 * scanSource gives them, decided `chunk` characters at a time: after each stretch, `publish` is
 * told the findings so far and the offset before which every finding is among them.
 */
export function scanInStretches(rule: CompiledPiiRule, text: string, chunk: number, publish: (found: readonly Finding[], decided: number) => void): Finding[] {
  const found: Finding[] = [];
  let cursor = 0;
  while (cursor < text.length) {
    cursor = rule.scanner.scanOn(text, cursor, Math.min(text.length, cursor + chunk), found);
    publish(found, cursor);
  }
  return found;
}

/** What the leader hands the chain (ChainInput.prescanned), and what the chain tells it back. */
export interface Prescanned {
  rule: CompiledPiiRule;
  segment: number;
  /** The segment's text the findings are of. */
  text: string;
  findings: Finding[];
  /** Set by the chain: the segment's text after the rule, when exactly `findings` were applied to it. */
  redacted?: string;
}

/** The leader's side of a channel, for one body-chain job. */
export interface Leader {
  /** The findings to hand the chain, or undefined when nothing is followed (the follower has been told). */
  prescanned: Prescanned | undefined;
  /** The classifier's verdict on `text`: the follower's scores when it read exactly that text, else judged here. */
  judge: (text: string, categories: readonly ContentCategory[], thresholds: Readonly<Record<ContentCategory, number>>) => ClassifierVerdict;
  /** Lets the follower go if it still waits (call when the job ends, however it ends). */
  release: () => void;
}

/**
 * Starts leading: picks the segment, scans it in stretches publishing as it goes, and returns the
 * findings for the chain. Without a channel, or when the rules or texts do not qualify, the
 * follower is told to stop and the chain runs as it always did.
 */
export function lead(
  channel: SharedArrayBuffer | undefined,
  rules: readonly CompiledRule[],
  segments: readonly TextSegment[],
  textBuffer: SharedArrayBuffer | undefined,
  split?: { channels: SharedArrayBuffer[]; text: SharedArrayBuffer },
): Leader {
  const local: Leader = { prescanned: undefined, judge: judgeText, release: () => {} };
  if (channel === undefined) return split === undefined ? local : leadSplit(split.channels, rules, segments, split.text);
  const h = new Int32Array(channel);
  const tell = (state: number) => {
    if (Atomics.load(h, LEADER) === SCANNING) Atomics.store(h, LEADER, state);
    Atomics.add(h, TICK, 1);
    Atomics.notify(h, TICK);
  };
  const segment = followable(rules) ? followedSegment(segments) : -1;
  if (segment === -1 || textBuffer === undefined || textBuffer.byteLength < 2 * segments[segment]!.text.length) {
    tell(ABORTED);
    return local;
  }
  const rule = rules[0] as CompiledPiiRule;
  const text = segments[segment]!.text;
  // The text for the follower, as UTF-16 code units in pooled memory (faulted in already): it reads
  // small pieces of it, so it needs neither the body parsed nor a string of the text's size.
  Buffer.from(textBuffer).write(text, 0, "utf16le");
  Atomics.store(h, LENGTH, text.length);
  Atomics.store(h, SEGMENT, segment);
  let published = 0;
  let overflow = false;
  let findings: Finding[];
  try {
    findings = scanInStretches(rule, text, FOLLOW_CHUNK, (found, decided) => {
      if (overflow) return;
      if (found.length > MAX_FINDINGS) {
        overflow = true;
        tell(ABORTED);
        return;
      }
      for (; published < found.length; published++) {
        const f = found[published]!;
        const at = FINDINGS_AT + published * 3;
        h[at] = f.start;
        h[at + 1] = f.end;
        h[at + 2] = f.recogniser;
      }
      // Findings before their count, the count before the offset they decide (the follower reads in
      // the other order, so it never takes text as free of findings that are not yet counted).
      Atomics.store(h, PUBLISHED, published);
      Atomics.store(h, DECIDED, decided);
      Atomics.add(h, TICK, 1);
      Atomics.notify(h, TICK);
    });
  } catch (err) {
    tell(ABORTED);
    throw err;
  }
  if (!overflow) tell(COMPLETE);
  const prescanned: Prescanned = { rule, segment, text, findings };
  let scores: Float64Array | undefined | null = null;
  /** The follower's scores once it is done; undefined when it never started, failed or was stopped. */
  const followerScores = (): Float64Array | undefined => {
    if (scores !== null) return scores;
    scores = undefined;
    if (overflow) return undefined;
    // Not started yet (queued behind other work): cancelled, and judged here rather than waited for.
    if (Atomics.compareExchange(h, FOLLOWER, WAITING, CANCELLED) === WAITING) return undefined;
    const deadline = Date.now() + LEADER_PATIENCE_MS;
    for (;;) {
      const s = Atomics.load(h, FOLLOWER);
      if (s === DONE) break;
      if (s !== RUNNING || Date.now() > deadline) return undefined;
      Atomics.wait(h, FOLLOWER, RUNNING, 1000);
    }
    const n = defaultClassifier().categories.length;
    scores = new Float64Array(n);
    scores.set(new Float64Array(channel, SCORES_AT, n));
    return scores;
  };
  return {
    prescanned,
    judge: (t, categories, thresholds) => {
      const s = prescanned.redacted !== undefined && t === prescanned.redacted ? followerScores() : undefined;
      return s !== undefined ? verdictOf(s, categories, thresholds) : judgeText(t, categories, thresholds);
    },
    release: () => {
      tell(ABORTED);
      // A follower that has not started need not start.
      Atomics.compareExchange(h, FOLLOWER, WAITING, CANCELLED);
    },
  };
}

/** Whether a batch of rules can take its first rule's scan of the largest text from several workers (split-scan.ts). */
export function splittable(rules: readonly CompiledRule[]): boolean {
  return rules.length >= 1 && rules[0]!.kind === "pii_detection" && rules[0]!.phases.request;
}

/**
 * The largest plain text's scan by the first rule, cut into parts scanned by this worker and the
 * helpers at once (split-scan.ts); its findings go to the chain as a follower's leader's do. When
 * the rules or texts do not qualify, the helpers are told to stop and the chain runs as before.
 */
function leadSplit(channels: SharedArrayBuffer[], rules: readonly CompiledRule[], segments: readonly TextSegment[], text: SharedArrayBuffer): Leader {
  const release = () => abandonSplit(channels);
  const segment = splittable(rules) ? followedSegment(segments) : -1;
  if (segment === -1 || text.byteLength < 2 * segments[segment]!.text.length) {
    release();
    return { prescanned: undefined, judge: judgeText, release };
  }
  const rule = rules[0] as CompiledPiiRule;
  const t = segments[segment]!.text;
  return { prescanned: { rule, segment, text: t, findings: splitScan(rule, t, channels, text) }, judge: judgeText, release };
}

let follower: ContentClassifier | undefined;

/**
 * The follower: the classifier over the text the leader wrote into `textBuffer`, redacted by the
 * findings it publishes, read as they come. Returns whether scores were written.
 */
export function follow(channel: SharedArrayBuffer, rule: CompiledPiiRule, textBuffer: SharedArrayBuffer): boolean {
  const h = new Int32Array(channel);
  if (Atomics.compareExchange(h, FOLLOWER, WAITING, RUNNING) !== WAITING) return false;
  let ok = false;
  try {
    ok = classifyFollowing(h, channel, rule, Buffer.from(textBuffer));
  } finally {
    Atomics.store(h, FOLLOWER, ok ? DONE : FAILED);
    Atomics.notify(h, FOLLOWER);
  }
  return ok;
}

function classifyFollowing(h: Int32Array, channel: SharedArrayBuffer, rule: CompiledPiiRule, units: Buffer): boolean {
  let deadline = Date.now() + FOLLOWER_PATIENCE_MS;
  /** Waits for the leader's next change; false when it stopped or made no progress for too long. */
  const next = (tick: number): boolean => {
    if (Atomics.load(h, LEADER) === ABORTED) return false;
    if (Atomics.load(h, TICK) === tick) Atomics.wait(h, TICK, tick, 1000);
    if (Atomics.load(h, TICK) !== tick) deadline = Date.now() + FOLLOWER_PATIENCE_MS;
    return Atomics.load(h, LEADER) !== ABORTED && Date.now() < deadline;
  };
  let tick = Atomics.load(h, TICK);
  while (Atomics.load(h, SEGMENT) === -1) {
    if (!next(tick)) return false;
    tick = Atomics.load(h, TICK);
  }
  const length = Atomics.load(h, LENGTH);
  if (2 * length > units.length) return false;
  /** text[a, b), a new small string. */
  const slice = (a: number, b: number) => units.toString("utf16le", 2 * a, 2 * b);
  const clf = (follower ??= new ContentClassifier(defaultClassifier()));
  const feed = new PieceFeed(clf);
  const edit = rule.action === "redact" || rule.action === "mask" ? rule.action : undefined;
  const types = rule.scanner.recognisers.map((r) => r.type);
  let pos = 0;
  let taken = 0;
  for (;;) {
    tick = Atomics.load(h, TICK);
    const complete = Atomics.load(h, LEADER) === COMPLETE;
    const decided = Atomics.load(h, DECIDED);
    const published = Atomics.load(h, PUBLISHED);
    for (; taken < published; taken++) {
      const at = FINDINGS_AT + taken * 3;
      const f: Finding = { start: h[at]!, end: h[at + 1]!, recogniser: h[at + 2]!, type: types[h[at + 2]!]! };
      if (edit === undefined) continue;
      if (f.start > pos) feed.push(slice(pos, f.start));
      // The value itself is read only to mask it.
      feed.push(edit === "mask" ? replacementFor(edit, rule.replacement, { ...f, start: 0, end: f.end - f.start }, slice(f.start, f.end), false) : replacementFor(edit, rule.replacement, f, "", false));
      pos = f.end;
    }
    if (complete) break;
    // In pieces of at most a stretch: small strings.
    while (decided > pos) {
      const to = Math.min(decided, pos + FOLLOW_CHUNK);
      feed.push(slice(pos, to));
      pos = to;
    }
    if (!next(tick)) return false;
  }
  for (; pos + FOLLOW_CHUNK < length; pos += FOLLOW_CHUNK) feed.push(slice(pos, pos + FOLLOW_CHUNK));
  feed.end(pos < length ? slice(pos, length) : "");
  const scores = clf.scores;
  if (scores.length > MAX_CATEGORIES) return false;
  new Float64Array(channel, SCORES_AT, scores.length).set(scores);
  return true;
}

/**
 * Pieces of one text into a classifier, in order: a piece ending in a high surrogate keeps it for
 * the next piece, so no code point is folded in halves.
 */
export class PieceFeed {
  private carry = "";
  constructor(private readonly clf: ContentClassifier) {
    clf.begin();
  }

  push(piece: string): void {
    if (piece === "") return;
    let p = this.carry === "" ? piece : this.carry + piece;
    const last = p.charCodeAt(p.length - 1);
    if (last >= 0xd800 && last <= 0xdbff) {
      this.carry = p.slice(-1);
      p = p.slice(0, -1);
    } else this.carry = "";
    if (p !== "") this.clf.push(p, false);
  }

  end(piece: string): Float64Array {
    this.clf.push(this.carry + piece, true);
    this.carry = "";
    return this.clf.scores;
  }
}

import type { CompiledPiiRule } from "../compiled-rule.js";
import { RIGHT_CONTEXT, type Finding, type Scanner } from "../scan/index.js";

/**
 * One long text's PII scan cut into parts that several pool workers scan at once: the worker
 * running the request's rules (the leader) scans the first part, each helper worker one of the
 * others, and the leader joins their findings into exactly the findings of one scan of the whole
 * text. On a 1 MiB prompt the scan is 9-14 ms of the request's ~45 ms critical path in one worker
 * (docs/benchmarks.md); cut in two, the leader's part took 4.6-6 ms and the helper's 5-9 (its copy
 * of the text included). Opt-in (`KT_SCAN_SPLIT=on`, src/policy/held-chain.ts), and only when the
 * classifier does not follow the scan in a second worker (follow.ts): on the 2-core bench machine
 * the request did not get shorter and took more CPU (docs/benchmarks.md, round 16).
 *
 * Why the join is exact. A scan is leftmost-first and resumes after each finding (scanner.ts),
 * and whether a position starts a finding depends only on the text (lookbehinds read at most
 * `scanner.lookbehind` characters back), so a scan's state is its cursor alone: a scan that
 * reaches cursor c finds from there what a scan started at c finds. A helper scans its part from
 * its first position; every position of that part not strictly inside one of its findings is a
 * cursor its scan passed through. When the leader's cursor (every position before it decided as in
 * the whole scan) is one of those, the helper's findings from it on are the whole scan's, up to
 * the helper's own final cursor. When it is not (a finding of the whole scan crossed the cut and
 * ended inside a finding the helper made), the leader scans on from it until it is. A helper that
 * never started or failed leaves its part to the leader.
 *
 * Each helper has a channel (a SharedArrayBuffer of int32 words: a header, then its findings as
 * start, end, recogniser triples). All helpers read the text from one shared buffer the leader
 * writes as UTF-16 (from the first helper's context on), so no helper parses the body.
 */

/** Header words (Int32Array indices). */
const LEADER = 0; // the leader's state (notified on change)
const HELPER = 1; // the helper's state (notified on change)
const FROM = 2; // where the helper's copy of the text begins: its part's start less the context lookbehinds read
const START = 3; // the first position the helper decides
const LIMIT = 4; // the helper decides positions while its next candidate lies before this
const LENGTH = 5; // the whole text's length
const CURSOR = 6; // the helper's cursor when it is done
const COUNT = 7; // findings the helper wrote
const LATIN1 = 8; // 1: the text is written one byte per character (it is ASCII), else UTF-16
const MARGIN = 9; // characters past its part's end the helper's copy of the text goes (PART_MARGIN)
const HEADER = 16;

/** Leader states. */
const PENDING = 0;
const READY = 1;
const ABORTED = 2;

/** Helper states. */
const WAITING = 0;
const RUNNING = 1;
const DONE = 2;
const FAILED = 3;
const CANCELLED = 4;

/** Findings a helper may return; a part with more is scanned by the leader. */
const MAX_PART_FINDINGS = 16 * 1024;

/** Characters before a helper's part it reads beyond what the scanner says its lookbehinds read. */
const CONTEXT_SLACK = 256;

/**
 * Characters past a part's end that its scan reads: the text it scans ends there, so the
 * recognisers' searches for their next candidate stop there instead of reading to the text's end
 * (a first half of 1 MiB of prose scanned in the whole text cost 7.4-8.5 ms, in a prefix 4.5-5.1,
 * against 8.5-13 for the whole text; one thread, load ~19). Decisions stay exact: positions are
 * decided in the cut text only before its frontier (the first position whose outcome more text
 * could change, as the stream guard uses it) and with its horizon (validators that read past a
 * match); a scan stopped short of its part's end goes on in the whole text.
 */
const PART_MARGIN = 16 * 1024;

/**
 * Decides positions from `from` while the next candidate lies before `limit` in `text` cut at
 * `end` (its true length `length`), exactly as in the whole text. Returns the cursor: below
 * `limit` when the cut text could not decide further.
 */
function scanCut(scanner: Scanner, text: string, from: number, limit: number, found: Finding[], cut: boolean): number {
  if (!cut) return scanner.scanUntil(text, from, limit, found);
  const decidable = scanner.frontier(text, from);
  return scanner.scanUntil(text, from, Math.min(limit, decidable), found, text.length - RIGHT_CONTEXT);
}

/** scanUntil on the whole text, reading it only to `limit + margin` where that decides everything. */
function scanBounded(scanner: Scanner, text: string, from: number, limit: number, found: Finding[], margin: number): number {
  const end = limit + margin;
  if (end >= text.length) return scanner.scanUntil(text, from, limit, found);
  const c = scanCut(scanner, text.slice(0, end), from, limit, found, true);
  return c < limit ? scanner.scanUntil(text, c, limit, found) : c;
}

/** A helper's time per character against the leader's (its copy of the text included), for cutting even parts of time. */
const HELPER_COST = 1.4;

/** The smallest part worth a helper: below it the hand-off (~1 ms per MiB of text written and read) eats the gain. */
export const SPLIT_PART_MIN_CHARS = 128 * 1024;

/** A helper waits this long for the leader's text before it gives up (a leader that died). */
const HELPER_PATIENCE_MS = 10_000;

/** The leader waits this long for a helper that has started before it scans that part itself. */
const LEADER_PATIENCE_MS = 30_000;

/** A channel for one helper of one request (its pages are touched only as far as it is written). */
export function splitChannel(): SharedArrayBuffer {
  return new SharedArrayBuffer((HEADER + MAX_PART_FINDINGS * 3) * 4);
}

/** Tells the helpers of a leader that will not lead (its job failed or never ran) to stop. */
export function abandonSplit(channels: readonly SharedArrayBuffer[] | undefined): void {
  for (const c of channels ?? []) {
    const h = new Int32Array(c);
    Atomics.compareExchange(h, LEADER, PENDING, ABORTED);
    Atomics.notify(h, LEADER);
    // One that has not started need not start.
    Atomics.compareExchange(h, HELPER, WAITING, CANCELLED);
  }
}

/** Helpers worth having for a text of `chars` characters with `free` workers besides the leader's. */
export function splitHelpers(chars: number, free: number): number {
  return Math.max(0, Math.min(free, Math.floor(chars / SPLIT_PART_MIN_CHARS) - 1));
}

/** Position of the last finding in `found[0, n)` (triples) starting before `c`, or -1. */
function lastStartingBefore(found: Int32Array, n: number, c: number): number {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (found[mid * 3]! < c) lo = mid + 1;
    else hi = mid;
  }
  return lo - 1;
}

/** Whether a helper has begun (it then waits for the leader's text): tests wait for it to exercise the join. */
export function helperStarted(channel: SharedArrayBuffer): boolean {
  return Atomics.load(new Int32Array(channel), HELPER) !== WAITING;
}

/**
 * The leader: every finding of `rule` in `text` (a text that is its own normalised view), exactly
 * as one scan of the whole text gives them, with `channels.length` helpers scanning parts of it.
 * `textBuffer` must hold the text as UTF-16 (twice its length in bytes). The parts are even in time
 * (`cuts`, ascending, one per helper, and `margin`, PART_MARGIN, are for tests: cuts at chosen
 * places, texts cut close to them).
 */
export function splitScan(
  rule: CompiledPiiRule,
  text: string,
  channels: readonly SharedArrayBuffer[],
  textBuffer: SharedArrayBuffer,
  cuts?: readonly number[],
  margin = PART_MARGIN,
): Finding[] {
  const scanner = rule.scanner;
  const length = text.length;
  const parts = channels.length + 1;
  // The leader's part is the larger: a helper first copies its part out of shared memory (2.1-2.4
  // ms per 0.5 MiB, against ~5 for scanning it), so at equal parts the leader waited for it.
  const lead = HELPER_COST / (channels.length + HELPER_COST);
  const cut = (i: number) => (i >= parts ? length : cuts !== undefined ? cuts[i - 1]! : Math.floor(length * (lead + ((i - 1) * (1 - lead)) / channels.length)));
  const heads = channels.map((c) => new Int32Array(c));
  try {
    if (textBuffer.byteLength < 2 * length) throw new Error("split scan: text buffer too small");
    const from = Math.max(0, cut(1) - scanner.lookbehind - CONTEXT_SLACK);
    // Only what the helpers read: the text from the first one's context on. An ASCII text one byte
    // a character, so the helper's copy is a one-byte string like the leader's: V8's regular
    // expressions and character reads are compiled per string width, and a two-byte copy ran the
    // recognisers' code for the other width (slower, and compiled afresh in each worker).
    const tail = from === 0 ? text : text.slice(from);
    const latin1 = Buffer.byteLength(tail) === tail.length;
    Buffer.from(textBuffer).write(tail, latin1 ? from : 2 * from, latin1 ? "latin1" : "utf16le");
    heads.forEach((h, k) => {
      const start = cut(k + 1);
      h[FROM] = Math.max(0, start - scanner.lookbehind - CONTEXT_SLACK);
      h[START] = start;
      h[LIMIT] = cut(k + 2);
      h[LENGTH] = length;
      h[LATIN1] = latin1 ? 1 : 0;
      h[MARGIN] = margin;
      // The fields before the state: a helper that sees READY reads them as written.
      Atomics.store(h, LEADER, READY);
      Atomics.notify(h, LEADER);
    });
  } catch (err) {
    abandonSplit(channels);
    throw err;
  }
  const found: Finding[] = [];
  const types = scanner.recognisers.map((r) => r.type);
  let c = scanBounded(scanner, text, 0, cut(1), found, margin);
  for (let k = 0; k < heads.length; k++) {
    const h = heads[k]!;
    const limit = h[LIMIT]!;
    const part = helperFindings(h);
    // The helper before stopped short of its part's end (a candidate it could not decide), or never ran.
    if (c < h[START]!) c = scanBounded(scanner, text, c, h[START]!, found, margin);
    if (part === undefined) {
      // The helper never started, failed or overflowed: its part is scanned here.
      if (c < limit) c = scanBounded(scanner, text, c, limit, found, margin);
      continue;
    }
    const { found: theirs, count, cursor } = part;
    // The leader's cursor is a state of the helper's scan unless strictly inside one of its findings.
    for (;;) {
      if (c >= cursor) break;
      const j = lastStartingBefore(theirs, count, c);
      if (j === -1 || theirs[j * 3 + 1]! <= c) break;
      c = scanBounded(scanner, text, c, theirs[j * 3 + 1]!, found, margin);
    }
    if (c >= cursor) continue; // the whole scan passed the part's end on its own
    for (let j = lastStartingBefore(theirs, count, c) + 1; j < count; j++) {
      const r = theirs[j * 3 + 2]!;
      found.push({ type: types[r]!, start: theirs[j * 3]!, end: theirs[j * 3 + 1]!, recogniser: r });
    }
    c = cursor;
  }
  if (c < length) scanBounded(scanner, text, c, length, found, margin);
  return found;
}

/** A helper's findings once it is done; undefined when it never started (it is told not to), failed or took too long. */
function helperFindings(h: Int32Array): { found: Int32Array; count: number; cursor: number } | undefined {
  if (Atomics.compareExchange(h, HELPER, WAITING, CANCELLED) === WAITING) return undefined;
  const deadline = Date.now() + LEADER_PATIENCE_MS;
  for (;;) {
    const s = Atomics.load(h, HELPER);
    if (s === DONE) break;
    if (s !== RUNNING || Date.now() > deadline) return undefined;
    Atomics.wait(h, HELPER, RUNNING, 1000);
  }
  return { found: h.subarray(HEADER), count: h[COUNT]!, cursor: h[CURSOR]! };
}

/**
 * A helper: scans its part of the text the leader writes into `textBuffer` and returns its
 * findings through `channel`. Returns whether it did.
 */
export function scanPart(channel: SharedArrayBuffer, rule: CompiledPiiRule, textBuffer: SharedArrayBuffer): boolean {
  const h = new Int32Array(channel);
  if (Atomics.compareExchange(h, HELPER, WAITING, RUNNING) !== WAITING) return false;
  let ok = false;
  try {
    ok = scanPartNow(h, rule, textBuffer);
  } finally {
    Atomics.store(h, HELPER, ok ? DONE : FAILED);
    Atomics.notify(h, HELPER);
  }
  return ok;
}

function scanPartNow(h: Int32Array, rule: CompiledPiiRule, textBuffer: SharedArrayBuffer): boolean {
  const deadline = Date.now() + HELPER_PATIENCE_MS;
  for (;;) {
    const s = Atomics.load(h, LEADER);
    if (s === READY) break;
    if (s === ABORTED || Date.now() > deadline) return false;
    Atomics.wait(h, LEADER, s, 1000);
  }
  const from = h[FROM]!;
  const start = h[START]!;
  const limit = h[LIMIT]!;
  const length = h[LENGTH]!;
  const margin = h[MARGIN]!;
  if (!(0 <= from && from <= start && start <= limit && limit <= length && 2 * length <= textBuffer.byteLength && margin >= 0)) return false;
  // The text from the context before the part to `margin` past its end, or to the text's end
  // (validators read past a match); a scan cut short stops at a candidate it cannot decide.
  const end = limit + margin < length ? limit + margin : length;
  const text = h[LATIN1] === 1 ? Buffer.from(textBuffer).toString("latin1", from, end) : Buffer.from(textBuffer).toString("utf16le", 2 * from, 2 * end);
  const found: Finding[] = [];
  const cursor = scanCut(rule.scanner, text, start - from, limit - from, found, end < length);
  if (found.length > MAX_PART_FINDINGS) return false;
  for (let k = 0; k < found.length; k++) {
    const f = found[k]!;
    const at = HEADER + k * 3;
    h[at] = f.start + from;
    h[at + 1] = f.end + from;
    h[at + 2] = f.recogniser;
  }
  h[COUNT] = found.length;
  h[CURSOR] = cursor + from;
  return true;
}

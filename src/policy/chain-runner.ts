import type { ContentCategory } from "../config/index.js";
import type { TextSegment } from "./body-texts.js";
import type { CompiledContentRule, CompiledPiiRule, CompiledRule, Phase } from "./compiled-rule.js";
import { guardConversation, judgeText, type AskGuard, type ClassifierVerdict, type GuardMessage } from "./content/index.js";
import type { GovernanceEvent } from "./governance-event.js";
import type { Prescanned } from "./pool/follow.js";
import { askVerdict } from "./guard-call.js";
import { blockedMessage, PolicyError } from "./policy-error.js";
import { crossGuardOf, forgetText, isPlainText, normalise, rememberClean, scanRepeated, scanSource, type Finding } from "./scan/index.js";
import { applyRedactions, mapBack, replacementFor, type Edit } from "./redaction.js";

export interface ChainFinding {
  policy: string;
  rule: string;
  type: string;
  start: number;
  end: number;
}

export interface ChainInput {
  phase: Phase;
  segments: TextSegment[];
  /** The conversations the guard model judges (one for a request, one per choice for a response). */
  guardConversations: (segments: readonly TextSegment[]) => GuardMessage[][];
  askGuard: AskGuard | undefined;
  signal: AbortSignal | undefined;
  /** Record findings with offsets into each segment's original text (for evaluateText). */
  collectFindings: boolean;
  /**
   * Guard-model calls are started and not awaited: each rule's outcome lands in `deferred` (the
   * conversation is the one the rule would have judged at its place in the chain), and the chain
   * goes on. The request phase uses it to run the guard model concurrently with the upstream.
   */
  defer?: boolean;
  /**
   * Edits earlier rules made to each segment (per segment, one list per rule), when this run
   * continues a chain begun elsewhere: findings map back through them to the original text.
   */
  edits?: Edit[][][];
  /** Findings to keep (the first in text order) when collected; all of them are counted. */
  maxFindings?: number;
  /** The content classifier's verdict on one text; by default judged here (a pooled run judges big texts in a worker). */
  judge?: (text: string, categories: readonly ContentCategory[], thresholds: Readonly<Record<ContentCategory, number>>, firedOnly?: boolean) => ClassifierVerdict | Promise<ClassifierVerdict>;
  /**
   * One segment's findings for one PII rule, found beforehand (src/policy/pool/follow.ts: scanned in
   * stretches, for a second worker to follow): taken instead of scanning that text again, and told
   * the segment's text after the rule when exactly those findings were applied.
   */
  prescanned?: Prescanned;
  /**
   * Whether texts no rule found anything in may be remembered as clean (scan-memo.ts). False for a
   * part of a chain with PII rules still to come elsewhere (a pooled or held chain split around a
   * guard-model rule): only the whole chain knows no rule found a value in a text.
   */
  remember?: boolean;
}

export interface ChainResult {
  /** Segments with their final texts (same order as given). */
  segments: TextSegment[];
  events: GovernanceEvent[];
  findings: ChainFinding[];
  /** Set when a rule blocked; the chain stopped there. */
  blocked: PolicyError | undefined;
  /** With `defer`: the guard-model rules' outcomes still to come, in chain order. */
  deferred: Promise<RuleOutcome>[];
  /** Each segment's edits, one list per rule that redacted (input.edits first). */
  edits: Edit[][][];
  /** Findings made in all (more than `findings` holds when input.maxFindings cut them). */
  findingsTotal: number;
}

/** Findings in text order, the first `max` of them. */
export function firstFindings(findings: ChainFinding[], max: number | undefined): ChainFinding[] {
  const sorted = findings.sort((a, b) => a.start - b.start || a.end - b.end);
  return max !== undefined && sorted.length > max ? sorted.slice(0, max) : sorted;
}

/** A span of a segment's current text, mapped back through the rules' edits to the text as it came in. */
function toOriginal(edits: readonly Edit[][], start: number, end: number): { start: number; end: number } {
  for (let k = edits.length - 1; k >= 0; k--) {
    start = mapBack(start, edits[k]!, "start");
    end = mapBack(end, edits[k]!, "end");
  }
  return { start, end };
}

function add(counts: Record<string, number>, type: string, n = 1): void {
  counts[type] = (counts[type] ?? 0) + n;
}

/**
 * Runs the rules of one phase over whole texts, in chain order, on this thread; each rule sees the
 * previous one's output. Large bodies go through runChain (chain-offload.ts), which hands the same
 * work to a pool worker.
 */
export function runChainHere(rules: readonly CompiledRule[], input: ChainInput): ChainResult | Promise<ChainResult> {
  const segs = input.segments.map((s) => ({ ...s }));
  const edits: Edit[][][] = input.edits ? input.edits.map((e) => [...e]) : segs.map(() => []);
  const run: ChainRun = { segs, edits, events: [], findings: [], deferred: [], repeats: { looked: [], touched: new Set() } };
  return continueChain(rules, 0, input, run);
}

/** A chain's state between its rules. */
interface ChainRun {
  segs: TextSegment[];
  edits: Edit[][][];
  events: GovernanceEvent[];
  findings: ChainFinding[];
  deferred: Promise<RuleOutcome>[];
  repeats: Repeats;
}

/**
 * The rules from `from` on. Synchronous while every rule's outcome is (PII rules, the built-in
 * classifier on texts judged here): a chain with nothing to wait for makes no promise and takes no
 * microtask hop per rule (issue #20); it goes on asynchronously from the first rule that waits
 * (a guard model, a worker's judgment).
 */
function continueChain(rules: readonly CompiledRule[], from: number, input: ChainInput, run: ChainRun): ChainResult | Promise<ChainResult> {
  for (let k = from; k < rules.length; k++) {
    const rule = rules[k]!;
    if (!rule.phases[input.phase]) continue;
    const outcome = rule.kind === "pii_detection" ? runPii(rule, run.segs, run.edits, input, run.findings, run.repeats) : runContent(rule, run.segs, run.edits, input, run.findings);
    if (outcome instanceof Promise) return outcome.then((o) => takeOutcome(o, run) ?? continueChain(rules, k + 1, input, run));
    const done = takeOutcome(outcome, run);
    if (done) return done;
  }
  settleRepeats(run.repeats, input.remember !== false);
  return { segments: run.segs, events: run.events, findings: run.findings, blocked: undefined, deferred: run.deferred, edits: run.edits, findingsTotal: run.findings.length };
}

/** Records a rule's outcome; the chain's result when the rule blocked (the chain stops there). */
function takeOutcome(outcome: RuleOutcome, run: ChainRun): ChainResult | undefined {
  if (outcome.later) {
    // Handled by whoever settles `deferred`; marked handled here so a chain that stops early
    // (a later rule blocks) leaves no unhandled rejection behind.
    outcome.later.catch(() => {});
    run.deferred.push(outcome.later);
  }
  if (outcome.event) run.events.push(outcome.event);
  if (!outcome.block) return undefined;
  settleRepeats(run.repeats, false);
  return { segments: run.segs, events: run.events, findings: run.findings, blocked: outcome.block(run.events), deferred: run.deferred, edits: run.edits, findingsTotal: run.findings.length };
}

/**
 * The repeated texts a run looked up in the scan memo (scan-memo.ts), and the texts in which any
 * rule found something (a value of their own or a piece of one split across texts).
 */
interface Repeats {
  looked: { scanner: CompiledPiiRule["scanner"]; text: string; json: boolean; segment: number }[];
  touched: Set<number>;
}

/**
 * After the chain: a looked-up text no rule found anything in is remembered as clean for each
 * rule's scanner; one any rule found something in is forgotten by all of them (it may have been
 * remembered by an earlier request, when the next text did not complete a value it starts). A
 * chain stopped by a block did not run its later rules, so it only forgets.
 */
function settleRepeats(repeats: Repeats, complete: boolean): void {
  for (const r of repeats.looked) {
    if (repeats.touched.has(r.segment)) forgetText(r.scanner, r.text, r.json);
    else if (complete) rememberClean(r.scanner, r.text, r.json);
  }
}

export interface RuleOutcome {
  event: GovernanceEvent | undefined;
  block?: (events: GovernanceEvent[]) => PolicyError;
  /** A guard-model verdict still on its way (ChainInput.defer). */
  later?: Promise<RuleOutcome>;
}

/**
 * The deferred guard verdicts as one promise: their events in chain order once all are in, or a
 * PolicyError as soon as one of them blocks (or fails closed), carrying the deferred events that
 * are in by then. The chain's own events were reported already; these come on top.
 */
export function settleDeferred(outcomes: readonly Promise<RuleOutcome>[]): Promise<GovernanceEvent[]> {
  return new Promise((resolve, reject) => {
    const got: (RuleOutcome | undefined)[] = outcomes.map(() => undefined);
    let left = outcomes.length;
    const eventsIn = () => got.flatMap((o) => (o?.event ? [o.event] : []));
    outcomes.forEach((p, i) =>
      p.then((o) => {
        got[i] = o;
        if (o.block) reject(o.block(eventsIn()));
        else if (--left === 0) resolve(eventsIn());
      }, reject),
    );
  });
}

/**
 * Characters each side of a boundary a split value is first looked for in (the longest built-in
 * match but a secret's). A finding that runs to the window's edge with text beyond it is looked
 * for again in a window four times as wide, up to the scanner's longest match (a PEM block's is
 * 16 KiB): the common boundary costs a short window; a long split value is still covered whole.
 */
const BOUNDARY_REACH = 400;

/**
 * Findings that cross a boundary between consecutive texts of one flow: each boundary's window (the
 * end of the texts before it and the start of those after, joined) is scanned, and a finding that
 * straddles the boundary is cut into its pieces, each in its own text.
 */
interface CrossPiece extends Finding {
  /** Which split value this piece belongs to (a value counts once). */
  value: number;
}

/**
 * The texts of a flow around boundary `b` (before it back to `before` characters, after it up to
 * `after`). A finding of the text's own that the window's start would cut is taken in whole (up to
 * `longest`): a PEM block cut between its lines has its header far before the boundary, and
 * without it the window holds no match to find.
 */
function boundaryWindow(segs: readonly TextSegment[], list: readonly number[], b: number, before: number, after: number, own: readonly Finding[][], longest: number) {
  const parts: { seg: number; from: number; to: number }[] = [];
  let need = before;
  let moreBefore = false;
  for (let k = b - 1; k >= 0; k--) {
    if (need <= 0) {
      moreBefore = true;
      break;
    }
    const t = segs[list[k]!]!.text;
    let from = Math.max(0, t.length - need);
    for (const f of own[list[k]!]!) if (f.start < from && f.end > from) from = Math.max(f.start, t.length - longest);
    if (from > 0) moreBefore = true;
    parts.unshift({ seg: list[k]!, from, to: t.length });
    need -= t.length - from;
  }
  const cut = parts.reduce((n, p) => n + p.to - p.from, 0);
  need = after;
  let moreAfter = false;
  for (let k = b; k < list.length; k++) {
    if (need <= 0) {
      moreAfter = true;
      break;
    }
    const t = segs[list[k]!]!.text;
    const to = Math.min(t.length, need);
    if (to < t.length) moreAfter = true;
    parts.push({ seg: list[k]!, from: 0, to });
    need -= to;
  }
  const window = parts.map((p) => segs[p.seg]!.text.slice(p.from, p.to)).join("");
  return { parts, cut, window, moreBefore, moreAfter };
}

const longestOf = new WeakMap<CompiledPiiRule["scanner"], number>();
function longestMatch(scanner: CompiledPiiRule["scanner"]): number {
  let n = longestOf.get(scanner);
  if (n === undefined) longestOf.set(scanner, (n = Math.max(BOUNDARY_REACH, ...scanner.recognisers.map((r) => r.maxLength))));
  return n;
}

/** Most boundaries of one flow whose guard is asked before the flow is scanned whole (see crossFindings). */
const GUARDED_BOUNDARIES = 16;

/** Whether a match may hold any boundary of a flow of plain texts: the cross guard at each edge of the texts joined. */
function flowMayCross(segs: readonly TextSegment[], list: readonly number[], mayCross: (text: string, cut: number) => boolean): boolean {
  let text = "";
  const edges: number[] = [];
  for (let k = 0; k < list.length; k++) {
    if (k > 0) edges.push(text.length);
    text += segs[list[k]!]!.text;
  }
  for (const edge of edges) if (edge > 0 && edge < text.length && mayCross(text, edge)) return true;
  return false;
}

function crossFindings(scanner: CompiledPiiRule["scanner"], segs: readonly TextSegment[], plain: readonly boolean[], own: readonly Finding[][]): Map<number, CrossPiece[]> {
  const out = new Map<number, CrossPiece[]>();
  const mayCross = crossGuardOf(scanner);
  const longest = longestMatch(scanner);
  let nextValue = 0;
  const flows = new Map<string, number[]>();
  segs.forEach((s, i) => {
    if (s.flow === undefined || s.json) return;
    const list = flows.get(s.flow);
    if (list) list.push(i);
    else flows.set(s.flow, [i]);
  });
  // A piece of a split value, cut into the texts it covers (`parts`, joined from offset 0).
  // `first`/`firstAt`: the part where the finding starts and that part's offset, when the caller
  // knows them (a whole flow of thousands of texts: not walked from its start for every value).
  const cutInto = (f: Finding, parts: readonly { seg: number; from: number; to: number }[], first = 0, firstAt = 0) => {
    nextValue++;
    let at = firstAt;
    for (let k = first; k < parts.length && at < f.end; k++) {
      const p = parts[k]!;
      const len = p.to - p.from;
      const s = Math.max(f.start, at);
      const e = Math.min(f.end, at + len);
      if (s < e) {
        const piece: CrossPiece = { type: f.type, start: p.from + s - at, end: p.from + e - at, recogniser: f.recogniser, value: nextValue };
        const l = out.get(p.seg);
        if (l) l.push(piece);
        else out.set(p.seg, [piece]);
      }
      at += len;
    }
  };
  for (const list of flows.values()) {
    // The whole flow scanned once as one text, when windows would cost more: many boundaries for
    // the flow's size (each window reads up to 2 x BOUNDARY_REACH characters: a thousand one-word
    // messages would be read some hundred times over), or a boundary padded with characters that
    // normalise to nothing (the window must then reach past the padding, as far as it goes; widened
    // boundary by boundary that was quadratic: 278 KiB of zero-width spaces over 3,200 messages took
    // 18 s). Its findings are the texts' own and the split values, each found once in full context.
    let whole: { parts: { seg: number; from: number; to: number }[]; starts: number[]; byEdge: Map<number, Finding[]>; taken: Set<Finding> } | undefined;
    const wholeFlow = () => {
      if (whole !== undefined) return whole;
      const parts = list.map((i) => ({ seg: i, from: 0, to: segs[i]!.text.length }));
      const starts: number[] = [];
      let at = 0;
      for (const p of parts) {
        starts.push(at);
        at += p.to;
      }
      const text = list.map((i) => segs[i]!.text).join("");
      const found = scanSource(scanner, text, false, undefined, list.every((i) => plain[i]));
      // Each finding under every edge it crosses, found by binary search: asked edge by edge, a
      // scan over all findings per edge was quadratic (8,000 one-line messages each holding a
      // value that runs into the next: 5 s; 190,000 held a pool worker past its CPU budget).
      const byEdge = new Map<number, Finding[]>();
      for (const f of found) {
        for (let b = partAt(starts, f.start) + 1; b < starts.length && starts[b]! < f.end; b++) {
          const l = byEdge.get(b);
          if (l) l.push(f);
          else byEdge.set(b, [f]);
        }
      }
      return (whole = { parts, starts, byEdge, taken: new Set() });
    };
    const fromWhole = (b: number) => {
      const w = wholeFlow();
      const crossing = w.byEdge.get(b);
      if (crossing === undefined) return;
      // A value over several boundaries is cut once.
      for (const f of crossing)
        if (!w.taken.has(f)) {
          w.taken.add(f);
          const k = partAt(w.starts, f.start);
          cutInto(f, w.parts, k, w.starts[k]!);
        }
    };
    let length = 0;
    for (const i of list) length += segs[i]!.text.length;
    const windowsCostMore = (list.length - 1) * 2 * BOUNDARY_REACH > 2 * length;
    // Short texts (a system prompt and a user message): windows would read the flow whole, so it
    // would be scanned whole a second time — unless no boundary can hold a match. The guard asked
    // at each edge of the joined flow (it reads no further than a match could reach, and a longer
    // text can only make it more permissive than a window's), when every text is its own
    // normalised view and the boundaries are few (each guard call reads up to a match's length on
    // each side): no finding of the whole-flow scan could cross an edge then, so it is not made.
    if (windowsCostMore && list.length - 1 <= GUARDED_BOUNDARIES && list.every((i) => plain[i]) && !flowMayCross(segs, list, mayCross)) continue;
    for (let b = 1; b < list.length; b++) {
      if (windowsCostMore) {
        fromWhole(b);
        continue;
      }
      let before = BOUNDARY_REACH;
      let after = BOUNDARY_REACH;
      for (;;) {
        const { parts, cut, window, moreBefore, moreAfter } = boundaryWindow(segs, list, b, before, after, own, longest);
        // A window that is its own normalised view, and whose cut no match can hold (cross-guard.ts):
        // nothing to find. Most boundaries of chat texts (`assistant.` + `Please`) are such.
        const plainWindow = parts.every((p) => plain[p.seg]);
        if (cut === 0 || cut === window.length || (plainWindow && !mayCross(window, cut))) break;
        // The reach is counted in what the recognisers read: characters that normalise to nothing
        // (zero-width, soft hyphens, word joiners, percent-encoded ones) padding the boundary
        // would push a split value's other part out of a window counted as written. A side that
        // reads short with more text beyond it: the whole flow is scanned instead.
        if (!plainWindow) {
          const shortBefore = moreBefore && normalise(window.slice(0, cut)).text.length < before;
          const shortAfter = moreAfter && normalise(window.slice(cut)).text.length < after;
          if (shortBefore || shortAfter) {
            fromWhole(b);
            break;
          }
        }
        // Only a finding that starts before the boundary can cross it.
        const crossing = scanSource(scanner, window, false, cut, plainWindow).filter((f) => f.start < cut && f.end > cut);
        // One that reaches an edge of the window with text beyond it may go on there: look again, wider.
        const growBefore = moreBefore && before < longest && crossing.some((f) => f.start === 0);
        const growAfter = moreAfter && after < longest && crossing.some((f) => f.end === window.length);
        if (growBefore || growAfter) {
          if (growBefore) before = Math.min(longest, before * 4);
          if (growAfter) after = Math.min(longest, after * 4);
          continue;
        }
        for (const f of crossing) cutInto(f, parts);
        break;
      }
    }
  }
  return out;
}

/** The index of the part that holds offset `at`: the last start at or before it (`starts` ascending, starts[0] = 0). */
function partAt(starts: readonly number[], at: number): number {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid]! <= at) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/**
 * The boundary pieces to apply: a split value none of whose pieces overlaps a value found whole in
 * its own text. One that does is that value run on into the next text (`ops@example.com.` + `My
 * card`), not a split one — except a secret: a key whose first part is a match on its own
 * (`sk-proj-AAAA…` + `BBBB…`, a PEM block cut between its lines) would send its rest in clear, so
 * its run-on is redacted too, at the price of a word that merely follows a secret across messages.
 */
function crossPieces(cross: Map<number, CrossPiece[]>, own: readonly Finding[][]): Map<number, CrossPiece[]> {
  const spurious = new Set<number>();
  for (const [seg, pieces] of cross)
    for (const p of pieces) if (p.type !== "secret" && own[seg]!.some((f) => f.start < p.end && p.start < f.end)) spurious.add(p.value);
  if (spurious.size === 0) return cross;
  const out = new Map<number, CrossPiece[]>();
  for (const [seg, pieces] of cross) {
    const kept = pieces.filter((p) => !spurious.has(p.value));
    if (kept.length > 0) out.set(seg, kept);
  }
  return out;
}

/** Own findings plus boundary pieces, sorted; overlapping ones merged into one span (first type wins). */
function mergeFindings(own: Finding[], extra: Finding[] | undefined): { findings: Finding[]; added: number } {
  if (!extra || extra.length === 0) return { findings: own, added: 0 };
  const all = [...own, ...extra].sort((a, b) => a.start - b.start || b.end - a.end);
  const out: Finding[] = [];
  let added = 0;
  for (const f of all) {
    const last = out[out.length - 1];
    if (last && f.start < last.end) {
      if (f.end > last.end) last.end = f.end;
      continue;
    }
    out.push({ ...f });
  }
  for (const f of out) if (!own.some((o) => o.start === f.start && o.end === f.end)) added++;
  return { findings: out, added };
}

/**
 * The index of a request's last message that has a text here (-1: none): the texts of the messages
 * before it are the conversation so far, sent again on every turn.
 */
function lastMessage(segs: readonly TextSegment[]): number {
  let last = -1;
  for (const s of segs) if (s.path[0] === "messages" && typeof s.path[1] === "number" && s.path[1] > last) last = s.path[1];
  return last;
}

/**
 * Each text's own findings. In a request, the texts of the messages before the last one (the system
 * prompt, the earlier turns) are looked up by text first (scan-memo.ts): they come back unchanged
 * request after request. The last message, new in real traffic, is always scanned.
 */
function scanTexts(rule: CompiledPiiRule, segs: readonly TextSegment[], plain: readonly boolean[] | undefined, phase: Phase, repeats: Repeats, pre: Prescanned | undefined): Finding[][] {
  const last = phase === "request" ? lastMessage(segs) : -1;
  return segs.map((seg, i) => {
    if (pre !== undefined && pre.rule === rule && pre.segment === i && pre.text === seg.text) return pre.findings.map((f) => ({ ...f }));
    const p = plain?.[i] === true;
    const repeated = last > 0 && seg.path[0] === "messages" && typeof seg.path[1] === "number" && seg.path[1] < last;
    if (!repeated) return scanSource(rule.scanner, seg.text, seg.json, undefined, p);
    // Remembered, if at all, once the whole chain has found nothing in it (settleRepeats).
    repeats.looked.push({ scanner: rule.scanner, text: seg.text, json: seg.json, segment: i });
    return scanRepeated(rule.scanner, seg.text, seg.json, p, false);
  });
}

function runPii(rule: CompiledPiiRule, segs: TextSegment[], edits: Edit[][][], input: ChainInput, findings: ChainFinding[], repeats: Repeats): RuleOutcome {
  const counts: Record<string, number> = {};
  // Which texts are their own normalised view, asked once: each is scanned on its own and in the windows around its boundaries.
  const plain = segs.length > 1 ? segs.map((s) => !s.json && isPlainText(s.text)) : undefined;
  // A value split over several texts counts once.
  const counted = new Set<string>();
  const pre = input.prescanned;
  const own = scanTexts(rule, segs, plain, input.phase, repeats, pre);
  const cross = plain !== undefined ? crossFindings(rule.scanner, segs, plain, own) : undefined;
  const extras = cross === undefined ? undefined : crossPieces(cross, own);
  // Which segment's text after this rule is its prescanned findings' work alone (set below).
  const followed = pre !== undefined && pre.rule === rule && pre.text === segs[pre.segment]?.text ? pre : undefined;
  segs.forEach((seg, i) => {
    const extra = extras?.get(i);
    if (followed !== undefined && followed.segment === i && extra === undefined)
      followed.redacted = own[i]!.length > 0 && (rule.action === "redact" || rule.action === "mask") ? undefined : seg.text;
    if (own[i]!.length === 0 && extra === undefined) return;
    repeats.touched.add(i);
    for (const f of own[i]!) add(counts, f.type);
    if (extra)
      for (const f of extra) {
        const key = String(f.value);
        if (!counted.has(key)) add(counts, f.type);
        counted.add(key);
      }
    const found = mergeFindings(own[i]!, extra).findings;
    for (const f of found)
      if (input.collectFindings) findings.push({ policy: rule.policy, rule: rule.rule, type: f.type, ...toOriginal(edits[i]!, f.start, f.end) });
    if (rule.action === "redact" || rule.action === "mask") {
      const action = rule.action;
      const r = applyRedactions(seg.text, found, (f) => replacementFor(action, rule.replacement, f, seg.text, seg.json));
      seg.text = r.text;
      edits[i]!.push(r.edits);
      if (followed !== undefined && followed.segment === i && extra === undefined) followed.redacted = r.text;
    }
  });
  if (Object.keys(counts).length === 0) return { event: undefined };
  const event: GovernanceEvent = { policy: rule.policy, rule: rule.rule, ruleType: "pii_detection", action: rule.action, phase: input.phase, counts };
  if (rule.action !== "block") return { event };
  const msg = blockedMessage(input.phase, rule.policy, rule.rule, Object.keys(counts));
  return { event, block: (events) => new PolicyError("KT_ERR_POLICY_BLOCKED", msg, rule, events) };
}

/**
 * The texts the classifier judges, each as a whole: a request's user and tool turns together (every
 * message and content part, in order; the system prompt is the operator's and prior assistant
 * turns are the model's), a response's text per choice. Joined by a line break, so a word split
 * across two messages or parts reads as two adjacent words.
 */
export function classifierTexts(phase: Phase, segs: readonly TextSegment[]): { text: string; segment: number }[] {
  const groups = new Map<number, { parts: string[]; segment: number }>();
  segs.forEach((s, i) => {
    if (s.text === "") return;
    if (phase === "request" && (s.role === "system" || s.role === "developer" || s.role === "assistant")) return;
    const key = phase === "request" ? 0 : s.choice;
    const g = groups.get(key);
    if (g) g.parts.push(s.text);
    else groups.set(key, { parts: [s.text], segment: i });
  });
  return [...groups.values()].map((g) => ({ text: g.parts.join("\n"), segment: g.segment }));
}

function runContent(
  rule: CompiledContentRule,
  segs: TextSegment[],
  edits: Edit[][][],
  input: ChainInput,
  findings: ChainFinding[],
): RuleOutcome | Promise<RuleOutcome> {
  const counts: Record<string, number> = {};
  const base = { policy: rule.policy, rule: rule.rule, ruleType: "content_filter" as const, phase: input.phase, engine: rule.engine };
  const found = (cats: readonly ContentCategory[], segment: number) => {
    for (const c of cats) add(counts, c);
    if (input.collectFindings && segment !== -1)
      for (const c of cats) findings.push({ policy: rule.policy, rule: rule.rule, type: c, ...toOriginal(edits[segment]!, 0, segs[segment]!.text.length) });
  };
  const judge = input.judge ?? judgeText;
  if (rule.engine !== "builtin") return runGuardContent(rule, segs, input, base, found, counts, judge);
  let verdict: GovernanceEvent["verdict"];
  const take = (v: ClassifierVerdict, segment: number) => {
    if (v.fired.length === 0) return;
    found(v.fired, segment);
    if (verdict === undefined || v.top.score / v.top.threshold > verdict.score / verdict.threshold) verdict = v.top;
  };
  const texts = classifierTexts(input.phase, segs);
  for (let i = 0; i < texts.length; i++) {
    // Only what fired is read (and top when something did): judgeText's firedOnly.
    const v = judge(texts[i]!.text, rule.categories, rule.thresholds, true);
    if (v instanceof Promise)
      // A judgment from elsewhere (a worker): the rest of the texts after it, in order.
      return (async () => {
        take(await v, texts[i]!.segment);
        for (let j = i + 1; j < texts.length; j++) take(await judge(texts[j]!.text, rule.categories, rule.thresholds, true), texts[j]!.segment);
        return contentOutcome(rule, base, rule.engine, counts, verdict, input.phase);
      })();
    take(v, texts[i]!.segment);
  }
  return contentOutcome(rule, base, rule.engine, counts, verdict, input.phase);
}

/** A guard-model content rule: screened by the classifier first when it has a band. */
async function runGuardContent(
  rule: CompiledContentRule,
  segs: TextSegment[],
  input: ChainInput,
  base: Omit<GovernanceEvent, "action" | "counts">,
  found: (cats: readonly ContentCategory[], segment: number) => void,
  counts: Record<string, number>,
  judge: NonNullable<ChainInput["judge"]>,
): Promise<RuleOutcome> {
  let verdict: GovernanceEvent["verdict"];
  let engine = rule.engine;
  // With a band, the classifier screens first: only texts it is unsure about go to the guard model.
  let unsure = true;
  if (rule.band) {
    const [low, high] = rule.band;
    unsure = false;
    for (const { text, segment } of classifierTexts(input.phase, segs)) {
      const v = await judge(text, rule.categories, rule.thresholds);
      if (v.max >= high) {
        const sure = rule.categories.filter((c) => v.top.category === c);
        found(sure, segment);
        verdict = { category: v.top.category, score: v.top.score, threshold: high };
        engine = "builtin";
      } else if (v.max >= low) unsure = true;
    }
  }
  if (unsure && verdict === undefined) {
    const conversations = input.guardConversations(segs);
    const at = segs.findIndex((s) => s.text !== "");
    if (input.defer) return { event: undefined, later: askGuardModel(rule, conversations, input, base, (cats) => found(cats, at), counts) };
    return askGuardModel(rule, conversations, input, base, (cats) => found(cats, at), counts);
  }
  return contentOutcome(rule, base, engine, counts, verdict, input.phase);
}

/** A content rule's event (and block) from what it counted. */
function contentOutcome(
  rule: CompiledContentRule,
  base: Omit<GovernanceEvent, "action" | "counts">,
  engine: CompiledContentRule["engine"],
  counts: Record<string, number>,
  verdict: GovernanceEvent["verdict"],
  phase: Phase,
): RuleOutcome {
  const fired = Object.keys(counts) as ContentCategory[];
  if (fired.length === 0) return { event: undefined };
  const event: GovernanceEvent = { ...base, engine, action: rule.action, counts };
  if (verdict) event.verdict = verdict;
  if (rule.action !== "block") return { event };
  const msg = blockedMessage(phase, rule.policy, rule.rule, fired);
  return { event, block: (events) => new PolicyError("KT_ERR_POLICY_BLOCKED", msg, rule, events) };
}

/**
 * The guard model's verdict on each conversation. No verdict (a failure, a hang cut off, a reply
 * that is not one): the rule fails closed (KT_ERR_POLICY_ENGINE_UNAVAILABLE) or, with `fail_open`,
 * lets the text through and records `failedOpen: true`.
 */
async function askGuardModel(
  rule: CompiledContentRule,
  conversations: GuardMessage[][],
  input: ChainInput,
  base: Omit<GovernanceEvent, "action" | "counts">,
  found: (cats: readonly ContentCategory[]) => void,
  counts: Record<string, number>,
): Promise<RuleOutcome> {
  let verdict: GovernanceEvent["verdict"];
  for (const conversation of conversations) {
    const v = await askVerdict(rule, conversation, input.askGuard, input.signal);
    if (!v.ok) {
      if (rule.failOpen) return { event: { ...base, action: rule.action, counts, failedOpen: true } };
      const event: GovernanceEvent = { ...base, action: "block", counts, failedOpen: false };
      const msg = `policy '${rule.policy}' rule '${rule.rule}': the guard model could not give a verdict`;
      return { event, block: (events) => new PolicyError("KT_ERR_POLICY_ENGINE_UNAVAILABLE", msg, rule, events, v.cause) };
    }
    found(v.categories);
    if (v.categories.length > 0) verdict ??= { category: v.categories[0]!, score: 1, threshold: 1 };
    if (v.categories.length > 0 && rule.action === "block") break;
  }
  return contentOutcome(rule, base, rule.engine, counts, verdict, input.phase);
}

/** Guard conversations: the whole request as one; a response as one per choice, after an empty user turn. */
export function requestConversations(all: readonly TextSegment[]): GuardMessage[][] {
  // The conversation itself: messages and prompts, not tool schemas or vendor fields.
  const segs = all.filter((s) => s.path[0] === "messages" || s.path[0] === "prompt");
  if (segs.every((s) => s.text === "")) return [];
  return [guardConversation(segs.map((s) => ({ role: s.role, content: s.text })))];
}

export function responseConversations(segs: readonly TextSegment[]): GuardMessage[][] {
  const byChoice = new Map<number, string[]>();
  for (const s of segs) {
    if (s.text === "" || s.choice < 0) continue;
    const list = byChoice.get(s.choice) ?? [];
    list.push(s.text);
    byChoice.set(s.choice, list);
  }
  return [...byChoice.values()].map((texts) => guardConversation([{ role: "assistant", content: texts.join("\n\n") }]));
}

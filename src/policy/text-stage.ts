import type { CompiledContentRule, CompiledPiiRule, CompiledRule } from "./compiled-rule.js";
import { ContentClassifier, defaultClassifier, guardConversation, STRIDE, verdictOf, type AskGuard } from "./content/index.js";
import { askVerdict, type GuardOutcome } from "./guard-call.js";
import { blockedMessage } from "./policy-error.js";
import { replacementFor } from "./redaction.js";
import { RIGHT_CONTEXT, ViewBuilder, type Finding } from "./scan/index.js";

/**
 * What a rule has seen across every text of one stream. Becomes the rule's governance event at the
 * end, or at a block.
 */
export interface RuleTally {
  rule: CompiledRule;
  counts: Record<string, number>;
  fired: boolean;
  failedOpen: boolean;
  /** The deciding category, score and threshold, for the governance event. */
  verdict?: { category: string; score: number; threshold: number };
  /** Set by the stage that decided to stop the stream. */
  stop?: { code: "KT_ERR_POLICY_BLOCKED" | "KT_ERR_POLICY_ENGINE_UNAVAILABLE"; message: string; cause?: unknown };
}

/** Thrown by a stage to end the stream; the guard turns it into a PolicyError after reporting events. */
export class StageStop extends Error {
  constructor(readonly tally: RuleTally) {
    super("policy stop");
  }
}

/**
 * One rule over one stream of text. `push` returns the text that is decided and may go out; `finish`
 * returns the rest. For every way of cutting a text into pieces, the concatenated output equals the
 * whole-text result of the rule — the property the incremental stream guard rests on.
 */
export interface TextStage {
  push(piece: string): string;
  finish(): Promise<string>;
  /** True once the stage has replaced something (its output differs from its input). */
  readonly changed?: boolean;
  /** True while text is held for a verdict that comes in on its own (a guard model's). */
  readonly waiting?: boolean;
}

/**
 * PII: holds back only the tail in which a match could still start, per the scanner's frontier.
 * Text is normalised as it arrives (ViewBuilder); the scanner reads the view and decides positions
 * in it, and what goes out is the source text up to the matching source offset, with each finding's
 * source span replaced — exactly what the whole-text scan (scanSource) gives.
 */
class PiiStage implements TextStage {
  /** Source text from absolute offset `srcBase` on (everything not yet emitted, and a little before). */
  private src = "";
  private srcBase = 0;
  /** Absolute source offset up to which the view builder has consumed the source. */
  private consumed = 0;
  /** Absolute source offset up to which text has been emitted. */
  private emitted = 0;
  /** Absolute view offset up to which positions have been decided. */
  private done = 0;
  private readonly view: ViewBuilder;
  changed = false;

  constructor(
    private readonly rule: CompiledPiiRule,
    private readonly tally: RuleTally,
    private readonly json: boolean,
  ) {
    this.view = new ViewBuilder(json);
  }

  push(piece: string): string {
    this.feed(piece, false);
    return this.advance(false);
  }

  finish(): Promise<string> {
    this.feed("", true);
    return Promise.resolve(this.advance(true));
  }

  private feed(piece: string, final: boolean): void {
    this.src += piece;
    const from = this.consumed - this.srcBase;
    const rest = from === 0 ? this.src : this.src.slice(from);
    this.consumed += this.view.append(rest, this.consumed, final);
  }

  private advance(final: boolean): string {
    const { scanner } = this.rule;
    const v = this.view;
    const text = v.view;
    const vb = v.viewBase;
    const from = this.done - vb;
    const limit = final ? text.length : scanner.frontier(text, from);
    const found: Finding[] = [];
    // The tail regexes see what a pattern reads, not what a validator reads after the match: a
    // candidate whose match ends within RIGHT_CONTEXT of the text so far may still be refused (a
    // phone's extension "x529084" followed by more digits) or accepted. The scan stops there; it is
    // decided again when more text is in.
    const cursor = scanner.scanUntil(text, from, limit, found, final ? undefined : text.length - RIGHT_CONTEXT);
    const src = this.src;
    const sb = this.srcBase;
    let out = "";
    let at = this.emitted;
    for (const f of found) {
      this.tally.counts[f.type] = (this.tally.counts[f.type] ?? 0) + 1;
      this.tally.fired = true;
      if (this.rule.action === "block") {
        this.tally.stop = {
          code: "KT_ERR_POLICY_BLOCKED",
          message: blockedMessage("response", this.rule.policy, this.rule.rule, Object.keys(this.tally.counts)),
        };
        throw new StageStop(this.tally);
      }
      if (this.rule.action === "log") continue;
      this.changed = true;
      const s = v.toSourceStart(vb + f.start, this.consumed);
      const e = v.toSourceEnd(vb + f.end);
      const sf: Finding = { type: f.type, start: s - sb, end: e - sb, recogniser: f.recogniser };
      out += src.slice(at - sb, s - sb) + replacementFor(this.rule.action, this.rule.replacement, sf, src, this.json);
      at = e;
    }
    const upto = Math.max(at, final ? this.consumed : v.toSourceStart(vb + cursor, this.consumed));
    out += src.slice(at - sb, upto - sb);
    this.emitted = upto;
    this.done = vb + cursor;
    // Keep what lookbehinds and context checks may still read.
    const keep = cursor - scanner.lookbehind;
    if (keep > 1024) v.dropBefore(vb + keep);
    if (this.emitted - sb > 1024) {
      this.src = src.slice(this.emitted - sb);
      this.srcBase = this.emitted;
    }
    return out;
  }
}

/**
 * Built-in content filter over a stream. The classifier reads the text as it comes, in the same
 * windows as a whole text, so the verdict is the buffered one for every chunking. Text goes out
 * word by word while the window still open scores under half of every threshold; from the word
 * that lifts it past that, text is held until every window holding that word has been judged (at
 * most two blocks of WINDOW_BLOCK words). The leak bound: a block can come after at most
 * 2 x WINDOW_BLOCK words of its window already sent, all of which scored under half the threshold
 * when they left.
 */
class ContentStage implements TextStage {
  private readonly clf = new ContentClassifier(defaultClassifier());
  private readonly open = new Float64Array(STRIDE);
  /** Held pieces, each with its end offset in the classifier's folded stream. */
  private held: { text: string; end: number }[] = [];
  private folded = 0;
  /** Folded offset up to which text stays held until its windows are judged. */
  private suspectUntil = 0;

  constructor(
    private readonly rule: CompiledContentRule,
    private readonly tally: RuleTally,
  ) {
    this.clf.begin();
  }

  push(piece: string): string {
    return this.advance(piece, false);
  }

  finish(): Promise<string> {
    return Promise.resolve(this.advance("", true));
  }

  private advance(piece: string, final: boolean): string {
    this.folded += this.clf.push(piece, final);
    if (piece !== "") this.held.push({ text: piece, end: this.folded });
    const { categories, thresholds } = this.rule;
    const v = verdictOf(this.clf.scores, categories, thresholds);
    if (v.fired.length > 0) {
      for (const c of v.fired) this.tally.counts[c] = 1;
      this.tally.verdict = v.top;
      this.tally.fired = true;
      if (this.rule.action === "block") {
        this.tally.stop = { code: "KT_ERR_POLICY_BLOCKED", message: blockedMessage("response", this.rule.policy, this.rule.rule, v.fired) };
        throw new StageStop(this.tally);
      }
    }
    const settled = this.clf.settled;
    if (!final && verdictOf(this.clf.openScores(this.open), categories, halved(thresholds)).fired.length > 0)
      this.suspectUntil = Math.max(this.suspectUntil, settled);
    const cleared = this.clf.cleared;
    const limit = final ? Infinity : cleared >= this.suspectUntil ? settled : cleared;
    let out = "";
    let k = 0;
    while (k < this.held.length && this.held[k]!.end <= limit) out += this.held[k++]!.text;
    if (k > 0) this.held = this.held.slice(k);
    // The decided part of the next piece goes too (`You said:` lets `You ` go while `said:` waits
    // for what follows the colon), when its offsets in the folded stream are its own: a piece that
    // folding left unchanged (plain ASCII) and which the folded stream holds whole.
    const next = this.held[0];
    if (next !== undefined && limit > next.end - next.text.length && limit < next.end && !/[^\x00-\x7f]/.test(next.text)) {
      const cut = limit - (next.end - next.text.length);
      out += next.text.slice(0, cut);
      this.held[0] = { text: next.text.slice(cut), end: next.end };
    }
    return out;
  }
}

const halvedCache = new WeakMap<object, Record<string, number>>();
function halved<T extends Record<string, number>>(t: Readonly<T>): T {
  let h = halvedCache.get(t);
  if (!h) {
    h = {};
    for (const [k, v] of Object.entries(t)) h[k] = v / 2;
    halvedCache.set(t, h);
  }
  return h as T;
}

/** A stage that passes text straight through and only counts (log actions change nothing, so need not hold back). */
class LogOnlyStage implements TextStage {
  constructor(private readonly inner: TextStage) {}
  push(piece: string): string {
    this.inner.push(piece);
    return piece;
  }
  async finish(): Promise<string> {
    await this.inner.finish();
    return "";
  }
}

/**
 * Guard model over a stream. Buffered mode: the whole answer is judged once, at its end.
 * Incremental mode: the answer is judged in windows of `windowChars` characters (the rule's
 * `stream_window_tokens` x 4), each sent with the window before it as context (a phrase cut by a
 * window's edge is read whole), as many in flight as the upstream produces; a window's text is
 * released once it and every window before it were judged safe, so no character reaches the client
 * before the guard has cleared it (the leak bound: 0 characters beyond cleared windows). An unsafe
 * window stops the stream with none of it sent. The tail after the last full window is judged at
 * the end.
 */
class GuardStage implements TextStage {
  /** Text from absolute offset `base` on: what is not released yet, and the window before it. */
  private text = "";
  private base = 0;
  private total = 0;
  /** Absolute offsets: sent for judging (a window's end) and released to the client. */
  private judged = 0;
  private released = 0;
  private readonly windows: { end: number; outcome: GuardOutcome | { cancelled: unknown } | undefined; settled: Promise<void> }[] = [];

  constructor(
    private readonly rule: CompiledContentRule,
    private readonly tally: RuleTally,
    private readonly askGuard: AskGuard | undefined,
    private readonly signal: AbortSignal | undefined,
    private readonly incremental: boolean,
    private readonly wake: () => void,
  ) {}

  /** Whether a window's verdict is pending (the stream guard then also wakes when one comes in). */
  get waiting(): boolean {
    return this.windows.length > 0;
  }

  push(piece: string): string {
    this.text += piece;
    this.total += piece.length;
    if (!this.incremental) return "";
    const w = this.rule.windowChars;
    while (this.total - this.judged >= w) {
      const end = this.windowEnd(w);
      if (end === undefined) break;
      this.judge(end);
    }
    return this.release();
  }

  async finish(): Promise<string> {
    if (!this.incremental) {
      if (this.text === "") return "";
      this.settle(await askVerdict(this.rule, guardConversation([{ role: "assistant", content: this.text }]), this.askGuard, this.signal));
      return this.text;
    }
    if (this.total > this.judged) this.judge(this.total);
    let out = "";
    while (this.windows.length > 0) {
      await this.windows[0]!.settled;
      out += this.release();
    }
    return out;
  }

  /**
   * Where the next window ends: after the last whitespace within `w` characters of the text not yet
   * judged (else the first one after), so a word is never cut between two windows, nor released
   * half (the last word may still be growing). Text without whitespace is cut hard once it is four
   * windows long. Undefined: wait for more text.
   */
  private windowEnd(w: number): number | undefined {
    const t = this.text;
    const from = this.judged - this.base;
    const isSpace = (c: number) => c === 32 || c === 10 || c === 9 || c === 13;
    for (let i = Math.min(t.length, from + w) - 1; i >= from; i--) if (isSpace(t.charCodeAt(i))) return this.base + i + 1;
    for (let i = from + w; i < t.length; i++) if (isSpace(t.charCodeAt(i))) return this.base + i + 1;
    return this.total - this.judged >= 4 * w ? this.judged + w : undefined;
  }

  /** Starts judging the text up to absolute offset `end`, with the window before it as context. */
  private judge(end: number): void {
    const from = Math.max(0, this.judged - this.rule.windowChars);
    const content = this.text.slice(from - this.base, end - this.base);
    this.judged = end;
    const win: (typeof this.windows)[number] = { end, outcome: undefined, settled: Promise.resolve() };
    win.settled = askVerdict(this.rule, guardConversation([{ role: "assistant", content }]), this.askGuard, this.signal).then(
      (o) => {
        win.outcome = o;
        this.wake();
      },
      (cancelled) => {
        win.outcome = { cancelled };
        this.wake();
      },
    );
    this.windows.push(win);
  }

  /** The text of the leading windows judged safe; a StageStop at the first that is not. */
  private release(): string {
    const from = this.released;
    while (this.windows.length > 0 && this.windows[0]!.outcome !== undefined) {
      const win = this.windows.shift()!;
      const o = win.outcome!;
      if ("cancelled" in o) throw o.cancelled;
      this.settle(o);
      this.released = win.end;
    }
    if (this.released === from) return "";
    const out = this.text.slice(from - this.base, this.released - this.base);
    // Keep the window before the next one to judge (its context) and everything not released.
    const keep = Math.min(this.released, Math.max(0, this.judged - this.rule.windowChars));
    if (keep - this.base > 4096) {
      this.text = this.text.slice(keep - this.base);
      this.base = keep;
    }
    return out;
  }

  /** A verdict's effect: counts, a fail-open note, or a StageStop. */
  private settle(v: GuardOutcome): void {
    if (!v.ok) {
      this.tally.fired = true;
      if (this.rule.failOpen) {
        this.tally.failedOpen = true;
        return;
      }
      this.tally.stop = {
        code: "KT_ERR_POLICY_ENGINE_UNAVAILABLE",
        message: `policy '${this.rule.policy}' rule '${this.rule.rule}': the guard model could not give a verdict`,
        cause: v.cause,
      };
      throw new StageStop(this.tally);
    }
    if (v.categories.length === 0) return;
    for (const c of v.categories) this.tally.counts[c] = (this.tally.counts[c] ?? 0) + 1;
    this.tally.fired = true;
    this.tally.verdict ??= { category: v.categories[0]!, score: 1, threshold: 1 };
    if (this.rule.action === "block") {
      this.tally.stop = { code: "KT_ERR_POLICY_BLOCKED", message: blockedMessage("response", this.rule.policy, this.rule.rule, v.categories) };
      throw new StageStop(this.tally);
    }
  }
}

/** How the stages of a stream are driven. */
export interface StageOptions {
  askGuard: AskGuard | undefined;
  signal: AbortSignal | undefined;
  /** Incremental streaming (guard-model rules judge in windows) rather than buffered. */
  incremental: boolean;
  /** Called when a guard model's verdict comes in, so held text can go out without waiting for the next chunk. */
  wake: () => void;
}

export function createStage(tally: RuleTally, json: boolean, opts: StageOptions): TextStage {
  const rule = tally.rule;
  if (rule.kind === "pii_detection") {
    const s = new PiiStage(rule, tally, json);
    return rule.action === "log" ? new LogOnlyStage(s) : s;
  }
  if (rule.engine !== "builtin") return new GuardStage(rule, tally, opts.askGuard, opts.signal, opts.incremental, opts.wake);
  const s = new ContentStage(rule, tally);
  return rule.action === "log" ? new LogOnlyStage(s) : s;
}

/** The response rules chained: each stage's output is the next one's input. */
export class StageChain {
  constructor(private readonly stages: readonly TextStage[]) {}

  /** Whether some stage replaced part of the text. */
  get changed(): boolean {
    return this.stages.some((s) => s.changed === true);
  }

  push(piece: string): string {
    let t = piece;
    for (const s of this.stages) {
      if (t === "") break;
      t = s.push(t);
    }
    return t;
  }

  /** Whether some stage holds text for a guard model's verdict. */
  get waiting(): boolean {
    return this.stages.some((s) => s.waiting === true);
  }

  /** Text a stage released since the last push (a guard verdict came in), through the stages after it. */
  poll(): string {
    let t = "";
    for (const s of this.stages) t = s.push(t);
    return t;
  }

  async finish(): Promise<string> {
    let t = "";
    for (const s of this.stages) t = (t === "" ? "" : s.push(t)) + (await s.finish());
    return t;
  }
}

import type { Chunk, JsonObject, Operation } from "../wire/index.js";
import { isJsonObject, loopTurn, runQueued, SLICE_MS } from "../wire/index.js";
import type { CompiledRule } from "./compiled-rule.js";
import type { AskGuard } from "./content/index.js";
import type { GovernanceEvent } from "./governance-event.js";
import { PolicyError } from "./policy-error.js";
import { createStage, StageChain, StageStop, type RuleTally, type StageOptions } from "./text-stage.js";
import { SKIPPED_KEYS } from "./body-texts.js";
import { logprobsText, promptLogprobsText } from "./logprobs.js";
import { scanSource } from "./scan/index.js";
import { blockedMessage } from "./policy-error.js";
import { applyRedactions, replacementFor } from "./redaction.js";
import { CHOICE_SKIP, isLargeChunk, isWholeText, SLICE_CHARS, sliceChunk, TOP_SKIP } from "./chunk-slices.js";


/**
 * Where each slice of a large chunk runs, the first included: a turn of the event loop after the
 * previous step of its stream (as before), and then in the loop's shared queue of work
 * (runQueued), whose slices stop after about SLICE_MS, whoever's they are. Before, a slice took its
 * place with nextTurn() and ran a few promise steps after its release, when the queue's clock had
 * already let the other streams' slices go: four streams in 900 KiB deltas of name-like words
 * still made turns of 20-47 ms of main-thread CPU (load ~7), and the first slice ran where the
 * chunk was read, in the turn of its parse. The work now runs inside the release, and the clock
 * counts it.
 */
function sliceTurn<T>(work: () => T): Promise<Awaited<T>> {
  return loopTurn().then(() => runQueued(work));
}

/**
 * A slice that took longer than this (wall clock, ms) has the rest of its chunk cut into slices of
 * FINE_SLICE_CHARS. SLICE_CHARS is ~4 ms of the worst shape's scan once the code is warm, but the
 * first slices of a shape the process has not seen yet run in V8's unoptimised tiers: in the
 * stream row, the first slices of name-like words took 12-27 ms of CPU each (in process, load ~7),
 * the longest turns left. A loaded machine slows them too. Cut finer, the rest of such a chunk
 * costs more in all (a slice's fixed cost, ~8% more for half the size) but no one step is long.
 */
const SLOW_SLICE_MS = 2 * SLICE_MS;
const FINE_SLICE_CHARS = SLICE_CHARS / 4;

/** A step of a text's path inside a choice: a key, a tool call by its `index`, or an array position. */
type Step = { key: string } | { tool: number } | { at: number };

interface Channel {
  chain: StageChain;
  choice: number;
  path: readonly Step[];
  finished: boolean;
}


/** Key steps are immutable: the usual few (delta, content, …) are made once, not per chunk. */
const keySteps = new Map<string, Step>();
function keyStep(key: string): Step {
  let s = keySteps.get(key);
  if (s === undefined) {
    s = { key };
    // Bounded: keys are the upstream's (unknown fields included).
    if (keySteps.size < 256) keySteps.set(key, s);
  }
  return s;
}

function pathKey(choice: number, path: readonly Step[]): string {
  let k = String(choice);
  for (const s of path) k += "key" in s ? `.${s.key}` : "tool" in s ? `[t${s.tool}]` : `[${s.at}]`;
  return k;
}

/** Appends `tail` to the string at `path` under `root`, creating what is missing. */
function appendAt(root: JsonObject, path: readonly Step[], tail: string): void {
  let node: any = root;
  for (let i = 0; i < path.length; i++) {
    const step = path[i]!;
    const last = i === path.length - 1;
    if ("key" in step) {
      if (last) {
        node[step.key] = (typeof node[step.key] === "string" ? node[step.key] : "") + tail;
        return;
      }
      const next = path[i + 1]!;
      const want = "key" in next ? "object" : "array";
      const cur = node[step.key];
      node[step.key] = want === "array" ? (Array.isArray(cur) ? [...cur] : []) : isJsonObject(cur) ? { ...cur } : {};
      node = node[step.key];
    } else if ("tool" in step) {
      let k = (node as unknown[]).findIndex((tc) => isJsonObject(tc) && tc.index === step.tool);
      if (k === -1) {
        (node as unknown[]).push({ index: step.tool });
        k = (node as unknown[]).length - 1;
      } else node[k] = { ...node[k] };
      node = node[k];
    } else {
      if (last) {
        node[step.at] = (typeof node[step.at] === "string" ? node[step.at] : "") + tail;
        return;
      }
      node[step.at] = isJsonObject(node[step.at]) ? { ...node[step.at] } : {};
      node = node[step.at];
    }
  }
}

/** Concatenates streamed logprobs objects: arrays joined key by key (chat `content`/`refusal`, completions `tokens`, `token_logprobs`, …). */
function mergeLogprobs(parts: readonly JsonObject[]): JsonObject {
  const out: JsonObject = {};
  for (const p of parts)
    for (const [k, v] of Object.entries(p)) {
      if (Array.isArray(v)) out[k] = Array.isArray(out[k]) ? [...(out[k] as unknown[]), ...v] : [...v];
      else if (out[k] === undefined) out[k] = v;
    }
  return out;
}

/**
 * Runs a response stream through the response-phase rules. Every string of every choice (content,
 * reasoning and reasoning_content, refusal, tool call and function_call arguments, completion
 * text, unknown fields at any depth, in objects or arrays) is streamed text: its own channel, per
 * choice and key path, with its own chain of stages, so a value split across events is found. A
 * function's name arrives whole and is scanned whole (isWholeText). A choice's channels are
 * flushed at the stream's end into the last chunk that carried it. Chunks keep their
 * ids, roles, finish reasons and usage; only text fields change.
 *
 * Logprobs spell the text token by token, so while a rule may change the text they are held back:
 * a choice's logprobs go out merged in its finishing chunk if no rule changed its text (and the text
 * they spell holds nothing a rule removes), and are dropped otherwise. See logprobs.ts.
 */
export class StreamGuard {
  private readonly tallies: RuleTally[];
  private readonly channels = new Map<string, Channel>();
  /** The same channels by choice: a choice's flush visits its own (walking all per choice was quadratic in the choices). */
  private readonly byChoice = new Map<number, Channel[]>();
  /** Choice 0's `delta.content` and `text` channels, once made (see channel()). */
  private deltaContent: Channel | undefined;
  private choiceText: Channel | undefined;
  /** Whether a rule calls a guard model (only its stages hold text for a verdict). */
  readonly judgesModel: boolean;
  private last: JsonObject | undefined;
  /** Per finished choice, its object in the last chunk that carried it (held until the end). */
  private readonly finishedAt = new Map<number, JsonObject>();
  /** Logprobs held per choice, while a rule could still change its text. */
  private readonly heldLogprobs = new Map<number, JsonObject[]>();
  private readonly holdLogprobs: boolean;
  /** Choices a whole-string redaction changed. */
  private readonly changedChoices = new Set<number>();

  private readonly stageOptions: StageOptions;
  /** Whether a guard model's verdict came in since the last look (see `verdictIn`). */
  private woken = false;
  private onWake: (() => void) | undefined;

  constructor(
    private readonly rules: readonly CompiledRule[],
    askGuard: AskGuard | undefined,
    signal: AbortSignal | undefined,
    private readonly incremental = false,
  ) {
    this.stageOptions = {
      askGuard,
      signal,
      incremental,
      wake: () => {
        this.woken = true;
        const w = this.onWake;
        this.onWake = undefined;
        w?.();
      },
    };
    this.tallies = rules.map((rule) => ({ rule, counts: {}, fired: false, failedOpen: false }));
    this.holdLogprobs = rules.some((r) => r.kind === "pii_detection" && r.action !== "log");
    this.judgesModel = rules.some((r) => r.kind === "content_filter" && r.engine !== "builtin");
  }

  private channel(choice: number, path: readonly Step[]): Channel {
    // The running text of choice 0 (`delta.content`, a completion's `text`) is nearly every call:
    // found without building its path's key.
    const common = choice === 0 && (path.length === 1 || (path.length === 2 && "key" in path[0]! && path[0].key === "delta")) && "key" in path[path.length - 1]!;
    if (common) {
      const leaf = (path[path.length - 1] as { key: string }).key;
      const hit = path.length === 2 ? (leaf === "content" ? this.deltaContent : undefined) : leaf === "text" ? this.choiceText : undefined;
      if (hit) return hit;
    }
    const key = pathKey(choice, path);
    let ch = this.channels.get(key);
    if (!ch) {
      const last = path[path.length - 1];
      const json = last !== undefined && "key" in last && last.key === "arguments";
      ch = { chain: new StageChain(this.tallies.map((t) => createStage(t, json, this.stageOptions))), choice, path: path.slice(), finished: false };
      this.channels.set(key, ch);
      const own = this.byChoice.get(choice);
      if (own) own.push(ch);
      else this.byChoice.set(choice, [ch]);
    }
    if (common) {
      const leaf = (path[path.length - 1] as { key: string }).key;
      if (path.length === 2 && leaf === "content") this.deltaContent = ch;
      else if (path.length === 1 && leaf === "text") this.choiceText = ch;
    }
    return ch;
  }

  /** A string that arrives in one piece, through the PII rules at once. */
  private wholeText(text: string, choice: number): string {
    let t = text;
    for (const tally of this.tallies) {
      const r = tally.rule;
      if (r.kind !== "pii_detection") continue;
      const found = scanSource(r.scanner, t);
      if (found.length === 0) continue;
      for (const f of found) tally.counts[f.type] = (tally.counts[f.type] ?? 0) + 1;
      tally.fired = true;
      if (r.action === "block") {
        tally.stop = { code: "KT_ERR_POLICY_BLOCKED", message: blockedMessage("response", r.policy, r.rule, Object.keys(tally.counts)) };
        throw new StageStop(tally);
      }
      if (r.action === "log") continue;
      const action = r.action;
      const src = t;
      t = applyRedactions(src, found, (f) => replacementFor(action, r.replacement, f, src, false)).text;
      this.changedChoices.add(choice);
    }
    return t;
  }

  /** `usage` with each string in it through the PII rules whole (rare: an upstream's counts are numbers). */
  private guardUsage(node: unknown): unknown {
    if (typeof node === "string") return node === "" ? node : this.wholeText(node, 0);
    if (Array.isArray(node)) return node.map((v) => this.guardUsage(v));
    if (!isJsonObject(node)) return node;
    const out: JsonObject = {};
    for (const k in node) out[k] = this.guardUsage(node[k]);
    return out;
  }

  /** Whether a text holds something a PII rule of this stream removes. */
  holdsValue(text: string): boolean {
    if (text === "") return false;
    return this.rules.some((r) => r.kind === "pii_detection" && r.action !== "log" && scanSource(r.scanner, text).length > 0);
  }

  /**
   * One input chunk to the chunk to send. Synchronous (every stage is): a promise per chunk and
   * per choice cost more than the guarding of a one-word delta.
   */
  transform(chunk: Chunk): Chunk {
    let c = chunk;
    if (c.prompt_logprobs != null && this.holdsValue(promptLogprobsText(c.prompt_logprobs))) c = { ...c, prompt_logprobs: null };
    // Counts are numbers; a string an upstream put in `usage` goes out checked, as in a whole answer.
    if (isJsonObject(c.usage) && hasString(c.usage)) c = { ...c, usage: this.guardUsage(c.usage) };
    // A vendor's field beside the choices (`choices`, `usage` and ids aside) is streamed text too.
    let top: Chunk | undefined;
    for (const k in c) {
      if (TOP_SKIP.has(k) || SKIPPED_KEYS.has(k) || !Object.hasOwn(c, k)) continue;
      const v = c[k];
      if (typeof v === "string" ? v === "" : v === null || typeof v !== "object" || !hasString(v)) continue;
      top ??= { ...c };
      top[k] = this.guardNode(v, TOP, [keyStep(k)], k) as JsonObject[string];
    }
    if (top !== undefined) c = top;
    const list = c.choices;
    if (!Array.isArray(list) || list.length === 0) return c;
    this.last = c;
    const choices = new Array<unknown>(list.length);
    for (let i = 0; i < list.length; i++) choices[i] = this.transformChoice(list[i], i);
    return { ...c, choices };
  }

  /** Every string under `node` through its channel; a new node with the decided text. */
  private guardNode(node: unknown, choice: number, path: Step[], key: string | undefined): unknown {
    if (typeof node === "string") {
      if (node === "" || (key !== undefined && SKIPPED_KEYS.has(key))) return node;
      // Every string is text streamed through its channel (one per choice and key path, known key or
      // not), but a function's name, which arrives whole and goes out whole (isWholeText).
      if (key === "name" && path.length > 1) {
        const parent = path[path.length - 2]!;
        if ("key" in parent && isWholeText(key, parent.key)) return this.wholeText(node, choice);
      }
      return this.channel(choice, path).chain.push(node);
    }
    if (Array.isArray(node)) {
      return node.map((v, i) => {
        const step: Step = key === "tool_calls" && isJsonObject(v) && typeof v.index === "number" ? { tool: v.index } : key === "tool_calls" ? { tool: i } : { at: i };
        path.push(step);
        const r = this.guardNode(v, choice, path, undefined);
        path.pop();
        return r;
      });
    }
    if (!isJsonObject(node)) return node;
    const out: JsonObject = {};
    // for-in, not Object.entries: no pair arrays per key per chunk.
    for (const k in node) {
      if (!Object.hasOwn(node, k)) continue;
      const v = node[k];
      if (v === null || typeof v !== "object" && typeof v !== "string") {
        out[k] = v;
        continue;
      }
      path.push(keyStep(k));
      out[k] = this.guardNode(v, choice, path, k);
      path.pop();
    }
    return out;
  }

  private transformChoice(c: unknown, position: number): unknown {
    if (!isJsonObject(c)) return c;
    const choice = typeof c.index === "number" ? c.index : position;
    const out: JsonObject = {};
    for (const k in c) {
      if (!Object.hasOwn(c, k)) continue;
      const v = c[k];
      if (CHOICE_SKIP.has(k) || v === null || (typeof v !== "object" && typeof v !== "string")) {
        out[k] = v;
        continue;
      }
      out[k] = this.guardNode(v, choice, [keyStep(k)], k);
    }
    if (out.prompt_logprobs != null && this.holdsValue(promptLogprobsText(out.prompt_logprobs))) out.prompt_logprobs = null;
    if (this.holdLogprobs && isJsonObject(c.logprobs)) {
      const list = this.heldLogprobs.get(choice);
      if (list) list.push(c.logprobs);
      else this.heldLogprobs.set(choice, [c.logprobs]);
      out.logprobs = null;
    }
    // A finish_reason does not end a choice's text: an upstream may still send some for it (a value
    // split across the finish would then go out unchecked). Its tail stays held until the stream
    // ends ([DONE]), and goes into the last chunk that carried the choice.
    if ((c.finish_reason !== null && c.finish_reason !== undefined) || this.finishedAt.has(choice)) this.finishedAt.set(choice, out);
    return out;
  }

  /** Whether some channel's text waits for a guard model's verdict on its window. */
  get waiting(): boolean {
    if (!this.judgesModel) return false;
    for (const ch of this.channels.values()) if (!ch.finished && ch.chain.waiting) return true;
    return false;
  }

  /** Resolves when a guard model's verdict comes in (at once if one came in since the last `released`). */
  verdictIn(): Promise<void> {
    if (this.woken) return Promise.resolve();
    return new Promise((resolve) => (this.onWake = resolve));
  }

  /**
   * Text that guard verdicts released since the last chunk, as chunks shaped like the last one
   * (one per channel with text); throws StageStop when a verdict stops the stream.
   */
  released(): Chunk[] {
    this.woken = false;
    const out: Chunk[] = [];
    for (const ch of this.channels.values()) {
      if (ch.finished) continue;
      const text = ch.chain.poll();
      if (text === "") continue;
      if (ch.choice === TOP) {
        const { choices: _choices, usage: _usage, ...rest } = this.last ?? {};
        const top: Chunk = { ...withoutTopText(rest), choices: [] };
        appendAt(top, ch.path, text);
        out.push(top);
        continue;
      }
      const c: JsonObject = { index: ch.choice };
      appendAt(c, ch.path, text);
      c.logprobs = null;
      c.finish_reason = null;
      const { choices: _choices, usage: _usage, ...rest } = this.last ?? {};
      out.push({ ...withoutTopText(rest), choices: [c] });
    }
    return out;
  }

  /** True once some choice has finished: from then on chunks are held until the stream ends. */
  get holding(): boolean {
    return this.finishedAt.size > 0;
  }

  /**
   * Appends the held-back tails of a choice's channels to `out` (a choice object of a chunk; the
   * chunk itself for TOP), and its logprobs if they may go. Whether a tail was appended.
   */
  private async flushChoice(choice: number, out: JsonObject): Promise<boolean> {
    let changed = this.changedChoices.has(choice);
    let appended = false;
    for (const ch of this.byChoice.get(choice) ?? []) {
      if (ch.finished) continue;
      ch.finished = true;
      const tail = await ch.chain.finish();
      if (ch.chain.changed) changed = true;
      if (tail !== "") {
        appendAt(out, ch.path, tail);
        appended = true;
      }
    }
    const held = this.heldLogprobs.get(choice);
    if (held) {
      this.heldLogprobs.delete(choice);
      const merged = mergeLogprobs(held);
      if (!changed && !this.holdsValue(logprobsText(merged))) out.logprobs = merged;
    }
    return appended;
  }

  /**
   * Flushes channels whose choice never sent a finish_reason, as extra chunks shaped like the last
   * one. A turn of the event loop every FLUSH_TURN choices: each flush finishes a chain of stages
   * per channel, and an upstream may have sent thousands of choices.
   */
  async end(): Promise<Chunk[]> {
    const out: Chunk[] = [];
    const open = new Set<number>();
    for (const [choice, own] of this.byChoice) if (own.some((c) => !c.finished)) open.add(choice);
    for (const choice of this.heldLogprobs.keys()) open.add(choice);
    let flushed = 0;
    for (const choice of open) {
      if (++flushed % FLUSH_TURN === 0) await loopTurn();
      if (choice === TOP) {
        // The top-level fields' tails, in a chunk of their own with no choice (as a usage chunk).
        const { choices: _choices, usage: _usage, ...rest } = this.last ?? {};
        const c: Chunk = { ...withoutTopText(rest), choices: [] };
        if (await this.flushChoice(TOP, c)) out.push(c);
        continue;
      }
      const last = this.finishedAt.get(choice);
      if (last) {
        await this.flushChoice(choice, last);
        continue;
      }
      const c: JsonObject = { index: choice };
      await this.flushChoice(choice, c);
      if (Object.keys(c).length === 1) continue;
      c.logprobs ??= null;
      c.finish_reason = null;
      const { choices: _choices, usage: _usage, ...rest } = this.last ?? {};
      out.push({ ...withoutTopText(rest), choices: [c] });
    }
    return out;
  }

  events(): GovernanceEvent[] {
    const out: GovernanceEvent[] = [];
    for (const t of this.tallies) {
      if (!t.fired) continue;
      const r = t.rule;
      const e: GovernanceEvent = {
        policy: r.policy,
        rule: r.rule,
        ruleType: r.kind,
        action: t.stop ? "block" : r.action,
        phase: "response",
        counts: { ...t.counts },
      };
      if (r.kind === "content_filter") {
        e.engine = r.engine;
        if (r.engine !== "builtin") e.failedOpen = t.failedOpen;
        // Windows are released only once cleared: nothing the guard had not judged safe went out.
        if (r.engine !== "builtin" && this.incremental) e.leakBoundChars = 0;
        if (t.verdict) e.verdict = { ...t.verdict };
      }
      out.push(e);
    }
    return out;
  }

  toError(stop: StageStop): PolicyError {
    const s = stop.tally.stop!;
    return new PolicyError(s.code, s.message, stop.tally.rule, this.events(), s.cause);
  }
}

/** Choices flushed per turn of the event loop at a stream's end (StreamGuard.end). */
const FLUSH_TURN = 16;

/**
 * The channels' choice key for strings at a chunk's top level, beside its choices (a vendor's
 * field): read as streamed text per key path, as a choice's fields are (#13: they went out unread).
 */
const TOP = -1;

/**
 * A chunk's fields but the top-level text the guard reads (TOP): what a chunk the guard makes (a
 * flush, a release) carries from the last one. Copying that text would send it twice.
 */
function withoutTopText(rest: JsonObject): JsonObject {
  let out: JsonObject | undefined;
  for (const k in rest) {
    const v = rest[k];
    if (TOP_SKIP.has(k) || SKIPPED_KEYS.has(k) || (typeof v === "string" ? v === "" : v === null || typeof v !== "object" || !hasString(v))) continue;
    out ??= { ...rest };
    delete out[k];
  }
  return out ?? rest;
}

/** guardStream's body: see PolicyEngine.guardStream. */
export function guardChunks(
  rules: readonly CompiledRule[],
  chunks: AsyncIterable<Chunk>,
  op: Operation,
  mode: "buffered" | "incremental",
  onEvent: (e: GovernanceEvent) => void,
  askGuard: AskGuard | undefined,
  signal: AbortSignal | undefined,
  cancelUpstream?: () => void,
): AsyncIterable<Chunk> {
  const guard = new StreamGuard(rules, askGuard, signal, mode === "incremental");
  if (mode === "incremental" && !guard.judgesModel) return new IncrementalChunks(guard, chunks[Symbol.asyncIterator](), onEvent, cancelUpstream);
  return guardSteps(guard, chunks, op, mode, onEvent, cancelUpstream);
}

/** The guard's events to `onEvent`; a StageStop as the PolicyError it stands for (events reported first). */
function reportTo(guard: StreamGuard, onEvent: (e: GovernanceEvent) => void): void {
  for (const e of guard.events()) onEvent(e);
}

function failWith(guard: StreamGuard, onEvent: (e: GovernanceEvent) => void, e: unknown): never {
  if (e instanceof StageStop) {
    const err = guard.toError(e);
    reportTo(guard, onEvent);
    throw err;
  }
  throw e;
}

/**
 * The incremental guard when no rule calls a guard model (nothing then releases text between two
 * reads): a plain async iterator, one promise per chunk. As an async generator it cost a
 * generator step, its promises and an async-from-sync iterator per chunk: the largest allocator of
 * a stream's path (~25 KB per 16-chunk stream of ~240 KB, sampled). Same behaviour as guardSteps:
 * chunks from the first finish_reason on are held until the upstream's [DONE], and go out after the
 * flushed tails; a stop ends the upstream and reports the events before the PolicyError.
 */
class IncrementalChunks implements AsyncIterableIterator<Chunk> {
  /** Chunks held from the first finish on, sent after the upstream's end. */
  private readonly after: Chunk[] = [];
  private at = 0;
  /** The upstream's end was read (or it failed): from then on `after` is sent. */
  private flushing = false;
  /** The upstream is finished with (ended, failed, or stopped). */
  private ended = false;
  /** The read in flight, if any (a stop cancels it). */
  private reading: Promise<IteratorResult<Chunk>> | undefined;
  private readonly onRead = (r: IteratorResult<Chunk>): IteratorResult<Chunk> | Promise<IteratorResult<Chunk>> => this.read(r);
  private readonly onFail = (e: unknown): never => this.fail(e);
  /** The slices of a large chunk still to guard (chunk-slices.ts), from sliceAt on. */
  private slices: Chunk[] = [];
  private sliceAt = 0;
  /** The slices left were cut finer (see SLOW_SLICE_MS). */
  private fine = false;

  constructor(
    private readonly guard: StreamGuard,
    private readonly it: AsyncIterator<Chunk>,
    private readonly onEvent: (e: GovernanceEvent) => void,
    private readonly cancelUpstream: (() => void) | undefined,
  ) {}

  next(): Promise<IteratorResult<Chunk>> {
    if (this.flushing) return Promise.resolve(this.flushed());
    if (this.ended) return Promise.resolve({ value: undefined, done: true });
    if (this.sliceAt < this.slices.length) return sliceTurn(this.onSlice);
    const r = this.it.next();
    this.reading = r;
    return r.then(this.onRead, this.onFail);
  }

  private read(r: IteratorResult<Chunk>): IteratorResult<Chunk> | Promise<IteratorResult<Chunk>> {
    this.reading = undefined;
    if (r.done) return this.end();
    const value = r.value;
    if (isLargeChunk(value)) {
      try {
        this.slices = sliceChunk(value);
      } catch (e) {
        // An upstream fault (chunk-slices.ts): the upstream is stopped as on a block.
        return this.fail(e);
      }
      // The first slice waits its turn too (see sliceTurn): guarded here, it ran in the turn that
      // read and parsed the chunk and cut it, and in the poll phase where its last read landed.
      this.sliceAt = 0;
      this.fine = false;
      return sliceTurn(this.onSlice);
    }
    return this.guarded(value);
  }

  /** The next slice of a large chunk, a turn of the event loop after the previous one (or after its read). */
  private readonly onSlice = (): IteratorResult<Chunk> | Promise<IteratorResult<Chunk>> => {
    if (this.ended) return { value: undefined, done: true };
    const value = this.slices[this.sliceAt]!;
    this.slices[this.sliceAt++] = undefined as unknown as Chunk;
    if (this.sliceAt >= this.slices.length) {
      this.slices = [];
      this.sliceAt = 0;
    }
    const t0 = performance.now();
    const out = this.guarded(value);
    if (!this.fine && this.sliceAt < this.slices.length && performance.now() - t0 > SLOW_SLICE_MS) this.refine();
    return out;
  };

  /** The slices left, cut into slices of FINE_SLICE_CHARS (each exactly as sliceChunk cuts a chunk). */
  private refine(): void {
    this.fine = true;
    const rest: Chunk[] = [];
    for (let i = this.sliceAt; i < this.slices.length; i++) {
      const slice = this.slices[i]!;
      // sliceChunk refuses nothing on a smaller limit that it passed on SLICE_CHARS; kept whole if it did.
      try {
        rest.push(...sliceChunk(slice, FINE_SLICE_CHARS));
      } catch {
        rest.push(slice);
      }
    }
    this.slices = rest;
    this.sliceAt = 0;
  }

  private guarded(value: Chunk): IteratorResult<Chunk> | Promise<IteratorResult<Chunk>> {
    let out: Chunk;
    try {
      out = this.guard.transform(value);
    } catch (e) {
      return this.fail(e);
    }
    if (!this.guard.holding) return { value: out, done: false };
    this.after.push(out);
    return this.next();
  }

  private async end(): Promise<IteratorResult<Chunk>> {
    this.ended = true;
    try {
      this.after.push(...(await this.guard.end()));
    } catch (e) {
      return failWith(this.guard, this.onEvent, e);
    }
    reportTo(this.guard, this.onEvent);
    this.flushing = true;
    return this.flushed();
  }

  private flushed(): IteratorResult<Chunk> {
    if (this.at < this.after.length) {
      const value = this.after[this.at]!;
      this.after[this.at++] = undefined as unknown as Chunk;
      return { value, done: false };
    }
    this.flushing = false;
    return { value: undefined, done: true };
  }

  private fail(e: unknown): never {
    if (!this.ended) {
      this.ended = true;
      stopUpstream(this.it, this.reading, this.cancelUpstream);
    }
    return failWith(this.guard, this.onEvent, e);
  }

  /** The consumer left early: the upstream is stopped. */
  return(): Promise<IteratorResult<Chunk>> {
    this.flushing = false;
    this.slices = [];
    this.sliceAt = 0;
    if (!this.ended) {
      this.ended = true;
      stopUpstream(this.it, this.reading, this.cancelUpstream);
    }
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<Chunk> {
    return this;
  }
}

/** Buffered mode, and incremental mode with guard-model rules (their verdicts race the reads). */
async function* guardSteps(
  guard: StreamGuard,
  chunks: AsyncIterable<Chunk>,
  _op: Operation,
  mode: "buffered" | "incremental",
  onEvent: (e: GovernanceEvent) => void,
  cancelUpstream?: () => void,
): AsyncIterable<Chunk> {
  const report = () => reportTo(guard, onEvent);
  const fail = (e: unknown): never => failWith(guard, onEvent, e);
  if (mode === "buffered") {
    const held: Chunk[] = [];
    try {
      for await (const chunk of chunks) {
        if (!isLargeChunk(chunk)) {
          held.push(guard.transform(chunk));
          continue;
        }
        const slices = sliceChunk(chunk);
        // Each slice in its place in the queue of work, the first too (as IncrementalChunks does).
        for (const slice of slices) held.push(await sliceTurn(() => guard.transform(slice)));
      }
      held.push(...(await guard.end()));
    } catch (e) {
      fail(e);
    }
    report();
    for (const c of held) yield c;
    return;
  }
  // Chunks from the first finish_reason on are held until the upstream's [DONE]: the finished
  // choices' tails are flushed into them then (normally only a usage chunk follows a finish).
  // While a guard model judges a window, its verdict is awaited beside the next chunk: text it
  // clears goes out at once, and a block ends the stream without waiting for the upstream.
  const after: Chunk[] = [];
  const it = chunks[Symbol.asyncIterator]();
  let pending: Promise<IteratorResult<Chunk>> | undefined;
  let ended = false;
  try {
    for (;;) {
      pending ??= it.next();
      const next = guard.waiting ? await Promise.race([pending, guard.verdictIn().then(() => undefined)]) : await pending;
      if (next === undefined) {
        const out = guard.released();
        if (guard.holding) after.push(...out);
        else for (const c of out) yield c;
        continue;
      }
      pending = undefined;
      if (next.done) break;
      const large = isLargeChunk(next.value);
      const slices = large ? sliceChunk(next.value) : [next.value];
      for (const slice of slices) {
        const out = large ? await sliceTurn(() => guard.transform(slice)) : guard.transform(slice);
        if (guard.holding) after.push(out);
        else yield out;
      }
    }
    ended = true;
    after.push(...(await guard.end()));
  } catch (e) {
    if (!ended) {
      ended = true;
      stopUpstream(it, pending, cancelUpstream);
    }
    fail(e);
  } finally {
    // The consumer left early.
    if (!ended) stopUpstream(it, pending, cancelUpstream);
  }
  report();
  for (const c of after) yield c;
}

/**
 * Ends the upstream stream. With a read pending, an async iterator's return() waits for it (for as
 * long as the model takes to send its next token): the call is aborted instead, when the caller
 * gave a way to.
 */
function stopUpstream(it: AsyncIterator<Chunk>, pending: Promise<IteratorResult<Chunk>> | undefined, cancelUpstream: (() => void) | undefined): void {
  if (pending) {
    pending.catch(() => {});
    cancelUpstream?.();
  }
  void it.return?.()?.catch(() => {});
}

/** Whether a JSON value holds a string anywhere. */
function hasString(node: unknown): boolean {
  if (typeof node === "string") return true;
  if (Array.isArray(node)) return node.some(hasString);
  if (isJsonObject(node)) for (const k in node) if (hasString(node[k])) return true;
  return false;
}

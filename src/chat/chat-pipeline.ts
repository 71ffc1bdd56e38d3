import type { GatewayConfig } from "../config/index.js";
import { GatewayError, toGatewayError } from "../errors/index.js";
import type { Admission, Limiter } from "../limits/index.js";
import { HOLD_ANSWER_BYTES, parseHeldAnswer, PolicyError, serialiseHeldBody, type GovernanceEvent, type PolicyEngine } from "../policy/index.js";
import { isTargetFault, recordedModelName, type TargetRegistry, type TargetState } from "../routing/index.js";
import { noopObserver, type AttemptTrace, type Outcome, type Refusal, type RequestObserver, type RequestSummary, type RequestTrace } from "../observer/index.js";
import { validateRequest } from "./request-validation.js";
import { RequestLimiter } from "./request-limiter.js";
import { StreamLimiter } from "./stream-limiter.js";
import type { JsonAnswer } from "../upstream/index.js";
import { heldAnswerOf, heldBodyOf, MAX_RECORDED_CHOICES, namesModelOnce, nextTurn, recordedFinishReason, releaseHeldAnswer, tokenCount, type CallContext, type CancelSignal, type ChatResult, type Chunk, type JsonObject, type Operation } from "../wire/index.js";

/** The policy engine as the pipeline uses it (src/policy implements it). */
export type ChatPolicy = PolicyEngine;

/** One consistent configuration: swapped whole on reload, so a request never sees half of two. */
export interface Runtime {
  config: GatewayConfig;
  registry: TargetRegistry;
  policy: ChatPolicy;
  /** Usage limits of this configuration (rates, concurrency, budgets); the store outlives reloads. */
  limits: Limiter;
}

/** Per-request attempt budget: the first try plus two failovers. */
const MAX_ATTEMPTS = 3;

/**
 * A whole answer: parsed, as text, and as the bytes of that text when they were valid UTF-8; or,
 * for a large one (src/wire/held-answer.ts), its summary marked as held, without text.
 */
type UpstreamAnswer = { body: JsonObject; text?: string; bytes?: Uint8Array };

type UpstreamArgs = { op: Operation; body: JsonObject; bytes?: Uint8Array; signal: CancelSignal; traceparent?: string; tracestate?: string; keepRaw: boolean; holdAnswerFrom: number };

/**
 * The target serving a request, kept beside its summary (so the summary stays plain data) in a
 * holder of the request's own rather than a WeakMap keyed by the summary: a WeakMap entry costs an
 * ephemeron write barrier per request and work for every garbage collection while it lives.
 */
type Serving = { state: TargetState | undefined };

/** A large body (src/wire/held-body.ts) is written as JSON by a policy worker, never here. */
async function withBytes(a: UpstreamArgs): Promise<UpstreamArgs> {
  const bytes = await serialiseHeldBody(a.body);
  return bytes ? { ...a, bytes } : a;
}

/**
 * The one chat pipeline both front doors call: validate, resolve the model, run the request
 * phase of the policy chain, call an available target (failing over while nothing has reached the
 * client), run the response phase (whole body or stream guard), and end the request's trace once.
 */
export class ChatPipeline {
  readonly streams: StreamLimiter;
  readonly requests: RequestLimiter;

  constructor(
    private readonly runtime: () => Runtime,
    private readonly observer: RequestObserver = noopObserver,
  ) {
    this.streams = new StreamLimiter(() => this.runtime().config.limits);
    this.requests = new RequestLimiter(() => this.runtime().config.limits.maxConcurrentRequests);
  }

  async run(op: Operation, body: unknown, ctx: CallContext): Promise<ChatResult> {
    // Under load a new request waits for its slice of a loop turn, behind the work already
    // waiting, so the loop keeps accepting connections (src/wire/loop-turns.ts); it goes only
    // once the loop has polled since, so a cancel that came meanwhile is read before it goes on.
    const turn = nextTurn(true);
    if (turn) await turn;
    const rt = this.runtime();
    const started = performance.now();
    const cancel = cancelOf(ctx);
    const b = body as JsonObject;
    const stream = b?.stream === true;
    // Recorded (span name, attributes, audit record) only as a configured name or a hashed placeholder.
    const model = typeof b?.model === "string" ? recordedModelName(rt.registry, b.model) : "";
    const trace = this.observer.start({
      op,
      model,
      stream,
      frontDoor: ctx.frontDoor,
      principal: ctx.principal,
      traceparent: ctx.traceparent,
      tracestate: ctx.tracestate,
      origin: ctx.origin,
      params: samplingOf(b),
    });
    const summary: RequestSummary = {
      op,
      frontDoor: ctx.frontDoor,
      principal: ctx.principal,
      model,
      stream,
      target: undefined,
      targetHealth: undefined,
      attempts: [],
      events: [],
      usage: undefined,
      finishReasons: [],
      responseModel: undefined,
      responseId: undefined,
      latencyMs: 0,
      firstChunkMs: undefined,
      outcome: "ok",
      error: undefined,
      limits: undefined,
    };
    let admission: Admission | undefined;
    const serving: Serving = { state: undefined };
    // Not async: with nothing to wait for (no audit log, or a write already done) a request's end
    // costs no promise and no await hop (issue #20). A failure before the wait throws.
    const finish = (outcome: Outcome, error?: GatewayError): Promise<void> | undefined => {
      // Settle before the record is written, so it carries the tokens charged.
      admission?.settle(summary.usage, summary.attempts.length > 0 && error?.status !== 429);
      const s = serving.state;
      if (s) summary.targetHealth = { circuitState: s.circuit.state, consecutiveFailures: s.circuit.consecutiveFailures, inFlight: s.inFlight };
      summary.outcome = outcome;
      summary.error = error;
      summary.latencyMs = performance.now() - started;
      const pending = trace.end(summary);
      if (!pending) return undefined;
      return pending.then(undefined, () => {
        throw new GatewayError("KT_ERR_AUDIT_UNAVAILABLE", "the audit log cannot be written");
      });
    };

    let releaseRequest: (() => void) | undefined;
    let heldResponse: JsonObject | undefined;
    try {
      if (!stream) releaseRequest = this.requests.acquire();
      // The client went while its body was read or parsed, or while this request waited its turn:
      // recorded as cancelled, and no upstream is called.
      if (cancel.aborted) throw clientGone();
      validateRequest(body, op);
      const group = rt.registry.resolve(body.model, op);
      // Tokens are charged before they are spent: a request over its limits goes no further.
      admission = rt.limits.begin(ctx.principal, op, body, stream);
      summary.limits = admission.record;
      // The embedded store answers at once: no promise, no microtask hop (see Admission.admit).
      const admitting = admission.admit();
      if (admitting) await admitting;
      let upstreamBody: JsonObject = body;
      // A guard model's verdict on the request, on its way while the upstream is called.
      let verdict: Promise<GovernanceEvent[]> | undefined;
      if (rt.policy.enabled) {
        // Synchronous when no rule waits (PII, the built-in classifier): no await hop then.
        const starting = rt.policy.startRequest(body, op, requestSignal(rt, ctx));
        const checked = starting instanceof Promise ? await starting : starting;
        summary.events.push(...checked.events);
        upstreamBody = checked.body;
        verdict = checked.verdict;
        // The client went while the rules ran (a large body's, in the pool): no upstream call.
        if (cancel.aborted) throw clientGone();
      }
      upstreamBody = admission.upstreamBody(upstreamBody);
      // The last look before an upstream is called: the client went while the limits admitted it.
      if (cancel.aborted) throw clientGone();
      // The client's own bytes go upstream when nothing was to change them: no request rules (with
      // rules the body is re-serialised from what they scanned, so bytes they never read, such as
      // a duplicate key, cannot pass), the limits added nothing, and the model is the target's.
      // The bytes come with the call (CallContext.rawBody) rather than from a WeakMap keyed by the
      // body: a WeakMap entry per request cost an ephemeron write barrier and GC work (issue #20).
      const raw = !rt.policy.enabled && upstreamBody === body ? ctx.rawBody : undefined;
      const verbatim = raw !== undefined && namesModelOnce(raw) ? raw : undefined;
      const held = admission;
      // While a verdict is pending the upstream call can be cancelled by it: an unsafe request's
      // upstream is aborted and its answer never read.
      // A guard model judging a stream's windows may also end the upstream call.
      const gate = verdict || (stream && rt.policy.judgesStreamsByModel) ? new AbortController() : undefined;
      const upstreamSignal = gate ? AbortSignal.any([ctx.signal, gate.signal]) : undefined;
      const args = (s: TargetState, at: AttemptTrace | undefined): UpstreamArgs => {
        const same = verbatim !== undefined && b.model === s.target.upstreamModel;
        return {
          op,
          // A shallow copy: only `model` changes, every other field goes upstream verbatim.
          body: same ? upstreamBody : { ...upstreamBody, model: s.target.upstreamModel },
          bytes: same ? verbatim : undefined,
          // The cheap form (the front door's cancel source) unless a verdict can end the call too:
          // a stream's upstream reader takes either (onCancel), so no AbortController per stream.
          signal: upstreamSignal ?? cancel,
          traceparent: at?.traceparent ?? trace.traceparent,
          tracestate: trace.tracestate,
          // A guard rewrites every chunk: the upstream's text of each is not kept beside it then.
          keepRaw: !rt.policy.hasResponseRules,
          // A large non-streamed answer is read into shared memory and parsed by a pool worker.
          holdAnswerFrom: HOLD_ANSWER_BYTES,
        };
      };
      if (stream) {
        const release = this.streams.acquire(ctx.principal.keyId);
        const opened = this.streamWithFailover(rt, group, summary, serving, ctx, trace, upstreamSignal, async (s, at) => {
          const reserving = held.forTarget(s.target.id);
          if (reserving) await reserving;
          const a = args(s, at);
          return s.client.stream(heldBodyOf(a.body) ? await withBytes(a) : a).then((upstream) =>
            rt.policy.hasResponseRules ? rt.policy.guardStream(upstream, op, rt.config.streaming.mode, (e) => summary.events.push(e), guardSignal(rt, ctx), gate && (() => gate.abort())) : upstream,
          );
        });
        const chunks = verdict ? holdUntilVerdict(opened, verdict, gate!, summary.events) : opened;
        // The usage chunk the gateway asked for is the client's only if the client asked too.
        const so = b.stream_options as JsonObject | undefined;
        const strip = held.countsTokens && !(so && typeof so === "object" && so.include_usage === true);
        return {
          stream: true,
          verbatim: !rt.policy.hasResponseRules,
          headers: held.headers,
          chunks: observeStream(chunks, summary, started, cancel, trace, held.countsTokens ? held : undefined, strip, (o, e) => {
            release();
            // A promise always (observeStream chains on it), and a throw becomes its rejection.
            return (async () => {
              const f = finish(o, e);
              if (f) await f;
            })();
          }),
        };
      }
      // Not an async closure: an async function returning the call's promise would wrap it in a
      // promise of its own and resolve that through two more microtasks (issue #20).
      const answer = (s: TargetState, at: AttemptTrace | undefined): Promise<JsonAnswer> => {
        const a = args(s, at);
        // The arguments as they are: no spread copy per call.
        return heldBodyOf(a.body) ? withBytes(a).then((w) => s.client.jsonText(w)) : s.client.jsonText(a);
      };
      const call = this.callUpstream(rt, group, summary, serving, ctx, trace, upstreamSignal, (s, at) => {
        const reserving = held.forTarget(s.target.id);
        return reserving ? reserving.then(() => answer(s, at)) : answer(s, at);
      });
      if (verdict) {
        try {
          summary.events.push(...(await verdict));
        } catch (err) {
          // Unsafe (or no verdict, failing closed): the upstream is cancelled and its answer, if
          // any came, discarded. Its attempt ends before the request's record is written.
          gate!.abort(err);
          await call.then(
            (a) => releaseHeldAnswer(a.body),
            () => {},
          );
          throw err;
        }
      }
      const { body: response, text, bytes } = await call;
      // A held answer's pooled memory goes back if the request fails from here on.
      if (text === undefined) heldResponse = response;
      let out = response;
      if (rt.policy.hasResponseRules) {
        // A held answer's rules run in the pool: they get the client's signal, so a client gone
        // drops their waiting jobs (held-answer.ts).
        const checking = rt.policy.checkResponse(response, op, text === undefined ? ctx.signal : guardSignal(rt, ctx));
        const checked = checking instanceof Promise ? await checking : checking;
        summary.events.push(...checked.events);
        out = checked.body;
      }
      noteResponse(summary, out);
      const ended = finish("ok");
      if (ended) await ended;
      if (text === undefined) {
        // A held answer: its bytes (the upstream's own, or as a worker wrote them anew) are the
        // answer; `body` is only its summary. The front door hands the memory back once sent.
        const h = heldAnswerOf(out)!;
        heldResponse = undefined;
        return { stream: false, body: out, rawBytes: Buffer.from(h.bytes, 0, h.length), headers: held.headers, release: () => releaseHeldAnswer(out) };
      }
      // Unchanged by policy (the response phase returns its input when it redacts nothing): the
      // upstream's bytes can go out as they came, without serialising the object again.
      return out === response ? { stream: false, body: out, raw: text, rawBytes: bytes, headers: held.headers } : { stream: false, body: out, headers: held.headers };
    } catch (err) {
      const e = toGatewayError(err);
      if (admission && e.headers === undefined) e.headers = admission.headers;
      // A block's events (which rule fired, counts by type) belong in the refused request's record.
      if (err instanceof PolicyError) summary.events.push(...err.events);
      releaseHeldAnswer(heldResponse);
      if (summary.latencyMs === 0) await finish(outcomeOf(e, cancel), e);
      throw e;
    } finally {
      releaseRequest?.();
    }
  }

  /**
   * Records a request the front door refused before it reached the pipeline (authentication,
   * scope, an unreadable body or message). A returned promise resolves once the record is in the
   * log's file: the front door answers after it.
   */
  refuse(refusal: Refusal): Promise<void> | void {
    return this.observer.refuse?.(refusal);
  }

  private pickNext(rt: Runtime, group: TargetState[], tried: Set<TargetState>, summary: RequestSummary, serving: Serving): TargetState {
    const s = rt.registry.pick(group, tried, summary.principal.keyId);
    serving.state = s;
    tried.add(s);
    summary.target = s.target;
    summary.attempts.push(s.target.id);
    return s;
  }

  private mayRetry(rt: Runtime, group: TargetState[], tried: Set<TargetState>, e: GatewayError, ctx: CallContext, stop: AbortSignal | undefined): boolean {
    return isTargetFault(e) && tried.size < MAX_ATTEMPTS && !cancelOf(ctx).aborted && stop?.aborted !== true && rt.registry.hasAlternative(group, tried);
  }

  /** A non-streamed answer from an available target, failing over on a target fault. */
  private async callUpstream(
    rt: Runtime,
    group: TargetState[],
    summary: RequestSummary,
    serving: Serving,
    ctx: CallContext,
    trace: RequestTrace,
    stop: AbortSignal | undefined,
    call: (s: TargetState, at: AttemptTrace | undefined) => Promise<JsonAnswer>,
  ): Promise<UpstreamAnswer> {
    const tried = new Set<TargetState>();
    for (;;) {
      const s = this.pickNext(rt, group, tried, summary, serving);
      const at = trace.attempt?.(s.target);
      try {
        const got = await call(s, at);
        // A large answer is parsed by a pool worker (src/policy/held-answer.ts); only its summary comes here.
        const answer: UpstreamAnswer = got.held ? { body: await parseHeldAnswer(got.held.bytes, got.held.length, s.target.id, cancelOf(ctx)) } : got;
        rt.registry.report(s, undefined, summary.principal.keyId);
        at?.end(undefined, at ? answerOf(answer.body) : undefined);
        return answer;
      } catch (err) {
        const e = scrubbed(rt, toGatewayError(err));
        rt.registry.report(s, e, summary.principal.keyId);
        at?.end(e);
        if (!this.mayRetry(rt, group, tried, e, ctx, stop)) throw e;
      }
    }
  }

  /**
   * Streams from one target; while no chunk has been handed on (headers not yet sent to the
   * client, or a buffered guard still collecting), a target fault moves on to the next target.
   */
  private streamWithFailover(
    rt: Runtime,
    group: TargetState[],
    summary: RequestSummary,
    serving: Serving,
    ctx: CallContext,
    trace: RequestTrace,
    stop: AbortSignal | undefined,
    open: (s: TargetState, at: AttemptTrace | undefined) => Promise<AsyncIterable<Chunk>>,
  ): AsyncIterableIterator<Chunk> {
    return new FailoverStream(rt, summary, () => this.openFirst(rt, group, summary, serving, ctx, trace, stop, open));
  }

  /** The first target that answers with a first chunk (or its end), failing over on a target fault. */
  private async openFirst(
    rt: Runtime,
    group: TargetState[],
    summary: RequestSummary,
    serving: Serving,
    ctx: CallContext,
    trace: RequestTrace,
    stop: AbortSignal | undefined,
    open: (s: TargetState, at: AttemptTrace | undefined) => Promise<AsyncIterable<Chunk>>,
  ): Promise<Attempt> {
    const tried = new Set<TargetState>();
    for (;;) {
      const s = this.pickNext(rt, group, tried, summary, serving);
      const at = trace.attempt?.(s.target);
      let it: AsyncIterator<Chunk> | undefined;
      try {
        it = (await open(s, at))[Symbol.asyncIterator]();
        return { s, at, it, first: await it.next() };
      } catch (err) {
        const e = scrubbed(rt, toGatewayError(err));
        rt.registry.report(s, e, summary.principal.keyId);
        at?.end(e);
        await it?.return?.().catch(() => {});
        if (this.mayRetry(rt, group, tried, e, ctx, stop)) continue;
        throw e;
      }
    }
  }
}

/** The target a stream is read from, its attempt's trace, and its first read. */
type Attempt = { s: TargetState; at: AttemptTrace | undefined; it: AsyncIterator<Chunk>; first: IteratorResult<Chunk> };

const DONE: IteratorResult<Chunk> = Object.freeze({ value: undefined, done: true });

/**
 * A stream from the target openFirst found: its chunks passed on, its end (or fault, or the
 * consumer leaving) reported to the registry and the attempt's trace once. A plain async iterator,
 * one promise per chunk: as an async generator each chunk cost a generator step and its promises.
 */
class FailoverStream implements AsyncIterableIterator<Chunk> {
  private attempt: Attempt | undefined;
  private finished = false;
  /** The consumer left while the first target was being found. */
  private left = false;
  private readonly onNext = (r: IteratorResult<Chunk>): IteratorResult<Chunk> => this.passed(r);
  private readonly onError = (err: unknown): never => this.failed(err);

  constructor(
    private readonly rt: Runtime,
    private readonly summary: RequestSummary,
    private readonly opener: () => Promise<Attempt>,
  ) {}

  next(): Promise<IteratorResult<Chunk>> {
    if (this.finished) return Promise.resolve(DONE);
    const a = this.attempt;
    if (a === undefined) return this.start();
    return a.it.next().then(this.onNext, this.onError);
  }

  private async start(): Promise<IteratorResult<Chunk>> {
    let a: Attempt;
    try {
      a = await this.opener();
    } catch (err) {
      // No target answered: the stream ends with that error, once.
      this.finished = true;
      throw err;
    }
    this.attempt = a;
    if (this.left) {
      await this.return();
      return DONE;
    }
    return this.passed(a.first);
  }

  private passed(r: IteratorResult<Chunk>): IteratorResult<Chunk> {
    if (r.done) {
      this.finished = true;
      const a = this.attempt!;
      this.rt.registry.report(a.s, undefined, this.summary.principal.keyId);
      a.at?.end(undefined, this.summary);
    }
    return r;
  }

  private failed(err: unknown): never {
    this.finished = true;
    const a = this.attempt!;
    const e = err instanceof PolicyError ? err : scrubbed(this.rt, toGatewayError(err));
    this.rt.registry.report(a.s, toGatewayError(e), this.summary.principal.keyId);
    a.at?.end(toGatewayError(e), this.summary);
    throw e;
  }

  /** The consumer left early: the upstream stream is released now. */
  async return(): Promise<IteratorResult<Chunk>> {
    const a = this.attempt;
    if (a === undefined) {
      this.left = true;
      return DONE;
    }
    if (!this.finished) {
      this.finished = true;
      const e = new GatewayError("KT_ERR_CANCELLED", "the client cancelled the stream");
      this.rt.registry.report(a.s, e, this.summary.principal.keyId);
      a.at?.end(e, this.summary);
      await a.it.return?.().catch(() => {});
    }
    return DONE;
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<Chunk> {
    return this;
  }
}

/** Errors whose message carries the upstream's own text (which may quote the prompt). */
const UPSTREAM_TEXT: ReadonlySet<string> = new Set(["KT_ERR_UPSTREAM_FAILED", "KT_ERR_UPSTREAM_REJECTED", "KT_ERR_UPSTREAM_PROTOCOL"]);

/**
 * An upstream error with its text through the response-phase PII rules, before it reaches the
 * client, the audit record or the target's last error (ListTargets).
 */
function scrubbed(rt: Runtime, e: GatewayError): GatewayError {
  if (!UPSTREAM_TEXT.has(e.code) || !rt.policy.hasResponseRules) return e;
  const message = rt.policy.scrubText(e.message);
  if (message === e.message) return e;
  return new GatewayError(e.code, message, { status: e.status, type: e.type, param: e.param, retryAfter: e.retryAfter, cause: e.cause });
}

/** The cheapest form of the call's cancellation the front door offers. */
function cancelOf(ctx: CallContext): CancelSignal {
  return ctx.cancel ?? ctx.signal;
}

/** The AbortSignal a policy check needs only when a rule calls a guard model; not built otherwise. */
function guardSignal(rt: Runtime, ctx: CallContext): AbortSignal | undefined {
  return rt.policy.usesSignal ? ctx.signal : undefined;
}

/**
 * A non-held request body from this many bytes may have its rules run in the policy pool
 * (chain-offload.ts: 32 Ki characters of text, or 512 texts): such a request's check gets the
 * client's signal, so its waiting jobs are dropped if the client goes. A held body carries its
 * own (HeldBody.cancel).
 */
const POOLED_BODY_BYTES = 8 * 1024;

/** The request check's signal: the guard's, or, for a body whose rules may run in the pool, the client's. */
function requestSignal(rt: Runtime, ctx: CallContext): AbortSignal | undefined {
  // Already an AbortSignal when the front door has no cheaper form (the RPC front doors).
  if (rt.policy.usesSignal || ctx.cancel === undefined) return ctx.signal;
  const raw = ctx.rawBody;
  return raw !== undefined && raw.length >= POOLED_BODY_BYTES ? ctx.signal : undefined;
}

function clientGone(): GatewayError {
  return new GatewayError("KT_ERR_CANCELLED", "the client cancelled the request");
}

function outcomeOf(e: GatewayError, signal: CancelSignal): Outcome {
  if (e.code === "KT_ERR_POLICY_BLOCKED") return "blocked";
  if (e.code === "KT_ERR_CANCELLED" || signal.aborted) return "cancelled";
  return "error";
}

/** The sampling parameters a span reports (GenAI request attributes); numbers only. */
function samplingOf(b: JsonObject | undefined): { temperature?: number; maxTokens?: number; topP?: number } | undefined {
  if (!b || typeof b !== "object") return undefined;
  const t = b.temperature;
  const m = b.max_tokens ?? b.max_completion_tokens;
  const p = b.top_p;
  if (typeof t !== "number" && typeof m !== "number" && typeof p !== "number") return undefined;
  const out: { temperature?: number; maxTokens?: number; topP?: number } = {};
  if (typeof t === "number") out.temperature = t;
  if (typeof m === "number") out.maxTokens = m;
  if (typeof p === "number") out.topP = p;
  return out;
}

/** What an attempt's span reports of a whole (non-streamed) answer. */
function answerOf(body: JsonObject) {
  const usage = body.usage as { prompt_tokens?: unknown; completion_tokens?: unknown } | null | undefined;
  const finishReasons: string[] = [];
  noteFinishReasons(finishReasons, body.choices);
  return {
    usage: usage && typeof usage === "object" ? { input: tokenCount(usage.prompt_tokens), output: tokenCount(usage.completion_tokens) } : undefined,
    responseModel: typeof body.model === "string" ? body.model : undefined,
    responseId: typeof body.id === "string" ? body.id : undefined,
    finishReasons,
  };
}

function noteResponse(summary: RequestSummary, body: JsonObject): void {
  if (typeof body.model === "string") summary.responseModel = body.model;
  if (typeof body.id === "string") summary.responseId = body.id;
  const usage = body.usage as { prompt_tokens?: unknown; completion_tokens?: unknown } | null | undefined;
  if (usage && typeof usage === "object") summary.usage = { input: tokenCount(usage.prompt_tokens), output: tokenCount(usage.completion_tokens) };
  noteFinishReasons(summary.finishReasons, body.choices);
}

/** Each choice's finish reason, as recorded (recordedFinishReason), up to MAX_RECORDED_CHOICES in all. */
function noteFinishReasons(into: string[], choices: unknown): void {
  if (!Array.isArray(choices)) return;
  for (let i = 0; i < choices.length && into.length < MAX_RECORDED_CHOICES; i++) {
    const f = recordedFinishReason((choices[i] as { finish_reason?: unknown } | null)?.finish_reason);
    if (f !== undefined) into.push(f);
  }
}

/** Chunks pulled ahead while a verdict is pending; past this the upstream waits (TCP backpressure). */
const HOLD_AHEAD = 1024;

/**
 * Nothing of the stream goes out before the request's guard verdict: its chunks are pulled (and
 * kept) as they come while the verdict is pending, so the upstream runs concurrently; a safe
 * verdict releases them, an unsafe one (or a failure that fails closed) aborts the upstream and
 * ends the stream with the PolicyError before any chunk — the client sees a plain HTTP error.
 */
async function* holdUntilVerdict(
  chunks: AsyncIterable<Chunk>,
  verdict: Promise<GovernanceEvent[]>,
  gate: AbortController,
  events: GovernanceEvent[],
): AsyncGenerator<Chunk> {
  const it = chunks[Symbol.asyncIterator]();
  const ahead: IteratorResult<Chunk>[] = [];
  let failure: { err: unknown } | undefined;
  let decided = false;
  // Reads ahead until the verdict is in, the stream ends, it fails or the buffer is full.
  const pump = (async () => {
    while (!decided && ahead.length < HOLD_AHEAD) {
      try {
        const n = await it.next();
        ahead.push(n);
        if (n.done) return;
      } catch (err) {
        failure = { err };
        return;
      }
    }
  })();
  let done = false;
  try {
    try {
      events.push(...(await verdict));
    } catch (err) {
      if (err instanceof PolicyError) events.push(...err.events);
      throw err;
    } finally {
      decided = true;
    }
    await pump;
    if (failure) {
      done = true;
      throw failure.err;
    }
    for (const n of ahead) {
      if (n.done) {
        done = true;
        return;
      }
      yield n.value;
    }
    for (;;) {
      const n = await it.next();
      if (n.done) {
        done = true;
        return;
      }
      yield n.value;
    }
  } finally {
    if (!done) {
      // Blocked, or the consumer left: the upstream is cancelled, whatever it was doing.
      gate.abort();
      await pump;
      await it.return?.().catch(() => {});
    }
  }
}

/** vLLM's closing usage chunk: `choices: []` and a `usage` object. */
function isUsageOnly(chunk: Chunk): boolean {
  return Array.isArray(chunk.choices) && chunk.choices.length === 0 && chunk.usage !== undefined && chunk.usage !== null;
}

function observeStream(
  chunks: AsyncIterable<Chunk>,
  summary: RequestSummary,
  started: number,
  signal: CancelSignal,
  trace: RequestTrace,
  counter: Admission | undefined,
  stripUsage: boolean,
  finish: (o: Outcome, e?: GatewayError) => Promise<void>,
): AsyncIterableIterator<Chunk> {
  return new ObservedStream(chunks[Symbol.asyncIterator](), summary, started, signal, trace, counter, stripUsage, finish);
}

/**
 * A stream's chunks noted into its summary (first chunk, model, usage, finish reasons; the token
 * counter), and the request finished once: at the end (before the end reaches the client, so a
 * saturated audit log holds the stream back), at a fault, or when the consumer leaves. A plain
 * async iterator: one promise per chunk, not a generator step.
 */
class ObservedStream implements AsyncIterableIterator<Chunk> {
  private ended = false;
  private readonly onNext = (r: IteratorResult<Chunk>): IteratorResult<Chunk> | Promise<IteratorResult<Chunk>> => this.noted(r);
  private readonly onError = (err: unknown): Promise<never> => this.failed(err);

  constructor(
    private readonly it: AsyncIterator<Chunk>,
    private readonly summary: RequestSummary,
    private readonly started: number,
    private readonly signal: CancelSignal,
    private readonly trace: RequestTrace,
    private readonly counter: Admission | undefined,
    private readonly stripUsage: boolean,
    private readonly finish: (o: Outcome, e?: GatewayError) => Promise<void>,
  ) {}

  next(): Promise<IteratorResult<Chunk>> {
    if (this.ended) return Promise.resolve(DONE);
    return this.it.next().then(this.onNext, this.onError);
  }

  private noted(r: IteratorResult<Chunk>): IteratorResult<Chunk> | Promise<IteratorResult<Chunk>> {
    if (r.done) {
      this.ended = true;
      return this.finish("ok").then(
        () => DONE,
        (err) => {
          throw toGatewayError(err);
        },
      );
    }
    const chunk = r.value;
    const summary = this.summary;
    if (summary.firstChunkMs === undefined) {
      summary.firstChunkMs = performance.now() - this.started;
      this.trace.firstChunk?.();
    }
    noteResponse(summary, chunk);
    this.counter?.noteChunk(chunk);
    if (this.stripUsage && isUsageOnly(chunk)) return this.next();
    return r;
  }

  private async failed(err: unknown): Promise<never> {
    const e = toGatewayError(err);
    if (!this.ended) {
      this.ended = true;
      await this.finish(outcomeOf(e, this.signal), e).catch(() => {});
    }
    throw e;
  }

  /** The consumer stopped early (client went away): the upstream is released, the request finished as cancelled. */
  async return(): Promise<IteratorResult<Chunk>> {
    if (this.ended) return DONE;
    this.ended = true;
    try {
      await this.it.return?.();
    } finally {
      void this.finish("cancelled", new GatewayError("KT_ERR_CANCELLED", "the client cancelled the stream")).catch(() => {});
    }
    return DONE;
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<Chunk> {
    return this;
  }
}

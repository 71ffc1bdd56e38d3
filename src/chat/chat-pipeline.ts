import type { GatewayConfig } from "../config/index.js";
import { GatewayError, toGatewayError } from "../errors/index.js";
import type { GovernanceEvent } from "../policy/governance-event.js";
import type { TargetRegistry, TargetState } from "../routing/index.js";
import { noopObserver, type Outcome, type RequestObserver, type RequestSummary, type RequestTrace } from "./request-observer.js";
import { validateRequest } from "./request-validation.js";
import type { CallContext, ChatResult, Chunk, JsonObject, Operation } from "./types.js";

/** What the pipeline needs of the policy engine (src/policy implements it). */
export interface ChatPolicy {
  readonly enabled: boolean;
  readonly hasResponseRules: boolean;
  checkRequest(body: JsonObject, op: Operation, signal?: AbortSignal): Promise<{ body: JsonObject; events: GovernanceEvent[] }>;
  checkResponse(body: JsonObject, op: Operation, signal?: AbortSignal): Promise<{ body: JsonObject; events: GovernanceEvent[] }>;
  guardStream(
    chunks: AsyncIterable<Chunk>,
    op: Operation,
    mode: "buffered" | "incremental",
    onEvent: (e: GovernanceEvent) => void,
    signal?: AbortSignal,
  ): AsyncIterable<Chunk>;
  /** One text through the chain, for GovernanceService.EvaluatePolicy and `kt policy test`. */
  evaluateText(
    text: string,
    direction: "request" | "response",
    policyId?: string,
    signal?: AbortSignal,
  ): Promise<{
    decision: string;
    findings: { policy: string; rule: string; type: string; start: number; end: number; action?: string }[];
    redactedText: string;
    events: GovernanceEvent[];
  }>;
}

/** One consistent configuration: swapped whole on reload, so a request never sees half of two. */
export interface Runtime {
  config: GatewayConfig;
  registry: TargetRegistry;
  policy: ChatPolicy;
}

/** Failures before the first byte that another target of the group may not share. */
const RETRYABLE = new Set(["KT_ERR_UPSTREAM_CONNECT", "KT_ERR_UPSTREAM_FAILED"]);
const MAX_ATTEMPTS = 3;

/**
 * The one chat pipeline both front doors call: validate, resolve the model, run the request
 * phase of the policy chain, call a healthy target (failing over before the first byte), run the
 * response phase (whole body or stream guard), and end the request's trace exactly once.
 */
export class ChatPipeline {
  constructor(
    private readonly runtime: () => Runtime,
    private readonly observer: RequestObserver = noopObserver,
  ) {}

  async run(op: Operation, body: unknown, ctx: CallContext): Promise<ChatResult> {
    const rt = this.runtime();
    const started = performance.now();
    const b = body as JsonObject;
    const stream = b?.stream === true;
    const model = typeof b?.model === "string" ? b.model : "";
    const trace = this.observer.start({ op, model, stream, frontDoor: ctx.frontDoor, principal: ctx.principal, traceparent: ctx.traceparent, tracestate: ctx.tracestate });
    const summary: RequestSummary = {
      op,
      frontDoor: ctx.frontDoor,
      principal: ctx.principal,
      model,
      stream,
      target: undefined,
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
    };
    const finish = (outcome: Outcome, error?: GatewayError) => {
      summary.outcome = outcome;
      summary.error = error;
      summary.latencyMs = performance.now() - started;
      trace.end(summary);
    };

    try {
      validateRequest(body, op);
      const group = rt.registry.resolve(body.model, op);
      let upstreamBody: JsonObject = body;
      if (rt.policy.enabled) {
        const checked = await rt.policy.checkRequest(body, op, ctx.signal);
        summary.events.push(...checked.events);
        upstreamBody = checked.body;
      }
      if (!stream) {
        const response = await this.callWithFailover(rt, group, summary, trace, ctx, (s, call) => s.client.json({ ...call, op }), upstreamBody);
        let out = response;
        if (rt.policy.hasResponseRules) {
          const checked = await rt.policy.checkResponse(response, op, ctx.signal);
          summary.events.push(...checked.events);
          out = checked.body;
        }
        noteResponse(summary, out);
        finish("ok");
        return { stream: false, body: out };
      }
      const upstream = await this.callWithFailover(rt, group, summary, trace, ctx, (s, call) => s.client.stream({ ...call, op }), upstreamBody);
      const guarded = rt.policy.hasResponseRules
        ? rt.policy.guardStream(upstream, op, rt.config.streaming.mode, (e) => summary.events.push(e), ctx.signal)
        : upstream;
      return { stream: true, chunks: observeStream(guarded, summary, started, ctx.signal, finish) };
    } catch (err) {
      const e = toGatewayError(err);
      finish(outcomeOf(e, ctx.signal), e);
      throw e;
    }
  }

  private async callWithFailover<T>(
    rt: Runtime,
    group: TargetState[],
    summary: RequestSummary,
    trace: RequestTrace,
    ctx: CallContext,
    call: (s: TargetState, c: { body: JsonObject; signal: AbortSignal; traceparent?: string; tracestate?: string }) => Promise<T>,
    body: JsonObject,
  ): Promise<T> {
    const tried = new Set<TargetState>();
    for (;;) {
      const s = rt.registry.pick(group, tried);
      tried.add(s);
      summary.target = s.target;
      summary.attempts.push(s.target.id);
      try {
        // A shallow copy: only `model` changes, every other field goes upstream verbatim.
        return await call(s, { body: { ...body, model: s.target.upstreamModel }, signal: ctx.signal, traceparent: trace.traceparent, tracestate: trace.tracestate });
      } catch (err) {
        const e = toGatewayError(err);
        const another = group.some((g) => g.healthy && !tried.has(g));
        if (!RETRYABLE.has(e.code) || !another || tried.size >= MAX_ATTEMPTS || ctx.signal.aborted) throw e;
      }
    }
  }
}

function outcomeOf(e: GatewayError, signal: AbortSignal): Outcome {
  if (e.code === "KT_ERR_POLICY_BLOCKED") return "blocked";
  if (e.code === "KT_ERR_CANCELLED" || signal.aborted) return "cancelled";
  return "error";
}

function noteResponse(summary: RequestSummary, body: JsonObject): void {
  if (typeof body.model === "string") summary.responseModel = body.model;
  if (typeof body.id === "string") summary.responseId = body.id;
  const usage = body.usage as { prompt_tokens?: number; completion_tokens?: number } | null | undefined;
  if (usage && typeof usage === "object") summary.usage = { input: usage.prompt_tokens ?? 0, output: usage.completion_tokens ?? 0 };
  const choices = body.choices;
  if (Array.isArray(choices))
    for (const c of choices) {
      const f = (c as { finish_reason?: unknown })?.finish_reason;
      if (typeof f === "string") summary.finishReasons.push(f);
    }
}

async function* observeStream(
  chunks: AsyncIterable<Chunk>,
  summary: RequestSummary,
  started: number,
  signal: AbortSignal,
  finish: (o: Outcome, e?: GatewayError) => void,
): AsyncGenerator<Chunk> {
  let ended = false;
  try {
    for await (const chunk of chunks) {
      if (summary.firstChunkMs === undefined) summary.firstChunkMs = performance.now() - started;
      noteResponse(summary, chunk);
      yield chunk;
    }
    ended = true;
    finish("ok");
  } catch (err) {
    ended = true;
    const e = toGatewayError(err);
    finish(outcomeOf(e, signal), e);
    throw e;
  } finally {
    // The consumer stopped early (client went away): the upstream was released by the iterator's return().
    if (!ended) finish("cancelled", new GatewayError("KT_ERR_CANCELLED", "the client cancelled the stream"));
  }
}

import { createTraceState, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Span, type Tracer } from "@opentelemetry/api";
import type { FrontDoor, RequestOrigin } from "../wire/index.js";
import type { GovernanceEvent, PolicyDecision } from "../policy/index.js";
import type { AuditKind, AuditOutcome, AuditRecordInput, LimitsFacts } from "./audit-record.js";
import { buildAuditRecord, decisionOf, type RequestFacts } from "./build-audit-record.js";
import { activeTelemetry, type Telemetry } from "./telemetry.js";
import { formatTraceparent, parseTraceparent, randomSpanId, randomTraceId } from "./traceparent.js";

export interface RequestSpanStart {
  /** `request` for chat/completion calls, `access` for governance/admin RPCs. Default `request`. */
  kind?: AuditKind;
  /** `chat`, `completion`, or the RPC name. */
  operation: string;
  frontDoor: FrontDoor;
  /** API key id (never the key). */
  principal: string;
  /** The model as the client asked for it. */
  model: string;
  stream: boolean;
  /** Incoming W3C trace context, if the client sent one. */
  traceparent?: string;
  tracestate?: string;
  pack?: { name: string; version: string };
  /** Epoch ms the request arrived; defaults to now. */
  startTime?: number;
  /** Peer and route (HTTP/RPC semantic-convention attributes on the span; peer address in the record). */
  origin?: RequestOrigin;
  /** Sampling parameters the client asked for (GenAI request attributes). */
  params?: SamplingParams;
  /** A refused authentication: the fingerprint of what was presented (never the key). */
  credential?: string;
  /** An aggregate of this many refused requests (failed authentications in one window). */
  count?: number;
}

export interface SamplingParams {
  temperature?: number;
  maxTokens?: number;
  topP?: number;
}

/** What an upstream attempt's CLIENT span reports from the answer, when it came. */
export interface AttemptResponse {
  usage?: { input: number; output: number } | undefined;
  responseModel?: string | undefined;
  responseId?: string | undefined;
  finishReasons?: readonly string[] | undefined;
}

/** One call to an upstream target: a CLIENT span `chat {model}` under the request's span. */
export interface UpstreamAttempt {
  /** The `traceparent` to send with this call: the attempt's span as the parent. */
  readonly traceparent: string;
  /** Ends the attempt; `errorType` when it failed (our KT_ERR_* code or the upstream's type). */
  end(errorType?: string, response?: AttemptResponse): void;
}

export interface RequestSpanTarget {
  id: string;
  description?: string;
  /** The target's base URL: only host and port are recorded (server.address / server.port). */
  baseUrl?: string;
}

/** Typed on purpose: there is no free-form attribute, so no content can be attached by accident. */
export interface RequestSpanAttributes {
  target?: RequestSpanTarget;
  /** The serving target's health when the request ended (metrics-style attributes). */
  targetHealth?: { circuitState: string; consecutiveFailures: number; inFlight: number };
  /** How many targets were tried (more than 1 when failover happened). */
  attempts?: number;
  /** Overrides the decision derived from governance events. */
  decision?: PolicyDecision;
}

/** A record's place in the hash chain. */
export interface ChainHead {
  seq: number;
  hash: string;
}

export interface RequestSpanResult {
  outcome: AuditOutcome;
  /** The gRPC/Connect status code the client received, for RPC front doors. */
  grpcStatus?: number;
  /** error.type: a low-cardinality class such as the OpenAI error type or our KT_ERR_* code. */
  errorType?: string;
  /** Our stable error code (KT_ERR_*), kept in the audit record. */
  errorCode?: string;
  httpStatus?: number;
  usage?: { input: number; output: number };
  finishReasons?: string[];
  responseModel?: string;
  responseId?: string;
  limits?: LimitsFacts;
}

export interface RequestSpan {
  readonly traceId: string;
  readonly spanId: string;
  setAttributes(attrs: RequestSpanAttributes): void;
  addGovernanceEvent(e: GovernanceEvent): void;
  /** Call when the first chunk goes to the client; later calls are ignored. */
  markFirstChunk(): void;
  /**
   * A CLIENT span for one upstream call, when spans are exported (undefined otherwise: the
   * request's own traceparent then goes upstream).
   */
  attempt(target: { id: string; baseUrl?: string; upstreamModel: string }): UpstreamAttempt | undefined;
  /**
   * Ends the span (once) and returns the audit record built from the same facts. `seal` puts the
   * record into the log and returns its chain position, which goes on the span (`kt.audit.seq`,
   * `kt.audit.hash`) before it ends: the trace store then witnesses the chain head. A promised
   * position ends the span when it arrives.
   */
  end(result: RequestSpanResult, seal?: (record: AuditRecordInput) => ChainHead | Promise<ChainHead | undefined> | undefined): AuditRecordInput;
  /** The `traceparent` to send upstream: this span as the parent. */
  traceparent(): string;
  /** The incoming `tracestate`, to forward unchanged. */
  tracestate(): string | undefined;
}

const PROVIDER = "openllm";
const serverCache = new Map<string, { address: string; port: number } | null>();

/** Host and port of a target base URL, parsed once per distinct URL rather than per request. */
function serverOf(baseUrl: string): { address: string; port: number } | undefined {
  let s = serverCache.get(baseUrl);
  if (s === undefined) {
    try {
      const u = new URL(baseUrl);
      s = { address: u.hostname, port: u.port ? Number(u.port) : u.protocol === "https:" ? 443 : 80 };
    } catch {
      s = null;
    }
    if (serverCache.size < 1024) serverCache.set(baseUrl, s);
  }
  return s ?? undefined;
}

function genAiOperation(operation: string): string | undefined {
  return operation === "chat" ? "chat" : operation === "completion" ? "text_completion" : undefined;
}

/**
 * Starts the one span of a request. With telemetry running it is a real OTel span (GenAI semantic
 * conventions plus `kt.*`); without, it only keeps ids and facts, and still yields a valid
 * traceparent (continuing the client's trace when it sent one) so the audit record and OpenLLM's
 * logs can always be joined on the trace id.
 */
export function startRequestSpan(start: RequestSpanStart, telemetry: Telemetry | undefined = activeTelemetry()): RequestSpan {
  return new GatewayRequestSpan(start, telemetry);
}

class GatewayRequestSpan implements RequestSpan {
  readonly traceId: string;
  readonly spanId: string;
  private readonly flags: number;
  private readonly incomingState: string | undefined;
  private readonly otel: Span | undefined;
  private tracer: Tracer | undefined;
  private op: string | undefined;
  private readonly t0 = performance.now();
  private readonly facts: Omit<RequestFacts, "outcome" | "latencyMs" | "decision"> & { decision?: PolicyDecision };
  private decisionOverride: PolicyDecision | undefined;
  private ended: AuditRecordInput | undefined;

  constructor(start: RequestSpanStart, telemetry: Telemetry | undefined) {
    const parent = parseTraceparent(start.traceparent);
    this.incomingState = parent ? start.tracestate : undefined;
    const kind = start.kind ?? "request";
    const op = genAiOperation(start.operation);

    if (telemetry) {
      const isRequest = kind === "request";
      const startAttrs: Attributes = {
        "kt.principal": start.principal,
        "kt.front_door": start.frontDoor,
      };
      if (isRequest) {
        startAttrs["gen_ai.request.stream"] = start.stream;
        if (op) {
          startAttrs["gen_ai.operation.name"] = op;
          startAttrs["gen_ai.provider.name"] = PROVIDER;
          startAttrs["gen_ai.request.model"] = start.model;
        }
        const p = start.params;
        if (p?.temperature !== undefined) startAttrs["gen_ai.request.temperature"] = p.temperature;
        if (p?.maxTokens !== undefined) startAttrs["gen_ai.request.max_tokens"] = p.maxTokens;
        if (p?.topP !== undefined) startAttrs["gen_ai.request.top_p"] = p.topP;
      }
      if (!op || !isRequest) startAttrs["kt.operation"] = start.operation;
      if (start.credential !== undefined) startAttrs["kt.auth.credential"] = start.credential;
      if (start.count !== undefined) startAttrs["kt.aggregated_count"] = start.count;
      originAttributes(startAttrs, start.origin, start.frontDoor);
      const ctx = parent
        ? trace.setSpanContext(ROOT_CONTEXT, {
            traceId: parent.traceId,
            spanId: parent.spanId,
            traceFlags: parent.flags,
            isRemote: true,
            ...(this.incomingState ? { traceState: createTraceState(this.incomingState) } : {}),
          })
        : ROOT_CONTEXT;
      this.otel = telemetry.tracer.startSpan(
        serverSpanName(start, op),
        { kind: SpanKind.SERVER, attributes: startAttrs, ...(start.startTime !== undefined ? { startTime: start.startTime } : {}) },
        ctx,
      );
      this.tracer = telemetry.tracer;
      this.op = op;
      const sc = this.otel.spanContext();
      this.traceId = sc.traceId;
      this.spanId = sc.spanId;
      this.flags = sc.traceFlags;
    } else {
      this.traceId = parent?.traceId ?? randomTraceId();
      this.spanId = randomSpanId();
      // Without our own exporter we still mark the trace sampled so OpenLLM's tracing (if any)
      // records its side, joinable with the audit record by trace id.
      this.flags = parent?.flags ?? 1;
    }

    // Optional members assigned, not spread: each conditional spread built a throw-away object.
    const facts: Omit<RequestFacts, "outcome" | "latencyMs" | "decision"> = {
      kind,
      operation: start.operation,
      frontDoor: start.frontDoor,
      principal: start.principal,
      model: start.model,
      stream: start.stream,
      traceId: this.traceId,
      spanId: this.spanId,
      startTime: start.startTime ?? Date.now(),
      rulesFired: [],
      redactions: {},
      events: [],
    };
    if (start.origin?.clientAddress !== undefined) facts.clientAddress = start.origin.clientAddress;
    if (start.credential !== undefined) facts.credential = start.credential;
    if (start.count !== undefined) facts.count = start.count;
    if (start.pack) facts.pack = { name: start.pack.name, version: start.pack.version };
    this.facts = facts;
  }

  setAttributes(attrs: RequestSpanAttributes): void {
    if (attrs.target) {
      this.facts.target = attrs.target.id;
      this.facts.targetDescription = attrs.target.description;
    }
    if (attrs.decision) this.decisionOverride = attrs.decision;
    if (this.otel && attrs.targetHealth) {
      this.otel.setAttributes({
        "kt.target.circuit_state": attrs.targetHealth.circuitState,
        "kt.target.consecutive_failures": attrs.targetHealth.consecutiveFailures,
        "kt.target.in_flight": attrs.targetHealth.inFlight,
      });
    }
    if (this.otel && attrs.attempts !== undefined) this.otel.setAttribute("kt.attempts", attrs.attempts);
  }

  addGovernanceEvent(e: GovernanceEvent): void {
    // Copy field by field: the event type carries counts only, and copying keeps it that way even
    // if a caller's object has more on it.
    const ev: GovernanceEvent = {
      policy: e.policy,
      rule: e.rule,
      ruleType: e.ruleType,
      action: e.action,
      phase: e.phase,
      counts: { ...e.counts },
    };
    if (e.engine !== undefined) ev.engine = e.engine;
    if (e.failedOpen !== undefined) ev.failedOpen = e.failedOpen;
    if (e.verdict !== undefined) ev.verdict = { category: e.verdict.category, score: e.verdict.score, threshold: e.verdict.threshold };
    if (e.leakBoundChars !== undefined) ev.leakBoundChars = e.leakBoundChars;
    this.facts.events.push(ev);
    const fired = `${ev.policy}/${ev.rule}`;
    if (!this.facts.rulesFired.includes(fired)) this.facts.rulesFired.push(fired);
    if (ev.action === "redact" || ev.action === "mask") {
      for (const [type, n] of Object.entries(ev.counts)) this.facts.redactions[type] = (this.facts.redactions[type] ?? 0) + n;
    }
    if (this.otel) {
      const a: Attributes = {
        "kt.policy.id": ev.policy,
        "kt.policy.rule": ev.rule,
        "kt.policy.rule_type": ev.ruleType,
        "kt.policy.action": ev.action,
        "kt.policy.phase": ev.phase,
      };
      for (const [type, n] of Object.entries(ev.counts)) a[`kt.policy.count.${type}`] = n;
      if (ev.engine) a["kt.policy.engine"] = ev.engine;
      if (ev.failedOpen !== undefined) a["kt.policy.failed_open"] = ev.failedOpen;
      if (ev.verdict) {
        a["kt.policy.category"] = ev.verdict.category;
        a["kt.policy.score"] = ev.verdict.score;
        a["kt.policy.threshold"] = ev.verdict.threshold;
      }
      if (ev.leakBoundChars !== undefined) a["kt.policy.stream_leak_bound_chars"] = ev.leakBoundChars;
      this.otel.addEvent("kt.governance", a);
    }
  }

  markFirstChunk(): void {
    if (this.facts.ttfcMs === undefined) this.facts.ttfcMs = Math.round(performance.now() - this.t0);
  }

  attempt(target: { id: string; baseUrl?: string; upstreamModel: string }): UpstreamAttempt | undefined {
    if (!this.otel || !this.tracer) return undefined;
    const attrs: Attributes = {
      "gen_ai.operation.name": this.op ?? this.facts.operation,
      "gen_ai.provider.name": PROVIDER,
      "gen_ai.request.model": target.upstreamModel,
      "kt.target.id": target.id,
    };
    const server = target.baseUrl ? serverOf(target.baseUrl) : undefined;
    if (server) {
      attrs["server.address"] = server.address;
      attrs["server.port"] = server.port;
    }
    const span = this.tracer.startSpan(`${this.op ?? this.facts.operation} ${target.upstreamModel}`, { kind: SpanKind.CLIENT, attributes: attrs }, trace.setSpan(ROOT_CONTEXT, this.otel));
    const sc = span.spanContext();
    return {
      traceparent: formatTraceparent(sc.traceId, sc.spanId, sc.traceFlags),
      end(errorType?: string, response?: AttemptResponse) {
        if (response) {
          const a: Attributes = {};
          if (response.responseModel !== undefined) a["gen_ai.response.model"] = response.responseModel;
          if (response.responseId !== undefined) a["gen_ai.response.id"] = response.responseId;
          if (response.finishReasons !== undefined && response.finishReasons.length > 0) a["gen_ai.response.finish_reasons"] = [...response.finishReasons];
          if (response.usage !== undefined) {
            a["gen_ai.usage.input_tokens"] = response.usage.input;
            a["gen_ai.usage.output_tokens"] = response.usage.output;
          }
          span.setAttributes(a);
        }
        if (errorType !== undefined) {
          span.setAttribute("error.type", errorType);
          span.setStatus({ code: SpanStatusCode.ERROR, message: errorType });
        }
        span.end();
      },
    };
  }

  end(result: RequestSpanResult, seal?: (record: AuditRecordInput) => ChainHead | Promise<ChainHead | undefined> | undefined): AuditRecordInput {
    if (this.ended) return this.ended;
    // Filled in place rather than spread: this runs once per request, and conditional spreads
    // build a throw-away object each.
    const facts = this.facts as RequestFacts;
    facts.decision = this.decisionOverride ?? decisionOf(facts.events);
    facts.latencyMs = Math.round(performance.now() - this.t0);
    facts.outcome = result.outcome;
    if (result.errorCode !== undefined) facts.errorCode = result.errorCode;
    if (result.httpStatus !== undefined) facts.httpStatus = result.httpStatus;
    if (result.grpcStatus !== undefined) facts.grpcStatus = result.grpcStatus;
    if (result.usage !== undefined) facts.usage = result.usage;
    if (result.finishReasons !== undefined) facts.finishReasons = result.finishReasons;
    if (result.limits !== undefined) facts.limits = result.limits;
    const record = buildAuditRecord(facts);
    this.ended = record;
    const head = seal?.(record);
    const otel = this.otel;
    if (otel) {
      otel.setAttributes(spanEndAttributes(facts, result));
      if (result.outcome !== "ok") {
        otel.setStatus({ code: SpanStatusCode.ERROR, message: result.outcome });
      }
      if (head instanceof Promise) {
        head.then(
          (h) => closeSpan(otel, h),
          () => closeSpan(otel, undefined),
        );
      } else closeSpan(otel, head);
    }
    return record;
  }

  traceparent(): string {
    return formatTraceparent(this.traceId, this.spanId, this.flags);
  }

  tracestate(): string | undefined {
    return this.incomingState;
  }
}

function closeSpan(otel: Span, head: ChainHead | undefined): void {
  if (head) otel.setAttributes({ "kt.audit.seq": head.seq, "kt.audit.hash": head.hash });
  otel.end();
}

/**
 * The SERVER span's name by the convention of the front door: HTTP `{method} {route}`, RPC
 * `{service}/{method}`; without either, the GenAI form `{operation} {model}`.
 */
function serverSpanName(start: RequestSpanStart, op: string | undefined): string {
  const o = start.origin;
  if (o?.rpcService && o.rpcMethod) return `${o.rpcService}/${o.rpcMethod}`;
  if (o?.httpMethod && o.httpRoute) return `${o.httpMethod} ${o.httpRoute}`;
  return op && (start.kind ?? "request") === "request" ? `${op} ${start.model}` : start.operation;
}

/** HTTP or RPC semantic-convention attributes of the server span. */
function originAttributes(a: Attributes, o: RequestOrigin | undefined, frontDoor: FrontDoor): void {
  if (!o) return;
  if (o.clientAddress !== undefined) a["client.address"] = o.clientAddress;
  if (o.clientPort !== undefined) a["client.port"] = o.clientPort;
  if (o.protocolVersion !== undefined) a["network.protocol.version"] = o.protocolVersion;
  if (o.rpcService !== undefined) {
    a["rpc.system"] = frontDoor === "connect" ? "connect_rpc" : "grpc";
    a["rpc.service"] = o.rpcService;
    if (o.rpcMethod !== undefined) a["rpc.method"] = o.rpcMethod;
  }
  if (o.httpMethod !== undefined) a["http.request.method"] = o.httpMethod;
  if (o.httpRoute !== undefined) {
    a["http.route"] = o.httpRoute;
    a["url.path"] = o.httpRoute;
  }
}

function spanEndAttributes(f: RequestFacts, r: RequestSpanResult): Attributes {
  const a: Attributes = { "kt.outcome": f.outcome };
  // Governance calls are not GenAI requests: no decision, no GenAI response attributes.
  if (f.kind === "request") {
    a["kt.policy.decision"] = f.decision;
    a["kt.policy.rules_fired"] = f.rulesFired;
  }
  if (f.target !== undefined) a["kt.target.id"] = f.target;
  if (f.targetDescription !== undefined) a["kt.target.description"] = f.targetDescription;
  for (const [type, n] of Object.entries(f.redactions)) a[`kt.redactions.${type}`] = n;
  if (f.pack) {
    a["kt.pack.name"] = f.pack.name;
    a["kt.pack.version"] = f.pack.version;
  }
  if (r.responseModel !== undefined) a["gen_ai.response.model"] = r.responseModel;
  if (r.responseId !== undefined) a["gen_ai.response.id"] = r.responseId;
  if (r.finishReasons !== undefined) a["gen_ai.response.finish_reasons"] = r.finishReasons;
  if (r.usage !== undefined) {
    a["gen_ai.usage.input_tokens"] = r.usage.input;
    a["gen_ai.usage.output_tokens"] = r.usage.output;
  }
  if (f.ttfcMs !== undefined) a["kt.time_to_first_chunk_ms"] = f.ttfcMs;
  if (f.limits !== undefined) {
    a["kt.limits.store"] = f.limits.store;
    a["kt.limits.store_state"] = f.limits.storeState;
    a["kt.limits.reserved_tokens"] = f.limits.reservedTokens;
    if (f.limits.chargedTokens !== undefined) a["kt.limits.charged_tokens"] = f.limits.chargedTokens;
    if (f.limits.refusedBy !== undefined) a["kt.limits.refused_by"] = f.limits.refusedBy;
  }
  if (r.httpStatus !== undefined) a["http.response.status_code"] = r.httpStatus;
  if (r.grpcStatus !== undefined) a["rpc.grpc.status_code"] = r.grpcStatus;
  if (f.outcome !== "ok") {
    a["error.type"] = r.errorType ?? r.errorCode ?? (f.outcome === "blocked" ? "policy_violation" : f.outcome === "cancelled" ? "cancelled" : "_OTHER");
    if (r.errorCode !== undefined) a["kt.error.code"] = r.errorCode;
  }
  return a;
}

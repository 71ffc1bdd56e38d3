import { createTraceState, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Span } from "@opentelemetry/api";
import type { FrontDoor } from "../wire/index.js";
import type { GovernanceEvent, PolicyDecision } from "../policy/governance-event.js";
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

export interface RequestSpanResult {
  outcome: AuditOutcome;
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
  /** Ends the span (once) and returns the audit record built from the same facts. */
  end(result: RequestSpanResult): AuditRecordInput;
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
  private readonly t0 = performance.now();
  private readonly facts: Omit<RequestFacts, "outcome" | "latencyMs" | "decision"> & { decision?: PolicyDecision };
  private decisionOverride: PolicyDecision | undefined;
  private server: { address: string; port: number } | undefined;
  private ended: AuditRecordInput | undefined;

  constructor(start: RequestSpanStart, telemetry: Telemetry | undefined) {
    const parent = parseTraceparent(start.traceparent);
    this.incomingState = parent ? start.tracestate : undefined;
    const kind = start.kind ?? "request";
    const op = genAiOperation(start.operation);

    if (telemetry) {
      const startAttrs: Attributes = {
        "kt.principal": start.principal,
        "kt.front_door": start.frontDoor,
        "gen_ai.request.stream": start.stream,
      };
      if (op && kind === "request") {
        startAttrs["gen_ai.operation.name"] = op;
        startAttrs["gen_ai.provider.name"] = PROVIDER;
        startAttrs["gen_ai.request.model"] = start.model;
      } else {
        startAttrs["kt.operation"] = start.operation;
      }
      const ctx = parent
        ? trace.setSpanContext(ROOT_CONTEXT, {
            traceId: parent.traceId,
            spanId: parent.spanId,
            traceFlags: parent.flags,
            isRemote: true,
            ...(this.incomingState ? { traceState: createTraceState(this.incomingState) } : {}),
          })
        : ROOT_CONTEXT;
      const name = op && kind === "request" ? `${op} ${start.model}` : start.operation;
      this.otel = telemetry.tracer.startSpan(
        name,
        { kind: SpanKind.SERVER, attributes: startAttrs, ...(start.startTime !== undefined ? { startTime: start.startTime } : {}) },
        ctx,
      );
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

    this.facts = {
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
      ...(start.pack ? { pack: { name: start.pack.name, version: start.pack.version } } : {}),
    };
  }

  setAttributes(attrs: RequestSpanAttributes): void {
    if (attrs.target) {
      this.facts.target = attrs.target.id;
      this.facts.targetDescription = attrs.target.description;
      this.server = attrs.target.baseUrl ? serverOf(attrs.target.baseUrl) : undefined;
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

  end(result: RequestSpanResult): AuditRecordInput {
    if (this.ended) return this.ended;
    // Filled in place rather than spread: this runs once per request, and conditional spreads
    // build a throw-away object each.
    const facts = this.facts as RequestFacts;
    facts.decision = this.decisionOverride ?? decisionOf(facts.events);
    facts.latencyMs = Math.round(performance.now() - this.t0);
    facts.outcome = result.outcome;
    if (result.errorCode !== undefined) facts.errorCode = result.errorCode;
    if (result.httpStatus !== undefined) facts.httpStatus = result.httpStatus;
    if (result.usage !== undefined) facts.usage = result.usage;
    if (result.finishReasons !== undefined) facts.finishReasons = result.finishReasons;
    if (result.limits !== undefined) facts.limits = result.limits;
    if (this.otel) {
      this.otel.setAttributes(spanEndAttributes(facts, result, this.server));
      if (result.outcome !== "ok") {
        this.otel.setStatus({ code: SpanStatusCode.ERROR, message: result.outcome });
      }
      this.otel.end();
    }
    this.ended = buildAuditRecord(facts);
    return this.ended;
  }

  traceparent(): string {
    return formatTraceparent(this.traceId, this.spanId, this.flags);
  }

  tracestate(): string | undefined {
    return this.incomingState;
  }
}

function spanEndAttributes(f: RequestFacts, r: RequestSpanResult, server: { address: string; port: number } | undefined): Attributes {
  const a: Attributes = {
    "kt.policy.decision": f.decision,
    "kt.policy.rules_fired": f.rulesFired,
    "kt.outcome": f.outcome,
  };
  if (f.target !== undefined) a["kt.target.id"] = f.target;
  if (f.targetDescription !== undefined) a["kt.target.description"] = f.targetDescription;
  if (server) {
    a["server.address"] = server.address;
    a["server.port"] = server.port;
  }
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
  if (f.outcome !== "ok") {
    a["error.type"] = r.errorType ?? r.errorCode ?? (f.outcome === "blocked" ? "policy_violation" : f.outcome === "cancelled" ? "cancelled" : "_OTHER");
    if (r.errorCode !== undefined) a["kt.error.code"] = r.errorCode;
  }
  return a;
}

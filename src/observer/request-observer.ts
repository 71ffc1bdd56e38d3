import type { Target } from "../config/index.js";
import type { GatewayError } from "../errors/index.js";
import type { GovernanceEvent } from "../policy/index.js";
import type { FrontDoor, Operation, Principal, RequestOrigin } from "../wire/index.js";
import type { UsageRecord } from "./usage-record.js";

export type Outcome = "ok" | "blocked" | "error" | "cancelled";

/** Everything the audit side learns about one request; never message content. */
export interface RequestSummary {
  op: Operation;
  frontDoor: FrontDoor;
  principal: Principal;
  model: string;
  stream: boolean;
  target: Target | undefined;
  /** The serving target's health when the request ended, for metrics-style span attributes. */
  targetHealth: { circuitState: string; consecutiveFailures: number; inFlight: number } | undefined;
  /** Target ids tried, in order (more than one when failover happened). */
  attempts: string[];
  events: GovernanceEvent[];
  usage: { input: number; output: number } | undefined;
  finishReasons: string[];
  responseModel: string | undefined;
  responseId: string | undefined;
  latencyMs: number;
  firstChunkMs: number | undefined;
  outcome: Outcome;
  error: GatewayError | undefined;
  /** Usage limits: tokens reserved before the call and charged after it; undefined if never admitted. */
  limits: UsageRecord | undefined;
}

/** One request's trace: created before any work, ended exactly once. */
export interface RequestTrace {
  /** W3C trace context to send to the upstream. */
  readonly traceparent: string | undefined;
  readonly tracestate: string | undefined;
  /** The first chunk went to the client (time to first chunk). */
  firstChunk?(): void;
  /**
   * One call to an upstream target begins (a CLIENT span per attempt, so a failover shows which
   * target failed and why). Its traceparent, when given, is the one to send upstream.
   */
  attempt?(target: Target): AttemptTrace | undefined;
  /**
   * Ends the trace. A returned promise means the caller must wait before answering: the audit
   * log is applying back-pressure, or a durable record is required first.
   */
  end(summary: RequestSummary): Promise<void> | void;
}

export interface AttemptTrace {
  readonly traceparent: string;
  /** `error` when the attempt failed; `response` what it answered (usage, model, id, finish reasons). */
  end(error?: GatewayError, response?: AttemptAnswer): void;
}

export interface AttemptAnswer {
  usage?: { input: number; output: number } | undefined;
  responseModel?: string | undefined;
  responseId?: string | undefined;
  finishReasons?: readonly string[] | undefined;
}

export interface RequestStart {
  op: Operation;
  model: string;
  stream: boolean;
  frontDoor: FrontDoor;
  principal: Principal;
  traceparent?: string;
  tracestate?: string;
  origin?: RequestOrigin;
  /** Sampling parameters as the client sent them (numbers only). */
  params?: { temperature?: number; maxTokens?: number; topP?: number };
}

/**
 * A request refused before the pipeline could take it (authentication, scope, an unreadable
 * body, a malformed RPC message): it is recorded all the same.
 */
export interface Refusal {
  /** `request` for the chat/completion/models routes and ChatService; `access` for Governance. */
  kind: "request" | "access";
  /** `chat`, `completion`, `models`, or the RPC name. */
  operation: string;
  model: string;
  stream: boolean;
  frontDoor: FrontDoor;
  /** Known when the key was recognised (a scope denial) or authentication had passed. */
  principal?: Principal;
  /** A fingerprint of the credential presented when it was not recognised; `none` when none was sent. */
  credential?: string;
  error: GatewayError;
  origin?: RequestOrigin;
  traceparent?: string;
  tracestate?: string;
}

export interface RequestObserver {
  start(info: RequestStart): RequestTrace;
  /** Records a refused request; a returned promise resolves once the record is in the log's file. */
  refuse?(refusal: Refusal): Promise<void> | void;
}

export const noopObserver: RequestObserver = {
  start: (info) => ({ traceparent: info.traceparent, tracestate: info.tracestate, end() {} }),
};

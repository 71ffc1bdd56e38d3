import type { Target } from "../config/index.js";
import type { GatewayError } from "../errors/index.js";
import type { UsageRecord } from "../limits/index.js";
import type { GovernanceEvent } from "../policy/governance-event.js";
import type { FrontDoor, Operation, Principal } from "../wire/index.js";

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
   * Ends the trace. A returned promise means the caller must wait before answering: the audit
   * log is applying back-pressure, or a durable record is required first.
   */
  end(summary: RequestSummary): Promise<void> | void;
}

export interface RequestObserver {
  start(info: { op: Operation; model: string; stream: boolean; frontDoor: FrontDoor; principal: Principal; traceparent?: string; tracestate?: string }): RequestTrace;
}

export const noopObserver: RequestObserver = {
  start: (info) => ({ traceparent: info.traceparent, tracestate: info.tracestate, end() {} }),
};

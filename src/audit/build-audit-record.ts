import { isoTime, type FrontDoor } from "../wire/index.js";
import type { GovernanceEvent, PolicyDecision } from "../policy/index.js";
import type { AuditKind, AuditOutcome, AuditRecordInput, LimitsFacts } from "./audit-record.js";

/**
 * Everything known about one request when it ends: what the span's attributes and the audit
 * record are both derived from, so the two can never disagree on ids, decision or counts.
 */
export interface RequestFacts {
  kind: AuditKind;
  operation: string;
  frontDoor: FrontDoor;
  principal: string;
  model: string;
  stream: boolean;
  traceId: string;
  spanId: string;
  /** Epoch ms the request arrived. */
  startTime: number;
  target?: string;
  targetDescription?: string;
  decision: PolicyDecision;
  rulesFired: string[];
  redactions: Record<string, number>;
  events: GovernanceEvent[];
  latencyMs: number;
  ttfcMs?: number;
  pack?: { name: string; version: string };
  outcome: AuditOutcome;
  errorCode?: string;
  httpStatus?: number;
  grpcStatus?: number;
  clientAddress?: string;
  credential?: string;
  count?: number;
  usage?: { input: number; output: number };
  finishReasons?: string[];
  limits?: LimitsFacts;
}

export function buildAuditRecord(f: RequestFacts): AuditRecordInput {
  const r: AuditRecordInput = {
    time: isoTime(f.startTime),
    traceId: f.traceId,
    spanId: f.spanId,
    kind: f.kind,
    operation: f.operation,
    frontDoor: f.frontDoor,
    principal: f.principal,
    model: f.model,
    stream: f.stream,
    outcome: f.outcome,
    decision: f.decision,
    rulesFired: [...f.rulesFired],
    redactions: { ...f.redactions },
    events: f.events.map((e) => ({ ...e, counts: { ...e.counts } })),
    latencyMs: f.latencyMs,
  };
  // Optional fields only when known, so records stay small and absent means "not applicable".
  if (f.target !== undefined) r.target = f.target;
  if (f.targetDescription !== undefined) r.targetDescription = f.targetDescription;
  if (f.errorCode !== undefined) r.errorCode = f.errorCode;
  if (f.httpStatus !== undefined) r.httpStatus = f.httpStatus;
  if (f.grpcStatus !== undefined) r.grpcStatus = f.grpcStatus;
  if (f.clientAddress !== undefined) r.clientAddress = f.clientAddress;
  if (f.credential !== undefined) r.credential = f.credential;
  if (f.count !== undefined) r.count = f.count;
  if (f.usage !== undefined) r.usage = { input: f.usage.input, output: f.usage.output };
  if (f.finishReasons !== undefined) r.finishReasons = [...f.finishReasons];
  if (f.ttfcMs !== undefined) r.ttfcMs = f.ttfcMs;
  if (f.pack !== undefined) r.pack = { name: f.pack.name, version: f.pack.version };
  if (f.limits !== undefined) r.limits = limitsFacts(f.limits);
  return r;
}

function limitsFacts(l: LimitsFacts): LimitsFacts {
  const out: LimitsFacts = { store: l.store, storeState: l.storeState, reservedTokens: l.reservedTokens };
  if (l.chargedTokens !== undefined) out.chargedTokens = l.chargedTokens;
  if (l.refusedBy !== undefined) out.refusedBy = l.refusedBy;
  return out;
}

const DECISION_RANK: Record<PolicyDecision, number> = { allow: 0, log: 1, redact: 2, block: 3 };

/** The request's overall decision: the strongest action among the events that took effect. */
export function decisionOf(events: readonly GovernanceEvent[]): PolicyDecision {
  let d: PolicyDecision = "allow";
  for (const e of events) {
    // A content check that failed open let the request through: it did not block anything.
    const a: PolicyDecision = e.action === "mask" ? "redact" : e.action === "block" && e.failedOpen ? "log" : e.action;
    if (DECISION_RANK[a] > DECISION_RANK[d]) d = a;
  }
  return d;
}

/** The audit folder's public face: the audit record, the embedded log, and request telemetry. */
export type { AuditKind, AuditOutcome, AuditRecord, AuditRecordInput, StoredAuditRecord } from "./audit-record.js";
export { AuditLog, type AppendReceipt, type AuditListener, type AuditLogOptions, type PruneResult } from "./audit-log.js";
export { verifyAuditLog, type VerifyOptions, type VerifyResult } from "./verify-log.js";
export { CHECKPOINT_FILE, keyId, loadPublicKey, loadSigningKey, readCheckpoints, type Checkpoint } from "./checkpoints.js";
export { queryAuditLog, ruleFired, tailAuditLog, type AuditQuery, type AuditQueryResult, type TailOptions } from "./query-log.js";
export { ANCHOR_FILE, type AuditAnchor } from "./audit-anchor.js";
export { GENESIS_HASH } from "./hash-chain.js";
export { canonicalJson } from "./canonical-json.js";
export { startTelemetry, telemetryWanted, activeTelemetry, DEFAULT_SERVICE_NAME, type Telemetry } from "./telemetry.js";
export {
  startRequestSpan,
  type ChainHead,
  type RequestSpan,
  type SamplingParams,
  type UpstreamAttempt,
  type RequestSpanAttributes,
  type RequestSpanResult,
  type RequestSpanStart,
  type RequestSpanTarget,
} from "./request-span.js";
export { buildAuditRecord, decisionOf, type RequestFacts } from "./build-audit-record.js";
export { formatTraceparent, parseTraceparent, randomSpanId, randomTraceId, type TraceIds } from "./traceparent.js";
export { auditObserver, type AccessStart, type AccessTrace, type AuditObserver, type AuditObserverOptions } from "./audit-observer.js";
export { AuthFailureWindow, type AuthFailureAggregate } from "./auth-failure-window.js";
export { AuditLogLockedError, LOCK_FILE, type LockHolder } from "./writer-lock.js";

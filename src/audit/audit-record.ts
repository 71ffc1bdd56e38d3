import type { FrontDoor } from "../wire/index.js";
import type { GovernanceEvent, PolicyDecision } from "../policy/index.js";

/**
 * To add a field: put it here (optional, so older records stay valid), in RequestFacts and
 * buildAuditRecord, and in canonicalAuditRecord at its sorted key position (a property test holds
 * the order). Records never carry content.
 *
 * One audit record per request (kind `request`) or per governance/admin call (kind `access`, when
 * `log_all_access` is on). It is built from facts the gateway already holds about the request and
 * deliberately has no field that could carry content: no prompt, no completion, no matched value,
 * no key material. The principal is the API key's configured id; governance events carry counts.
 */
export interface AuditRecord {
  /** Position in the log, from 1, without gaps; assigned by the log at append time. */
  seq: number;
  /** When the request arrived (ISO 8601, UTC). */
  time: string;
  /** W3C trace id (32 hex) shared with the OTel span and the traceparent sent upstream. */
  traceId: string;
  /** W3C span id (16 hex) of the gateway's request span. */
  spanId: string;
  kind: AuditKind;
  /** `chat`, `completion`, or the RPC name of an access record. */
  operation: string;
  frontDoor: FrontDoor;
  /** API key id only. */
  principal: string;
  /** The model the client asked for. */
  model: string;
  /** The target that served the request. */
  target?: string;
  targetDescription?: string;
  stream: boolean;
  outcome: AuditOutcome;
  /** Our stable error code (KT_ERR_*), when the outcome is not `ok`. */
  errorCode?: string;
  /** The HTTP status the client received (200 for a stream that failed after it began). */
  httpStatus?: number;
  /** The gRPC/Connect status code the client received, for RPC front doors. */
  grpcStatus?: number;
  /** The peer's IP address. */
  clientAddress?: string;
  /**
   * A refused authentication whose key was not recognised: `none` when no key was sent, else a
   * keyed fingerprint of what was presented (`hmac:…`), never the key itself.
   */
  credential?: string;
  /** Present on an aggregate record: how many refused requests it stands for (see docs/audit.md). */
  count?: number;
  decision: PolicyDecision;
  /** `policy/rule` for each rule that fired, in firing order, without duplicates. */
  rulesFired: string[];
  /** Redactions by finding type (`email`, `credit_card`, custom names). */
  redactions: Record<string, number>;
  events: GovernanceEvent[];
  usage?: { input: number; output: number };
  finishReasons?: string[];
  latencyMs: number;
  /** Time to the first chunk sent to the client, for streams. */
  ttfcMs?: number;
  pack?: { name: string; version: string };
  /** Usage limits: tokens reserved before the upstream call and charged after it (src/limits). */
  limits?: LimitsFacts;
}

export interface LimitsFacts {
  /** `embedded` or `redis`. */
  store: string;
  /** `unavailable` when the store could not be reached (the failure mode decided). */
  storeState: string;
  reservedTokens: number;
  /** Absent when the request's tokens are not limited (nothing to charge). */
  chargedTokens?: number;
  /** The limit that refused the request, e.g. `key:a requests_per_minute`. */
  refusedBy?: string;
}

export type AuditKind = "request" | "access";
export type AuditOutcome = "ok" | "blocked" | "error" | "cancelled";

/** What the pipeline hands to the log: everything but the sequence number the log assigns. */
export type AuditRecordInput = Omit<AuditRecord, "seq">;

/**
 * A record as stored: the chain fields the log adds. `prev` is the previous record's hash (or the
 * anchor's / genesis value), `hash` covers everything else. `anchor` appears on the first record
 * written after a retention prune and commits the anchor file into the chain.
 */
export interface StoredAuditRecord extends AuditRecord {
  prev: string;
  hash: string;
  anchor?: string;
}

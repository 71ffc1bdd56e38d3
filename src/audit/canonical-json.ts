import type { AuditRecordInput, StoredAuditRecord } from "./audit-record.js";

/**
 * Canonical JSON for hashing: object keys sorted by UTF-16 code unit order at every depth, no
 * whitespace, `undefined` members dropped (as JSON.stringify does). The writer hashes the in-memory
 * record and the verifier hashes the parsed line; both must give the same bytes, so key order is
 * the only freedom JSON leaves that we have to pin down.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") {
    // Strings, numbers, booleans: JSON.stringify is already deterministic for these.
    return JSON.stringify(value) ?? "null";
  }
  if (Array.isArray(value)) {
    let out = "[";
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out += ",";
      const item: unknown = value[i];
      out += item === undefined || typeof item === "function" ? "null" : canonicalJson(item);
    }
    return out + "]";
  }
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj).sort();
  let out = "{";
  let first = true;
  for (const key of keys) {
    const v = obj[key];
    if (v === undefined || typeof v === "function") continue;
    if (!first) out += ",";
    first = false;
    out += JSON.stringify(key) + ":" + canonicalJson(v);
  }
  return out + "}";
}

function sortedCounts(counts: Readonly<Record<string, number>>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of Object.keys(counts).sort()) out[k] = counts[k]!;
  return out;
}

/**
 * The stored record built with its keys already in canonical order at every depth, so that
 * `JSON.stringify` of it equals `canonicalJson` of it — one native call per append instead of a
 * recursive sort. Copies only the fields a record defines: nothing else a caller's object carries
 * can reach the log. The equality is held by a property test.
 */
export function canonicalAuditRecord(input: AuditRecordInput, seq: number, prev: string, anchor: string | undefined): StoredAuditRecord {
  const r: Record<string, unknown> = {};
  if (anchor !== undefined) r.anchor = anchor;
  if (input.clientAddress !== undefined) r.clientAddress = input.clientAddress;
  if (input.count !== undefined) r.count = input.count;
  if (input.credential !== undefined) r.credential = input.credential;
  r.decision = input.decision;
  if (input.errorCode !== undefined) r.errorCode = input.errorCode;
  r.events = input.events.map((e) => {
    const o: Record<string, unknown> = { action: e.action, counts: sortedCounts(e.counts) };
    if (e.engine !== undefined) o.engine = e.engine;
    if (e.failedOpen !== undefined) o.failedOpen = e.failedOpen;
    if (e.leakBoundChars !== undefined) o.leakBoundChars = e.leakBoundChars;
    o.phase = e.phase;
    o.policy = e.policy;
    o.rule = e.rule;
    o.ruleType = e.ruleType;
    if (e.verdict !== undefined) o.verdict = { category: e.verdict.category, score: e.verdict.score, threshold: e.verdict.threshold };
    return o;
  });
  if (input.finishReasons !== undefined) r.finishReasons = input.finishReasons.slice();
  r.frontDoor = input.frontDoor;
  if (input.grpcStatus !== undefined) r.grpcStatus = input.grpcStatus;
  if (input.httpStatus !== undefined) r.httpStatus = input.httpStatus;
  r.kind = input.kind;
  r.latencyMs = input.latencyMs;
  if (input.limits !== undefined) {
    const l: Record<string, unknown> = {};
    if (input.limits.chargedTokens !== undefined) l.chargedTokens = input.limits.chargedTokens;
    if (input.limits.refusedBy !== undefined) l.refusedBy = input.limits.refusedBy;
    l.reservedTokens = input.limits.reservedTokens;
    l.store = input.limits.store;
    l.storeState = input.limits.storeState;
    r.limits = l;
  }
  r.model = input.model;
  r.operation = input.operation;
  r.outcome = input.outcome;
  if (input.pack !== undefined) r.pack = { name: input.pack.name, version: input.pack.version };
  r.prev = prev;
  r.principal = input.principal;
  r.redactions = sortedCounts(input.redactions);
  r.rulesFired = input.rulesFired.slice();
  r.seq = seq;
  r.spanId = input.spanId;
  r.stream = input.stream;
  if (input.target !== undefined) r.target = input.target;
  if (input.targetDescription !== undefined) r.targetDescription = input.targetDescription;
  r.time = input.time;
  r.traceId = input.traceId;
  if (input.ttfcMs !== undefined) r.ttfcMs = input.ttfcMs;
  if (input.usage !== undefined) r.usage = { input: input.usage.input, output: input.usage.output };
  return r as unknown as StoredAuditRecord;
}

/** Keys that JavaScript orders before all others whatever the insertion order (array indices). */
const INDEX_KEY = /^(?:0|[1-9]\d{0,9})$/;

function hasIndexKey(counts: Readonly<Record<string, number>>): boolean {
  for (const k in counts) if (INDEX_KEY.test(k)) return true;
  return false;
}

/**
 * The canonical bytes of a record from canonicalAuditRecord: the native serialiser, unless a
 * count is keyed by an index-like name (JavaScript would put it first, out of canonical order).
 */
export function canonicalAuditRecordJson(record: StoredAuditRecord): string {
  const slow = hasIndexKey(record.redactions) || record.events.some((e) => hasIndexKey(e.counts));
  return slow ? canonicalJson(record) : JSON.stringify(record);
}

import { jsonString, jsonValue } from "../wire/index.js";
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

/** A value's canonical JSON: a string, number or boolean directly, an object (a malformed value from upstream) sorted. */
function value(v: unknown): string {
  if (typeof v === "string") return jsonString(v);
  return typeof v === "object" && v !== null ? canonicalJson(v) : jsonValue(v);
}

/** Longest string a LastText keeps (longer ones are written anew, not held on to). */
const LAST_TEXT_MAX = 256;

/**
 * One place of the record (its decision, an event's policy, the model…) and the JSON text of the
 * last string written there. Most of a record's strings are the same from one request to the
 * next; a string equal to the last one takes its text back instead of paying jsonString's escape
 * test (a regex call, ~300 instructions; twenty-odd per record). jsonString is a function of the
 * string alone, so the text is the one it would give.
 */
class LastText {
  private last = "";
  private text = '""';

  of(v: unknown): string {
    if (typeof v !== "string") return value(v);
    if (v === this.last) return this.text;
    const t = jsonString(v);
    if (v.length <= LAST_TEXT_MAX) {
      this.last = v;
      this.text = t;
    }
    return t;
  }
}

/** The record's places whose strings repeat (canonicalAuditRecordOpen is synchronous: one record at a time uses them). */
const at = {
  decision: new LastText(),
  action: new LastText(),
  engine: new LastText(),
  phase: new LastText(),
  policy: new LastText(),
  rule: new LastText(),
  ruleType: new LastText(),
  frontDoor: new LastText(),
  kind: new LastText(),
  refusedBy: new LastText(),
  store: new LastText(),
  storeState: new LastText(),
  model: new LastText(),
  operation: new LastText(),
  outcome: new LastText(),
  packName: new LastText(),
  packVersion: new LastText(),
  principal: new LastText(),
  target: new LastText(),
  targetDescription: new LastText(),
  errorCode: new LastText(),
  clientAddress: new LastText(),
};

/**
 * Object keys in UTF-16 code unit order, as `Array#sort` orders strings: an insertion sort in place
 * (a count object has a few keys; the built-in sort copies them into a work array first).
 */
function sortedKeys(o: object): string[] {
  const keys = Object.keys(o);
  if (keys.length > 16) return keys.sort();
  for (let i = 1; i < keys.length; i++) {
    const k = keys[i]!;
    let j = i - 1;
    while (j >= 0 && keys[j]! > k) {
      keys[j + 1] = keys[j]!;
      j--;
    }
    keys[j + 1] = k;
  }
  return keys;
}

function countsText(counts: Readonly<Record<string, number>>): string {
  let t = "{";
  let first = true;
  for (const k of sortedKeys(counts)) {
    const v = counts[k];
    if (v === undefined) continue;
    t += (first ? "" : ",") + jsonString(k) + ":" + value(v);
    first = false;
  }
  return t + "}";
}

function stringList(list: readonly string[]): string {
  let t = "[";
  for (let i = 0; i < list.length; i++) {
    const v: unknown = list[i];
    t += (i === 0 ? "" : ",") + (v === undefined || typeof v === "function" ? "null" : value(v));
  }
  return t + "]";
}

/**
 * The canonical JSON of the record canonicalAuditRecord builds — `canonicalJson` of it, byte for
 * byte (a property test holds it) — written straight from the input: no record object is built
 * and serialised. JSON.stringify of a record of thirty members, built member by member, took the
 * serialiser's slow path (~37k instructions per record under callgrind); a template of the members
 * in canonical order, each value's text from jsonString/jsonValue, is a fraction of that.
 */
export function canonicalAuditRecordText(input: AuditRecordInput, seq: number, prev: string, anchor: string | undefined): string {
  return canonicalAuditRecordOpen(input, seq, prev, anchor) + "}";
}

/**
 * canonicalAuditRecordText without its closing brace: the log appends `,"hash":…}` to it for the
 * line, which would otherwise cut the brace off a text not yet flat (a copy of the whole text).
 */
export function canonicalAuditRecordOpen(input: AuditRecordInput, seq: number, prev: string, anchor: string | undefined): string {
  let t = "{";
  if (anchor !== undefined) t += `"anchor":${jsonString(anchor)},`;
  if (input.clientAddress !== undefined) t += `"clientAddress":${at.clientAddress.of(input.clientAddress)},`;
  if (input.count !== undefined) t += `"count":${value(input.count)},`;
  if (input.credential !== undefined) t += `"credential":${value(input.credential)},`;
  t += `"decision":${at.decision.of(input.decision)}`;
  if (input.errorCode !== undefined) t += `,"errorCode":${at.errorCode.of(input.errorCode)}`;
  t += `,"events":[`;
  const events = input.events;
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    t += `${i === 0 ? "" : ","}{"action":${at.action.of(e.action)},"counts":${countsText(e.counts)}`;
    if (e.engine !== undefined) t += `,"engine":${at.engine.of(e.engine)}`;
    if (e.failedOpen !== undefined) t += `,"failedOpen":${value(e.failedOpen)}`;
    if (e.leakBoundChars !== undefined) t += `,"leakBoundChars":${value(e.leakBoundChars)}`;
    t += `,"phase":${at.phase.of(e.phase)},"policy":${at.policy.of(e.policy)},"rule":${at.rule.of(e.rule)},"ruleType":${at.ruleType.of(e.ruleType)}`;
    if (e.verdict !== undefined) t += `,"verdict":{"category":${value(e.verdict.category)},"score":${value(e.verdict.score)},"threshold":${value(e.verdict.threshold)}}`;
    t += "}";
  }
  t += "]";
  if (input.finishReasons !== undefined) t += `,"finishReasons":${stringList(input.finishReasons)}`;
  t += `,"frontDoor":${at.frontDoor.of(input.frontDoor)}`;
  if (input.grpcStatus !== undefined) t += `,"grpcStatus":${value(input.grpcStatus)}`;
  if (input.httpStatus !== undefined) t += `,"httpStatus":${value(input.httpStatus)}`;
  t += `,"kind":${at.kind.of(input.kind)},"latencyMs":${value(input.latencyMs)}`;
  const l = input.limits;
  if (l !== undefined) {
    t += `,"limits":{`;
    if (l.chargedTokens !== undefined) t += `"chargedTokens":${value(l.chargedTokens)},`;
    if (l.refusedBy !== undefined) t += `"refusedBy":${at.refusedBy.of(l.refusedBy)},`;
    t += `"reservedTokens":${value(l.reservedTokens)},"store":${at.store.of(l.store)},"storeState":${at.storeState.of(l.storeState)}}`;
  }
  t += `,"model":${at.model.of(input.model)},"operation":${at.operation.of(input.operation)},"outcome":${at.outcome.of(input.outcome)}`;
  if (input.pack !== undefined) t += `,"pack":{"name":${at.packName.of(input.pack.name)},"version":${at.packVersion.of(input.pack.version)}}`;
  t += `,"prev":${jsonString(prev)},"principal":${at.principal.of(input.principal)},"redactions":${countsText(input.redactions)},"rulesFired":${stringList(input.rulesFired)}`;
  t += `,"seq":${jsonValue(seq)},"spanId":${value(input.spanId)},"stream":${value(input.stream)}`;
  if (input.target !== undefined) t += `,"target":${at.target.of(input.target)}`;
  if (input.targetDescription !== undefined) t += `,"targetDescription":${at.targetDescription.of(input.targetDescription)}`;
  t += `,"time":${value(input.time)},"traceId":${value(input.traceId)}`;
  if (input.ttfcMs !== undefined) t += `,"ttfcMs":${value(input.ttfcMs)}`;
  if (input.usage !== undefined) t += `,"usage":{"input":${value(input.usage.input)},"output":${value(input.usage.output)}}`;
  return t;
}

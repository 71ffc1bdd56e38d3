import { stat } from "node:fs/promises";
import type { AuditRecord, StoredAuditRecord } from "./audit-record.js";
import type { PolicyDecision } from "../policy/index.js";
import { listSegments, readSegmentLines, type SegmentFile } from "./segment-files.js";

export interface AuditQuery {
  /** Inclusive lower bound on the record's `time` (ISO string or Date). */
  from?: string | Date;
  /** Exclusive upper bound on `time`. */
  to?: string | Date;
  principal?: string;
  target?: string;
  decision?: PolicyDecision;
  traceId?: string;
  outcome?: AuditRecord["outcome"];
  /** `policy/rule`, or `policy` for any of its rules. */
  rule?: string;
  /** Default 100, at most 1000. */
  pageSize?: number;
  /** From a previous result's `nextPageToken`. */
  pageToken?: string;
}

export interface AuditQueryResult {
  /** Matching records in seq order. */
  events: StoredAuditRecord[];
  /** Present when the page filled up; pass it back for the next page. */
  nextPageToken: string | undefined;
}

const MAX_PAGE = 1000;

/** Did `rule` (`policy/rule`, or a bare `policy` for any of its rules) fire in this record? */
export function ruleFired(rulesFired: readonly string[], rule: string): boolean {
  return rulesFired.some((x) => x === rule || (x.startsWith(rule) && x.charCodeAt(rule.length) === 47 /* / */));
}

/** Page tokens are opaque to clients: base64url of the seq to resume from. */
function encodeToken(seq: number): string {
  return Buffer.from(JSON.stringify({ s: seq }), "utf8").toString("base64url");
}

function decodeToken(token: string): number {
  try {
    const v = JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as { s?: unknown };
    if (typeof v.s === "number" && Number.isSafeInteger(v.s) && v.s >= 1) return v.s;
  } catch {
    /* fall through */
  }
  throw new RangeError("invalid pageToken");
}

function toMillis(t: string | Date | undefined, name: string): number | undefined {
  if (t === undefined) return undefined;
  const ms = t instanceof Date ? t.getTime() : Date.parse(t);
  if (!Number.isFinite(ms)) throw new RangeError(`invalid ${name} time`);
  return ms;
}

/** Segments that may hold a seq >= `fromSeq` (each segment ends where the next begins). */
function segmentsFrom(segments: SegmentFile[], fromSeq: number): SegmentFile[] {
  let i = 0;
  while (i + 1 < segments.length && segments[i + 1]!.firstSeq <= fromSeq) i++;
  return segments.slice(i);
}

function parseRecord(text: string): StoredAuditRecord | undefined {
  try {
    const r = JSON.parse(text) as StoredAuditRecord;
    return typeof r === "object" && r !== null && typeof r.seq === "number" ? r : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Scans the segments in seq order and filters. The log is a compliance record, not an analytics
 * store: a linear scan that can resume from any seq is enough for the Governance service and the
 * CLI, and it needs no index that could disagree with the chained files.
 */
export async function queryAuditLog(dir: string, q: AuditQuery): Promise<AuditQueryResult> {
  const pageSize = Math.min(Math.max(1, q.pageSize ?? 100), MAX_PAGE);
  const fromSeq = q.pageToken ? decodeToken(q.pageToken) : 1;
  const from = toMillis(q.from, "from");
  const to = toMillis(q.to, "to");
  const match = (r: AuditRecord): boolean => {
    if (q.principal !== undefined && r.principal !== q.principal) return false;
    if (q.target !== undefined && r.target !== q.target) return false;
    if (q.decision !== undefined && r.decision !== q.decision) return false;
    if (q.traceId !== undefined && r.traceId !== q.traceId) return false;
    if (q.outcome !== undefined && r.outcome !== q.outcome) return false;
    if (q.rule !== undefined && !ruleFired(r.rulesFired, q.rule)) return false;
    if (from !== undefined || to !== undefined) {
      const t = Date.parse(r.time);
      if (from !== undefined && !(t >= from)) return false;
      if (to !== undefined && !(t < to)) return false;
    }
    return true;
  };
  const events: StoredAuditRecord[] = [];
  for (const seg of segmentsFrom(await listSegments(dir), fromSeq)) {
    try {
      for await (const line of readSegmentLines(seg.path)) {
        if (!line.complete) break;
        const r = parseRecord(line.text);
        if (!r || r.seq < fromSeq || !match(r)) continue;
        events.push(r);
        if (events.length === pageSize) return { events, nextPageToken: encodeToken(r.seq + 1) };
      }
    } catch (e) {
      // A segment pruned while we were reading it: its records are gone, go on with the rest.
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
    }
  }
  return { events, nextPageToken: undefined };
}

export interface TailOptions {
  /** Start with the last `lines` records (default 10; 0 = only new ones). Ignored when `fromSeq` is set. */
  lines?: number;
  /** Start at this seq instead. */
  fromSeq?: number;
  /** Keep going, yielding records as they are appended (by polling; works across processes). */
  follow?: boolean;
  pollMs?: number;
  signal?: AbortSignal;
}

/**
 * Reads the log from outside the writing process, as `kt audit tail` does. Follow mode polls file
 * sizes rather than using fs.watch, which is unreliable on network and container file systems.
 * Only newline-terminated lines are yielded, so a record being written is never shown half-done.
 */
export async function* tailAuditLog(dir: string, opts: TailOptions = {}): AsyncGenerator<StoredAuditRecord> {
  const pollMs = opts.pollMs ?? 250;
  let nextSeq = opts.fromSeq ?? (await startSeqForLast(dir, opts.lines ?? 10));
  for (;;) {
    if (opts.signal?.aborted) return;
    const segments = segmentsFrom(await listSegments(dir), nextSeq);
    for (let i = 0; i < segments.length; i++) {
      const seg = segments[i]!;
      try {
        for await (const line of readSegmentLines(seg.path)) {
          if (!line.complete) break;
          const r = parseRecord(line.text);
          if (!r || r.seq < nextSeq) continue;
          nextSeq = r.seq + 1;
          yield r;
          if (opts.signal?.aborted) return;
        }
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
      }
    }
    if (!opts.follow) return;
    await sleep(pollMs, opts.signal);
  }
}

/** The seq from which the last `n` records start. */
async function startSeqForLast(dir: string, n: number): Promise<number> {
  const segments = await listSegments(dir);
  let lastSeq = 0;
  for (let i = segments.length - 1; i >= 0 && lastSeq === 0; i--) {
    const seg = segments[i]!;
    if ((await stat(seg.path)).size === 0) continue;
    for await (const line of readSegmentLines(seg.path)) {
      if (!line.complete) break;
      const r = parseRecord(line.text);
      if (r) lastSeq = r.seq;
    }
  }
  return Math.max(1, lastSeq - n + 1);
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}

import { basename } from "node:path";
import { ANCHOR_FILE, checkAnchor, readAnchor, type AuditAnchor } from "./audit-anchor.js";
import { canonicalBodyOf, chainHash, GENESIS_HASH, isHex64 } from "./hash-chain.js";
import { listSegments, readSegmentLines } from "./segment-files.js";

export type VerifyResult =
  | {
      ok: true;
      records: number;
      segments: number;
      /** First and last seq present (firstSeq > lastSeq when the log holds no record). */
      firstSeq: number;
      lastSeq: number;
      /** Hash of the last record: publish it elsewhere to pin the log's current state. */
      lastHash: string;
      /** True when older segments were pruned by retention and the chain starts at an anchor. */
      anchored: boolean;
      /** A final line without its newline: a write torn by a crash, never acknowledged; ignored. */
      tornTail: boolean;
    }
  | { ok: false; seq: number | undefined; segment: string; line: number; reason: string };

/**
 * Walks every segment in order and re-derives the chain. Each record must have the next seq, the
 * previous record's hash as `prev`, and a `hash` equal to SHA-256(prev + canonical body); the chain
 * starts from GENESIS_HASH at seq 1, or from anchor.json after retention. The first failure is
 * reported with its file and line so an auditor can look at exactly that record.
 */
export async function verifyAuditLog(dir: string): Promise<VerifyResult> {
  let anchor: AuditAnchor | undefined;
  try {
    anchor = await readAnchor(dir);
  } catch (e) {
    return { ok: false, seq: undefined, segment: ANCHOR_FILE, line: 1, reason: (e as Error).message };
  }
  if (anchor) {
    const bad = checkAnchor(anchor);
    if (bad) return { ok: false, seq: anchor.seq, segment: ANCHOR_FILE, line: 1, reason: bad };
  }
  const firstSeq = anchor?.seq ?? 1;
  let expectedSeq = firstSeq;
  let prev = anchor?.prev ?? GENESIS_HASH;
  let records = 0;
  let tornTail = false;
  const segments = await listSegments(dir);

  for (let s = 0; s < segments.length; s++) {
    const seg = segments[s]!;
    const isLast = s === segments.length - 1;
    const fail = (line: number, seq: number | undefined, reason: string): VerifyResult => ({
      ok: false,
      seq,
      segment: basename(seg.path),
      line,
      reason,
    });
    if (seg.firstSeq !== expectedSeq) {
      if (anchor && seg.firstSeq < anchor.seq && s === 0) {
        return fail(1, seg.firstSeq, `segment starts before the anchor (seq ${anchor.seq}): a prune was interrupted or the anchor was altered; reopening the log completes a prune`);
      }
      return fail(1, seg.firstSeq, `segment name says it starts at seq ${seg.firstSeq} but seq ${expectedSeq} was expected (segment missing, renamed or out of order)`);
    }
    let sawLine = false;
    for await (const line of readSegmentLines(seg.path)) {
      sawLine = true;
      if (!line.complete) {
        if (isLast) {
          tornTail = true;
          break;
        }
        return fail(line.lineNo, expectedSeq, "unterminated line inside a sealed segment");
      }
      let entry: Record<string, unknown>;
      try {
        const parsed: unknown = JSON.parse(line.text);
        if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) throw new Error("not an object");
        entry = parsed as Record<string, unknown>;
      } catch {
        return fail(line.lineNo, expectedSeq, "line is not a valid JSON record (edited or corrupted)");
      }
      const seq = typeof entry.seq === "number" ? entry.seq : undefined;
      if (seq !== expectedSeq) {
        return fail(line.lineNo, seq, `seq ${String(entry.seq)} where ${expectedSeq} was expected (record deleted, inserted or reordered)`);
      }
      if (entry.prev !== prev) {
        return fail(line.lineNo, seq, "prev does not match the hash of the record before it (record inserted, deleted or reordered)");
      }
      if (!isHex64(entry.hash) || chainHash(prev, canonicalBodyOf(entry)) !== entry.hash) {
        return fail(line.lineNo, seq, "hash does not match the record's content (record edited)");
      }
      if (anchor && seq === anchor.commitSeq && entry.anchor !== anchor.hash) {
        return fail(line.lineNo, seq, "record does not commit the current anchor.json (anchor replaced or altered)");
      }
      prev = entry.hash;
      expectedSeq++;
      records++;
    }
    if (!sawLine && !isLast) return fail(1, expectedSeq, "empty segment before the last one");
  }
  return {
    ok: true,
    records,
    segments: segments.length,
    firstSeq,
    lastSeq: expectedSeq - 1,
    lastHash: prev,
    anchored: anchor !== undefined,
    tornTail,
  };
}

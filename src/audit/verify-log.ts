import { stat } from "node:fs/promises";
import { basename } from "node:path";
import type { KeyObject } from "node:crypto";
import { ANCHOR_FILE, checkAnchor, readAnchor, type AuditAnchor } from "./audit-anchor.js";
import { canonicalBodyOf, chainHash, GENESIS_HASH, isHex64 } from "./hash-chain.js";
import { CHECKPOINT_FILE, checkSignature, keyId, readCheckpoints, type Checkpoint } from "./checkpoints.js";
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
      /** Checkpoints found; how many had their signature checked (0 without a public key). */
      checkpoints: number;
      signaturesChecked: number;
      /** Seq of the last signed checkpoint, when there is one. */
      lastCheckpointSeq: number | undefined;
      /** What this run could not prove, in words, for the operator. */
      unproven: string[];
    }
  | { ok: false; seq: number | undefined; segment: string; line: number; reason: string };

export interface VerifyOptions {
  /** The Ed25519 public key that signed the checkpoints: without it, signatures are not checked. */
  publicKey?: KeyObject;
}

/**
 * Walks every segment in order and re-derives the chain. Each record must have the next seq, the
 * previous record's hash as `prev`, a `hash` equal to SHA-256(prev + canonical body), and be
 * written exactly in canonical form (so a line with a duplicate key cannot show one value to a
 * reader and hash another). The chain starts from GENESIS_HASH at seq 1, or from anchor.json
 * after retention. Checkpoints must match the chain where they point; with a public key each one
 * must carry a valid signature, the last one may not point past the end, a log closed cleanly may
 * not go on past its shutdown checkpoint, and anchor.json must be one the gateway signed. The
 * first failure is reported with its file and line so an auditor can look at exactly that record.
 */
export async function verifyAuditLog(dir: string, opts: VerifyOptions = {}): Promise<VerifyResult> {
  const failAt = (segment: string, line: number, seq: number | undefined, reason: string): VerifyResult => ({ ok: false, seq, segment, line, reason });
  try {
    if (!(await stat(dir)).isDirectory()) return failAt(dir, 0, undefined, "not a directory");
  } catch {
    return failAt(dir, 0, undefined, "no such audit log directory");
  }
  let anchor: AuditAnchor | undefined;
  try {
    anchor = await readAnchor(dir);
  } catch (e) {
    return failAt(ANCHOR_FILE, 1, undefined, (e as Error).message);
  }
  if (anchor) {
    const bad = checkAnchor(anchor);
    if (bad) return failAt(ANCHOR_FILE, 1, anchor.seq, bad);
  }

  // Checkpoints first: they are matched against the records as the walk passes them.
  const cps = await readCheckpoints(dir);
  const key = opts.publicKey;
  const keyName = key ? keyId(key) : undefined;
  const bySeq = new Map<number, { line: number; cp: Checkpoint }[]>();
  let lastCp: { line: number; cp: Checkpoint } | undefined;
  let anchorSigned = false;
  for (const { line, cp } of cps) {
    if (!cp) return failAt(CHECKPOINT_FILE, line, undefined, "checkpoint line is not a valid checkpoint (edited or corrupted)");
    if (key && !checkSignature(cp, key)) {
      return failAt(CHECKPOINT_FILE, line, cp.seq, cp.key !== keyName ? `checkpoint was signed by another key (${String(cp.key)}, expected ${keyName}) or forged` : "checkpoint signature does not verify (forged or altered checkpoint)");
    }
    if (lastCp && cp.seq < lastCp.cp.seq) return failAt(CHECKPOINT_FILE, line, cp.seq, `checkpoint seq ${cp.seq} after seq ${lastCp.cp.seq} (checkpoints reordered)`);
    const list = bySeq.get(cp.seq) ?? [];
    list.push({ line, cp });
    bySeq.set(cp.seq, list);
    lastCp = { line, cp };
    if (anchor && cp.reason === "anchor" && cp.anchor === anchor.hash && cp.seq === anchor.seq - 1 && cp.hash === anchor.prev) anchorSigned = true;
  }

  const firstSeq = anchor?.seq ?? 1;
  let expectedSeq = firstSeq;
  let prev = anchor?.prev ?? GENESIS_HASH;
  let records = 0;
  let tornTail = false;
  const segments = await listSegments(dir);
  if (segments.length === 0 && !anchor) return failAt(dir, 0, undefined, "no audit log here (no segment files): nothing to verify");
  if (key && anchor && !anchorSigned) {
    return failAt(ANCHOR_FILE, 1, anchor.seq, "anchor.json is not covered by a signed anchor checkpoint (forged retention anchor: older records deleted and the anchor rewritten?)");
  }

  for (let s = 0; s < segments.length; s++) {
    const seg = segments[s]!;
    const isLast = s === segments.length - 1;
    const fail = (line: number, seq: number | undefined, reason: string): VerifyResult => failAt(basename(seg.path), line, seq, reason);
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
      const body = canonicalBodyOf(entry);
      if (!isHex64(entry.hash) || chainHash(prev, body) !== entry.hash) {
        return fail(line.lineNo, seq, "hash does not match the record's content (record edited)");
      }
      // The writer's exact bytes: canonical body with `hash` last. Anything else (a duplicate key,
      // whose first copy a reader may show while JSON.parse hashes the last) is refused.
      if (line.text !== `${body.slice(0, -1)},"hash":"${entry.hash}"}`) {
        return fail(line.lineNo, seq, duplicateKey(line.text) ? "record line has a duplicate JSON key (one value shown, another hashed)" : "record line is not in the canonical form the gateway writes (edited)");
      }
      if (anchor && seq === anchor.commitSeq && entry.anchor !== anchor.hash) {
        return fail(line.lineNo, seq, "record does not commit the current anchor.json (anchor replaced or altered)");
      }
      for (const { line: cpLine, cp } of bySeq.get(seq) ?? []) {
        if (cp.hash !== entry.hash) {
          return failAt(CHECKPOINT_FILE, cpLine, seq, `checkpoint says record ${seq} has hash ${cp.hash.slice(0, 12)}… but the log's is ${entry.hash.slice(0, 12)}… (chain rewritten after the checkpoint was signed)`);
        }
      }
      prev = entry.hash;
      expectedSeq++;
      records++;
    }
    if (!sawLine && !isLast) return fail(1, expectedSeq, "empty segment before the last one");
  }
  const lastSeq = expectedSeq - 1;
  if (anchor && anchor.commitSeq < firstSeq) return failAt(ANCHOR_FILE, 1, anchor.seq, "anchor commitSeq lies before the anchor itself (forged anchor)");
  if (anchor && anchor.commitSeq > lastSeq + 1) {
    return failAt(ANCHOR_FILE, 1, anchor.seq, `anchor.json says record ${anchor.commitSeq} commits it, but the log ends at seq ${lastSeq} (forged anchor, or records after it deleted)`);
  }
  // A checkpoint past the end: the newest records were cut off.
  if (lastCp && lastCp.cp.seq > lastSeq && !(lastCp.cp.reason === "anchor" && lastCp.cp.seq === firstSeq - 1)) {
    return failAt(CHECKPOINT_FILE, lastCp.line, lastCp.cp.seq, `checkpoint signs the log up to seq ${lastCp.cp.seq}, but it ends at seq ${lastSeq} (newest records truncated)`);
  }
  if (lastCp?.cp.reason === "shutdown" && lastSeq > lastCp.cp.seq) {
    return failAt(CHECKPOINT_FILE, lastCp.line, lastSeq, `records ${lastCp.cp.seq + 1}..${lastSeq} follow the clean-shutdown checkpoint at seq ${lastCp.cp.seq} (appended while no gateway held the log: fabricated?)`);
  }

  const unproven: string[] = [];
  if (!key) {
    unproven.push(
      cps.length > 0
        ? `${cps.length} checkpoints were matched against the chain but their signatures were not checked (no --public-key): a rewrite that recomputed the chain and the checkpoints, or a truncation of the newest records, cannot be ruled out`
        : "no signed checkpoints and no --public-key: a rewrite that recomputed the whole chain, or a truncation of the newest records, cannot be ruled out; compare the last hash with one published elsewhere or with the spans' kt.audit.hash",
    );
  } else if (cps.length === 0) {
    return failAt(CHECKPOINT_FILE, 0, undefined, "--public-key given but the log has no signed checkpoints (checkpoints.jsonl missing or emptied)");
  } else if (lastCp && lastSeq > lastCp.cp.seq) {
    unproven.push(`records ${lastCp.cp.seq + 1}..${lastSeq} come after the last signed checkpoint: written since it (the gateway is running) or before a crash; check them against the spans' kt.audit.seq/kt.audit.hash`);
  }
  if (anchor && anchor.commitSeq === lastSeq + 1) unproven.push(`anchor.json is not yet committed by a record (seq ${anchor.commitSeq} will commit it)`);
  return {
    ok: true,
    records,
    segments: segments.length,
    firstSeq,
    lastSeq,
    lastHash: prev,
    anchored: anchor !== undefined,
    tornTail,
    checkpoints: cps.length,
    signaturesChecked: key ? cps.length : 0,
    lastCheckpointSeq: lastCp?.cp.seq,
    unproven,
  };
}

/** True when some object in the JSON text repeats a key (checked only when a line is not canonical). */
function duplicateKey(text: string): boolean {
  // A small scanner: strings are skipped whole; a string followed by ':' is a key of the object
  // on top of the stack.
  const stack: Set<string>[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === "{") stack.push(new Set());
    else if (c === "}") stack.pop();
    else if (c === "[") stack.push(new Set(["\0array"]));
    else if (c === "]") stack.pop();
    else if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
      const raw = text.slice(i, j + 1);
      let k = j + 1;
      while (k < text.length && /\s/.test(text[k]!)) k++;
      const top = stack[stack.length - 1];
      if (text[k] === ":" && top && !top.has("\0array")) {
        let key: string;
        try {
          key = JSON.parse(raw) as string;
        } catch {
          key = raw;
        }
        if (top.has(key)) return true;
        top.add(key);
      }
      i = j;
    }
    i++;
  }
  return false;
}

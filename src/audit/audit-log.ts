import { writeSync } from "node:fs";
import { noteBackPressure, noteBytesWritten, noteFsync, trackLog } from "./audit-metrics.js";
import { chmod, open, stat, truncate, unlink, type FileHandle } from "node:fs/promises";
import { makeDirectory } from "./make-directory.js";
import { join } from "node:path";
import { fsyncDir, readAnchor, sealAnchor, writeAnchor, type AuditAnchor } from "./audit-anchor.js";
import type { AuditRecordInput, StoredAuditRecord } from "./audit-record.js";
import { canonicalAuditRecord, canonicalAuditRecordOpen } from "./canonical-json.js";
import { chainHashOfText, GENESIS_HASH } from "./hash-chain.js";
import { queryAuditLog, type AuditQuery, type AuditQueryResult } from "./query-log.js";
import { WriterLock } from "./writer-lock.js";
import { CheckpointWriter, loadSigningKey, readCheckpoints, type Checkpoint, type CheckpointReason } from "./checkpoints.js";
import type { KeyObject } from "node:crypto";
import { listSegments, readLastCompleteLine, readSegmentLines, segmentName, type SegmentFile } from "./segment-files.js";
import { isoTimeMs } from "../wire/index.js";

export interface AuditLogOptions {
  /** Directory of the log; created if missing. */
  path: string;
  /** Seal rotated segments (and the anchor) read-only. Default true. */
  immutable?: boolean;
  /** Prune sealed segments whose newest record is older than this. Default 365. */
  retention_days?: number;
  /** Rotate the active segment before it would exceed this many bytes. Default 64 MiB. */
  segment_bytes?: number;
  /** Records accepted but not yet durable before `append` starts waiting. Default 8192. */
  maxPending?: number;
  /**
   * Group commit: how long after a record is written the fdatasync that makes it durable may wait,
   * so that one sync covers every record written meanwhile. Appends resolve after that sync;
   * answers are never held for it. Records reach the file (the OS) at the end of the event-loop
   * turn that appended them, whatever this is, so a crash of the process loses nothing; only a
   * crash of the machine can lose the last window. Default 20 ms.
   */
  commitDelayMs?: number;
  /** How often retention runs while open; 0 turns the timer off. Default one hour. */
  pruneIntervalMs?: number;
  /** Clock for retention (tests). */
  now?: () => number;
  /** Ed25519 private key (PKCS#8 PEM): sign checkpoints of the chain (see checkpoints.ts). */
  signingKey?: string;
  /** A signed checkpoint every this many records (besides seals, prunes and shutdown). Default 1000. */
  checkpointEvery?: number;
}

export type AuditListener = (record: StoredAuditRecord) => void;

/** Where a record went in the chain, and when it reached the file and the disk. */
export interface AppendReceipt {
  seq: number;
  hash: string;
  /** The line is in the segment file (its `write` returned): survives a crash of this process. */
  written: Promise<void>;
  /** An fdatasync covered it: survives a power loss. Resolves with the seq. */
  durable: Promise<number>;
}

export interface PruneResult {
  prunedSegments: string[];
  anchor: AuditAnchor | undefined;
}

interface PendingEntry {
  seq: number;
  /** The record's line as text, written with its batch in one write (encoded once, natively). */
  line: string;
  /** The line's length in UTF-8 bytes (segment sizes are counted in bytes). */
  bytes: number;
  hash: string;
  /**
   * The record as an object, for watchers (AuditLog#watch): built when the record is chained if
   * someone watches then, else only if someone watches by the time it is durable (from `input`).
   */
  record: StoredAuditRecord | undefined;
  input: AuditRecordInput;
  prev: string;
  anchor: string | undefined;
  time: number;
  /** 0 pending, 1 durable, 2 failed. */
  state: 0 | 1 | 2;
  /** Made only when someone asks for `durable` (fsync durability, `append`): most callers wait for `written`. */
  durable: { promise: Promise<number>; resolve: (seq: number) => void; reject: (e: Error) => void } | undefined;
}

/**
 * A record's receipt. `durable` is a getter: a promise and its resolvers per record cost
 * allocations on every request, and with the default durability (`write`) nobody waits for it.
 */
class Receipt implements AppendReceipt {
  constructor(
    private readonly entry: PendingEntry,
    private readonly log: AuditLog,
    readonly hash: string,
  ) {}

  get seq(): number {
    return this.entry.seq;
  }

  get written(): Promise<void> {
    return this.log.whenWritten(this.entry.seq);
  }

  get durable(): Promise<number> {
    const e = this.entry;
    if (e.durable) return e.durable.promise;
    if (e.state === 1) return Promise.resolve(e.seq);
    if (e.state === 2) return Promise.reject(this.log.failed ?? new Error("audit log failed"));
    let resolve!: (seq: number) => void;
    let reject!: (e: Error) => void;
    const promise = new Promise<number>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    e.durable = { promise, resolve, reject };
    return promise;
  }
}

const DAY_MS = 86_400_000;

/** The stored record as an object (what a watcher receives), with its hash. */
function recordOf(input: AuditRecordInput, seq: number, prev: string, anchor: string | undefined, hash: string): StoredAuditRecord {
  const record = canonicalAuditRecord(input, seq, prev, anchor);
  record.hash = hash;
  return record;
}

/**
 * The embedded audit store: append-only JSON-lines segments chained by SHA-256 (see hash-chain.ts,
 * verify-log.ts). One writer per directory: the gateway process that opened it.
 *
 * Records are hashed synchronously (so seq order is call order) and written to the file at the end
 * of the event-loop turn that appended them, all of that turn's records in one write. Durability is
 * group-committed: one fdatasync per commit window covers everything written before it, and each
 * `append` promise resolves only after the sync that covers its record. A bounded count of records
 * not yet durable gives back-pressure: when it is full `append` waits for room instead of dropping.
 */
export class AuditLog {
  readonly path: string;
  private readonly immutable: boolean;
  private readonly retentionDays: number;
  private readonly segmentBytes: number;
  private readonly maxPending: number;
  private readonly commitDelayMs: number;
  private readonly now: () => number;
  private readonly signingKey: KeyObject | undefined;
  private readonly checkpointEvery: number;
  private checkpoints: CheckpointWriter | undefined;
  private lastCheckpointSeq = 0;
  /** Hash of the record `writtenSeq`. */
  private writtenHash = GENESIS_HASH;

  private nextSeq = 1;
  private lastHash = GENESIS_HASH;
  private pendingAnchor: string | undefined;

  private fh!: FileHandle;
  private activeName = "";
  private activeFirstSeq = 1;
  private activeSize = 0;
  private activeMaxTime = 0;
  /** Newest record time per sealed segment: sealed files never change, so one scan each. */
  private readonly sealedMaxTime = new Map<string, number>();

  /** Appended during this event-loop turn; written to the file at its end. */
  private unwritten: PendingEntry[] = [];
  /** Written to the file, waiting for the fdatasync that makes them durable. */
  private unsynced: PendingEntry[] = [];
  private writeScheduled = false;
  /** While the active segment is being replaced, writes wait for the new file. */
  private rotating = false;
  private syncTimer: NodeJS.Timeout | undefined;
  /** Records accepted (queued or being written) and not yet settled. */
  private accepted = 0;
  /** Highest seq whose append has settled; records settle in seq order. */
  private settledSeq = 0;
  private readonly waiters: Array<() => void> = [];
  /** Highest seq whose line has been written to the file (handed to the OS). */
  private writtenSeq = 0;
  /** Callers waiting for a seq to reach the file, in seq order. */
  private writtenWaiters: Array<{ seq: number; resolve: () => void; reject: (e: Error) => void }> = [];
  private readonly flushWaiters: Array<() => void> = [];
  private failure: Error | undefined;
  private closed = false;
  private readonly listeners = new Set<AuditListener>();
  private maintenance: Promise<unknown> = Promise.resolve();
  private lock: WriterLock | undefined;
  private pruneTimer: NodeJS.Timeout | undefined;
  private readonly untrack: () => void = trackLog(this);

  private constructor(opts: AuditLogOptions) {
    this.path = opts.path;
    this.immutable = opts.immutable ?? true;
    this.retentionDays = opts.retention_days ?? 365;
    this.segmentBytes = opts.segment_bytes ?? 64 * 1024 * 1024;
    this.maxPending = Math.max(1, opts.maxPending ?? 8192);
    this.commitDelayMs = Math.max(0, opts.commitDelayMs ?? 20);
    this.now = opts.now ?? Date.now;
    this.signingKey = opts.signingKey ? loadSigningKey(opts.signingKey) : undefined;
    this.checkpointEvery = Math.max(1, opts.checkpointEvery ?? 1000);
  }

  /** Opens (or creates) the log, recovering from a crash: a torn final line is cut off and the chain continues. */
  static async open(opts: AuditLogOptions): Promise<AuditLog> {
    const log = new AuditLog(opts);
    await makeDirectory(opts.path);
    // One writer per log: a second process fails here, naming the holder, before it serves.
    log.lock = await WriterLock.acquire(opts.path);
    try {
      await log.recover();
      log.settledSeq = log.nextSeq - 1;
      log.writtenSeq = log.nextSeq - 1;
      log.writtenHash = log.lastHash;
      if (log.signingKey) await log.openCheckpoints(log.signingKey);
    } catch (e) {
      await log.fh?.close().catch(() => undefined);
      await log.lock.release();
      throw e;
    }
    await log.prune();
    const every = opts.pruneIntervalMs ?? 3_600_000;
    if (every > 0) {
      log.pruneTimer = setInterval(() => {
        log.prune().catch(() => undefined);
      }, every);
      log.pruneTimer.unref();
    }
    return log;
  }

  /** Records accepted and not yet durable: the audit queue depth /metrics reports. */
  get queueDepth(): number {
    return this.accepted;
  }

  /** Seq of the last record accepted (durable or queued). */
  /** True while appends would wait for room: callers use it to hold requests back, not drop records. */
  get saturated(): boolean {
    return this.accepted >= this.maxPending || this.waiters.length > 0;
  }

  /** Set once a write failed; the log accepts nothing more until reopened. */
  get failed(): Error | undefined {
    return this.failure;
  }

  get lastSeq(): number {
    return this.nextSeq - 1;
  }

  get headHash(): string {
    return this.lastHash;
  }

  private async recover(): Promise<void> {
    await makeDirectory(this.path);
    const anchor = await readAnchor(this.path);
    let segments = await listSegments(this.path);

    // A crash between writing anchor.json and unlinking the pruned segments leaves segments wholly
    // before the anchor: finish that prune so the chain starts where the anchor says.
    if (anchor) {
      const stale = segments.filter((s, i) => i + 1 < segments.length && segments[i + 1]!.firstSeq <= anchor.seq);
      for (const s of stale) await unlink(s.path);
      if (stale.length) await fsyncDir(this.path);
      segments = segments.slice(stale.length);
    }

    this.nextSeq = anchor?.seq ?? 1;
    this.lastHash = anchor?.prev ?? GENESIS_HASH;

    // Find the newest complete record, cutting a torn tail off the last segment.
    for (let i = segments.length - 1; i >= 0; i--) {
      const seg = segments[i]!;
      const last = await readLastCompleteLine(seg.path);
      if (i === segments.length - 1 && last.size > last.completeBytes) {
        await truncate(seg.path, last.completeBytes);
      }
      if (last.text !== undefined) {
        const rec = JSON.parse(last.text) as { seq: number; hash: string };
        if (!Number.isSafeInteger(rec.seq) || typeof rec.hash !== "string") {
          throw new Error(`audit log ${seg.path}: last record is malformed; run kt audit verify`);
        }
        this.nextSeq = rec.seq + 1;
        this.lastHash = rec.hash;
        break;
      }
    }
    // The first record after a prune commits the anchor; if the crash came before it was written, redo that.
    if (anchor && anchor.commitSeq >= this.nextSeq) this.pendingAnchor = anchor.hash;

    const last = segments[segments.length - 1];
    const lastWritable = last !== undefined && ((await stat(last.path)).mode & 0o200) !== 0;
    if (last && lastWritable) {
      await this.openActive(last, false);
    } else {
      await this.openActive({ name: segmentName(this.nextSeq), path: join(this.path, segmentName(this.nextSeq)), firstSeq: this.nextSeq }, true);
    }
  }

  /**
   * Opens checkpoints.jsonl for signing. A log whose last checkpoint marks a clean shutdown must
   * still end exactly there: anything else was changed while no gateway held it.
   */
  private async openCheckpoints(key: KeyObject): Promise<void> {
    const all = await readCheckpoints(this.path);
    let last: Checkpoint | undefined;
    for (let i = all.length - 1; i >= 0 && !last; i--) last = all[i]!.cp;
    if (last?.reason === "shutdown" && (last.seq !== this.lastSeq || last.hash !== this.lastHash)) {
      throw new Error(
        `audit log ${this.path} changed after its last clean shutdown (signed head seq ${last.seq}, found seq ${this.lastSeq}); ` +
          `run \`kt audit verify --path ${this.path} --public-key …\`, and move the directory aside to start a new log`,
      );
    }
    this.lastCheckpointSeq = last?.seq ?? 0;
    this.checkpoints = await CheckpointWriter.open(this.path, key);
  }

  /** Signs the head (seq, hash) and appends it, after the records it covers are durable. */
  private async checkpoint(reason: CheckpointReason, seq: number, hash: string, segment: string, anchor?: string): Promise<void> {
    if (!this.checkpoints || seq < 1) return;
    await this.checkpoints.write({ seq, hash, time: new Date(this.now()).toISOString(), segment, reason, ...(anchor ? { anchor } : {}) });
    this.lastCheckpointSeq = seq;
  }

  private async openActive(seg: SegmentFile, created: boolean): Promise<void> {
    this.fh = await open(seg.path, "a", 0o644);
    this.activeName = seg.name;
    this.activeFirstSeq = seg.firstSeq;
    this.activeSize = (await this.fh.stat()).size;
    this.activeMaxTime = created || this.activeSize === 0 ? 0 : await scanMaxTime(seg.path);
    if (created) await fsyncDir(this.path);
  }

  /**
   * Appends one record and resolves with its seq once it is on disk (fdatasync'd). Never drops:
   * when too many records are waiting for the disk it waits for room.
   */
  async append(input: AuditRecordInput): Promise<number> {
    const r = await this.admit(input);
    return r.durable;
  }

  /**
   * Puts a record into the chain: synchronously when there is room (the usual case, so the
   * caller learns its seq and hash at once), else after waiting for room. The receipt's
   * `written` resolves once the line is in the file, `durable` once an fdatasync covered it.
   */
  admit(input: AuditRecordInput): AppendReceipt | Promise<AppendReceipt> {
    this.assertWritable();
    if (this.accepted >= this.maxPending || this.waiters.length > 0) {
      noteBackPressure(this.accepted);
      return this.admitLater(input);
    }
    this.accepted++;
    return this.chain(input);
  }

  private async admitLater(input: AuditRecordInput): Promise<AppendReceipt> {
    // The releaser counts us in before waking us, so the bound holds across the wake-up.
    await new Promise<void>((resolve) => this.waiters.push(resolve));
    if (this.failure || this.closed) {
      this.accepted--;
      this.assertWritable();
    }
    return this.chain(input);
  }

  private chain(input: AuditRecordInput): AppendReceipt {
    const seq = this.nextSeq++;
    const prev = this.lastHash;
    const anchor = this.pendingAnchor;
    this.pendingAnchor = undefined;
    // The canonical text straight from the input (no record object serialised): see
    // canonicalAuditRecordText.
    const open = canonicalAuditRecordOpen(input, seq, prev, anchor);
    // What is hashed, prev + the canonical body (chainHash). `open` is a rope of a hundred-odd
    // pieces; hashing flattens this text in place, and the line below takes `open` back out of it
    // as a slice of that flat text: the pieces are walked and copied once per record, not twice
    // (the line's own flattening, for its byte length, then copies one flat run).
    const hashed = prev + open + "}";
    const hash = chainHashOfText(hashed);
    this.lastHash = hash;
    // The line is the canonical body with `hash` appended last: the verifier checks that the line
    // is exactly this, so a line with duplicate or extra keys cannot pass.
    const line = `${hashed.slice(prev.length, hashed.length - 1)},"hash":"${hash}"}\n`;
    const time = isoTimeMs(input.time);
    const entry: PendingEntry = {
      seq,
      line,
      bytes: Buffer.byteLength(line, "utf8"),
      hash,
      record: this.listeners.size > 0 ? recordOf(input, seq, prev, anchor, hash) : undefined,
      input,
      prev,
      anchor,
      time: Number.isFinite(time) ? time : 0,
      state: 0,
      durable: undefined,
    };
    this.unwritten.push(entry);
    this.scheduleWrite();
    return new Receipt(entry, this, hash);
  }

  private assertWritable(): void {
    if (this.closed) throw new Error("audit log is closed");
    if (this.failure) throw new Error(`audit log failed: ${this.failure.message}`);
  }

  private scheduleWrite(): void {
    if (this.writeScheduled || this.rotating) return;
    this.writeScheduled = true;
    setImmediate(this.writeOut);
  }

  /**
   * Writes what this turn appended with one synchronous write (to the page cache: no thread-pool
   * round trip per batch, and nothing a process crash could lose), then leaves the fdatasync to
   * the commit timer. Stops at a segment boundary and rotates before writing the rest.
   */
  private readonly writeOut = (): void => {
    this.writeScheduled = false;
    if (this.rotating || this.failure || this.unwritten.length === 0) return;
    const batch = this.unwritten;
    let bytes = 0;
    let n = 0;
    // Fill the active segment up to segment_bytes; a record bigger than a whole segment still goes
    // in, alone, rather than being refused.
    while (n < batch.length) {
      const len = batch[n]!.bytes;
      if (this.activeSize + bytes + len > this.segmentBytes && this.activeSize + bytes > 0) break;
      bytes += len;
      n++;
    }
    if (n > 0) {
      try {
        writeFullySync(this.fh.fd, n === 1 ? batch[0]!.line : joinLines(batch, n), bytes);
      } catch (e) {
        this.fail(e, []);
        return;
      }
      this.activeSize += bytes;
      noteBytesWritten(bytes);
      for (let k = 0; k < n; k++) {
        const p = batch[k]!;
        if (p.time > this.activeMaxTime) this.activeMaxTime = p.time;
        this.unsynced.push(p);
      }
      this.writtenSeq = batch[n - 1]!.seq;
      this.writtenHash = batch[n - 1]!.hash;
      this.wakeWritten();
    }
    this.unwritten = n === batch.length ? [] : batch.slice(n);
    if (this.unwritten.length > 0) this.startRotation(this.unwritten[0]!.seq);
    else this.scheduleSync();
  };

  /** True when a sync was waiting for its window (and now will not run). */
  private cancelSyncTimer(): boolean {
    if (this.syncTimer === undefined) return false;
    clearTimeout(this.syncTimer);
    this.syncTimer = undefined;
    return true;
  }

  private scheduleSync(): void {
    if (this.syncTimer !== undefined || this.unsynced.length === 0 || this.failure) return;
    this.syncTimer = setTimeout(this.runCommit, this.commitDelayMs);
  }

  private readonly runCommit = (): void => {
    this.syncTimer = undefined;
    void this.exclusive(() => this.commit()).then(() => this.scheduleSync());
  };

  /** One fdatasync for everything written so far; settles those appends. */
  private async commit(): Promise<void> {
    const batch = this.unsynced;
    this.unsynced = [];
    if (batch.length === 0) return;
    const started = performance.now();
    try {
      await this.fh.datasync();
    } catch (e) {
      this.fail(e, batch);
      return;
    }
    noteFsync((performance.now() - started) / 1000);
    this.settle(batch);
    const head = batch[batch.length - 1]!;
    if (this.checkpoints && head.seq - this.lastCheckpointSeq >= this.checkpointEvery) {
      try {
        await this.checkpoint("interval", head.seq, head.hash, this.activeName);
      } catch (e) {
        this.fail(e, []);
      }
    }
  }

  private startRotation(nextFirstSeq: number): void {
    this.rotating = true;
    this.cancelSyncTimer();
    void this.exclusive(async () => {
      const batch = this.unsynced;
      this.unsynced = [];
      try {
        // rotate() syncs the old file before closing it: that sync covers this batch.
        await this.rotate(nextFirstSeq);
      } catch (e) {
        this.fail(e, batch);
        return;
      }
      this.settle(batch);
      this.rotating = false;
      this.scheduleWrite();
    });
  }

  private settle(batch: PendingEntry[]): void {
    for (const p of batch) {
      this.accepted--;
      p.state = 1;
      p.durable?.resolve(p.seq);
    }
    if (batch.length > 0) this.settledSeq = batch[batch.length - 1]!.seq;
    if (this.listeners.size > 0) for (const p of batch) this.emit((p.record ??= recordOf(p.input, p.seq, p.prev, p.anchor, p.hash)));
    this.releaseWaiters(false);
    this.wakeFlushers();
  }

  /**
   * What reached the disk is unknown: stop accepting and fail everything in flight. Reopening
   * recovers a consistent chain from whatever is durable.
   */
  private fail(e: unknown, inFlight: PendingEntry[]): void {
    if (!this.failure) this.failure = e instanceof Error ? e : new Error(String(e));
    this.cancelSyncTimer();
    const all = [...inFlight, ...this.unsynced, ...this.unwritten];
    this.unsynced = [];
    this.unwritten = [];
    for (const p of all) {
      this.accepted--;
      p.state = 2;
      p.durable?.reject(this.failure);
    }
    this.releaseWaiters(true);
    for (const w of this.writtenWaiters.splice(0)) w.reject(this.failure);
    this.wakeFlushers();
  }

  private wakeWritten(): void {
    const ws = this.writtenWaiters;
    let i = 0;
    while (i < ws.length && ws[i]!.seq <= this.writtenSeq) ws[i++]!.resolve();
    if (i > 0) this.writtenWaiters = i === ws.length ? [] : ws.slice(i);
  }

  /**
   * Resolves once the record `seq` has been written to its segment file (the `write` returned:
   * the operating system holds it, so a crash of this process cannot lose it). Rejects if the log
   * failed first. The front doors wait for this before the last byte of an answer leaves.
   */
  whenWritten(seq: number): Promise<void> {
    if (seq <= this.writtenSeq) return Promise.resolve();
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<void>((resolve, reject) => this.writtenWaiters.push({ seq, resolve, reject }));
  }

  private wakeFlushers(): void {
    for (const w of this.flushWaiters.splice(0)) w();
  }

  private releaseWaiters(all: boolean): void {
    while (this.waiters.length > 0 && (all || this.accepted < this.maxPending)) {
      this.accepted++;
      this.waiters.shift()!();
    }
  }

  /** Closes the active segment durably, seals it, and starts the next one named by its first seq. */
  private async rotate(nextFirstSeq: number): Promise<void> {
    await this.fh.datasync();
    // The sealed segment's last record, signed: a seal is a natural point to pin the chain.
    await this.checkpoint("seal", this.writtenSeq, this.writtenHash, this.activeName);
    await this.fh.close();
    const sealedPath = join(this.path, this.activeName);
    if (this.immutable) await chmod(sealedPath, 0o444);
    this.sealedMaxTime.set(this.activeName, this.activeMaxTime);
    const name = segmentName(nextFirstSeq);
    await this.openActive({ name, path: join(this.path, name), firstSeq: nextFirstSeq }, true);
  }

  /** Serialises rotation and pruning, the two things that change the set of segment files. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.maintenance.then(fn, fn);
    this.maintenance = run.catch(() => undefined);
    return run;
  }

  /**
   * Retention: removes the oldest sealed segments whose newest record is older than
   * `retention_days`, whole segments only, and re-anchors the chain (see audit-anchor.ts).
   */
  prune(now = this.now()): Promise<PruneResult> {
    return this.exclusive(async () => {
      const cutoff = now - this.retentionDays * DAY_MS;
      const segments = await listSegments(this.path);
      const doomed: SegmentFile[] = [];
      let newest = 0;
      for (const seg of segments) {
        if (seg.name === this.activeName) break;
        let maxTime = this.sealedMaxTime.get(seg.name);
        if (maxTime === undefined) {
          maxTime = await scanMaxTime(seg.path);
          this.sealedMaxTime.set(seg.name, maxTime);
        }
        if (maxTime >= cutoff) break;
        doomed.push(seg);
        newest = Math.max(newest, maxTime);
      }
      if (doomed.length === 0) return { prunedSegments: [], anchor: undefined };

      const lastDoomed = await readLastCompleteLine(doomed[doomed.length - 1]!.path);
      if (lastDoomed.text === undefined) return { prunedSegments: [], anchor: undefined };
      const tail = JSON.parse(lastDoomed.text) as { seq: number; hash: string };
      const previous = await readAnchor(this.path);
      // Built and registered for commit in one synchronous step, so commitSeq is the very next
      // record whichever append comes first.
      const anchor = sealAnchor({
        version: 1,
        seq: tail.seq + 1,
        prev: tail.hash,
        prunedSegments: (previous?.prunedSegments ?? 0) + doomed.length,
        prunedThroughTime: new Date(newest).toISOString(),
        time: new Date(now).toISOString(),
        retentionDays: this.retentionDays,
        commitSeq: this.nextSeq,
        anchorPrev: previous?.hash ?? GENESIS_HASH,
      });
      this.pendingAnchor = anchor.hash;
      // Anchor first, then unlink: a crash in between leaves extra old segments that the next open
      // removes, never a chain with nothing to start from.
      await writeAnchor(this.path, anchor, this.immutable);
      // Signed, so that a forged anchor (older segments deleted to hide them) is told from this one.
      await this.checkpoint("anchor", tail.seq, tail.hash, doomed[doomed.length - 1]!.name, anchor.hash);
      for (const seg of doomed) {
        await unlink(seg.path);
        this.sealedMaxTime.delete(seg.name);
      }
      await fsyncDir(this.path);
      return { prunedSegments: doomed.map((s) => s.name), anchor };
    });
  }

  /** Live feed of records as they become durable. Returns the unsubscribe function. */
  watch(listener: AuditListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  private emit(record: StoredAuditRecord): void {
    for (const l of this.listeners) {
      try {
        l(record);
      } catch {
        // A faulty subscriber must not break the writer.
      }
    }
  }

  query(q: AuditQuery): Promise<AuditQueryResult> {
    return queryAuditLog(this.path, q);
  }

  /** Resolves once everything appended so far is durable (or the log has failed). */
  async flush(): Promise<void> {
    const target = this.nextSeq - 1;
    while (!this.failure && this.settledSeq < target) {
      const woken = new Promise<void>((resolve) => this.flushWaiters.push(resolve));
      // Someone is waiting: write and sync now rather than at the end of the commit window.
      this.writeOut();
      if (this.cancelSyncTimer()) this.runCommit();
      await woken;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.flush();
    this.closed = true;
    this.untrack();
    this.releaseWaiters(true);
    if (this.pruneTimer) clearInterval(this.pruneTimer);
    this.cancelSyncTimer();
    await this.maintenance;
    if (this.checkpoints) {
      // The clean-shutdown mark: nothing may follow it until a gateway opens the log again.
      if (!this.failure) await this.checkpoint("shutdown", this.lastSeq, this.lastHash, this.activeName).catch(() => undefined);
      await this.checkpoints.close();
    }
    await this.fh.close();
    await this.lock?.release();
  }
}

/**
 * Writes the text (`bytes` long in UTF-8) whole: the string goes to the write as it is, encoded
 * once by Node; only a short write (rare on a regular file) pays for a Buffer to finish from.
 */
function writeFullySync(fd: number, text: string, bytes: number): void {
  let off = writeSync(fd, text, null, "utf8");
  if (off >= bytes) return;
  const buf = Buffer.from(text, "utf8");
  while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
}

function joinLines(batch: readonly PendingEntry[], n: number): string {
  let text = "";
  for (let k = 0; k < n; k++) text += batch[k]!.line;
  return text;
}

async function scanMaxTime(path: string): Promise<number> {
  let max = 0;
  for await (const line of readSegmentLines(path)) {
    if (!line.complete) break;
    let t = NaN;
    try {
      t = Date.parse((JSON.parse(line.text) as { time: string }).time);
    } catch {
      /* the verifier reports malformed lines; retention just skips them */
    }
    if (Number.isFinite(t) && t > max) max = t;
  }
  return max;
}

import { log, metrics } from "../telemetry/index.js";

/**
 * The audit log's own instruments. Queue depth is read at scrape time from the open logs (nothing
 * on the hot path); bytes and fdatasync latency are bumped once per write batch and per commit
 * window, not per record.
 */
export interface QueueSource {
  /** Records accepted and not yet durable (written or waiting to be). */
  readonly queueDepth: number;
}

const openLogs = new Set<QueueSource>();

metrics.gauge({
  name: "kt_audit_queue_depth",
  help: "Audit records accepted and not yet made durable by an fdatasync",
  collect() {
    let n = 0;
    for (const l of openLogs) n += l.queueDepth;
    this.set(n);
  },
});
const bytesWritten = metrics.counter({ name: "kt_audit_bytes_written_total", help: "Bytes of audit records written to the log's segment files" });
const fsyncSeconds = metrics.histogram({
  name: "kt_audit_fsync_duration_seconds",
  help: "Duration of each group-commit fdatasync of the audit log",
  buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
});
const backPressure = metrics.counter({
  name: "kt_audit_backpressure_total",
  help: "Records that had to wait because the audit queue was full (answers waited for the disk)",
});

export function trackLog(l: QueueSource): () => void {
  openLogs.add(l);
  return () => openLogs.delete(l);
}

export function noteBytesWritten(n: number): void {
  bytesWritten.inc(n);
}

export function noteFsync(seconds: number): void {
  fsyncSeconds.observe(seconds);
}

const WARN_EVERY_MS = 30_000;
let lastWarn = 0;
let waitedSince = 0;

/** A record had to wait for room in the queue: counted, and a warning at most every 30 s. */
export function noteBackPressure(queueDepth: number): void {
  backPressure.inc();
  waitedSince++;
  const now = Date.now();
  if (now - lastWarn < WARN_EVERY_MS) return;
  lastWarn = now;
  log.warn({ audit_queue_depth: queueDepth, records_waited: waitedSince }, "audit log back-pressure: answers are waiting for the disk");
  waitedSince = 0;
}

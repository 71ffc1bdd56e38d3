import { diag, DiagLogLevel, type DiagLogger } from "@opentelemetry/api";
import { log, metrics } from "../telemetry/index.js";

/**
 * Spans that never reach the collector are counted and logged (at most one warning per 30 s with
 * the counts since the last one). The local audit log does not depend on the exporter at all: a
 * collector that is down costs spans, never records.
 */
const exportFailures = metrics.counter({
  name: "kt_span_export_failures_total",
  help: "Span export batches the OTLP exporter gave up on (collector down, rejected, timed out)",
});
const spansDropped = metrics.counter({
  name: "kt_spans_dropped_total",
  help: "Spans dropped before export because the batch queue was full (OTEL_BSP_MAX_QUEUE_SIZE)",
});

const WARN_EVERY_MS = 30_000;
let lastWarn = 0;
let failuresSince = 0;
let droppedSince = 0;

function maybeWarn(detail: string): void {
  const now = Date.now();
  if (now - lastWarn < WARN_EVERY_MS) return;
  lastWarn = now;
  log.warn(
    { span_export_failures: failuresSince, spans_dropped: droppedSince, detail: detail.slice(0, 200) },
    "spans are not reaching the collector (the local audit log is unaffected)",
  );
  failuresSince = 0;
  droppedSince = 0;
}

export function noteExportFailure(err: unknown): void {
  exportFailures.inc();
  failuresSince++;
  maybeWarn(err instanceof Error ? err.message : String(err));
}

export function noteSpansDropped(n: number): void {
  spansDropped.inc(n);
  droppedSince += n;
  maybeWarn(`${n} spans dropped: the export queue was full`);
}

/**
 * Listens where the OTel SDK reports: its global error handler (a failed export batch) and its
 * diagnostic logger (the batch processor's "Dropped N spans because maxQueueSize reached").
 */
export function watchExportFailures(setGlobalErrorHandler: (h: (e: unknown) => void) => void): void {
  setGlobalErrorHandler((e) => noteExportFailure(e));
  const dropped = /Dropped (\d+) spans because maxQueueSize reached/;
  const logger: DiagLogger = {
    error: (m: string) => {
      if (/export/i.test(m)) noteExportFailure(new Error(m));
    },
    warn: (m: string) => {
      const d = dropped.exec(m);
      if (d) noteSpansDropped(Number(d[1]));
    },
    info: () => {},
    debug: () => {},
    verbose: () => {},
  };
  diag.setLogger(logger, { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true });
}

/**
 * Telemetry: the logger and the metrics registry every part of the gateway uses.
 *
 * Logging — structured JSON lines (pino) on stderr; `--log-level` / KT_LOG_LEVEL, `--log-format
 * json|pretty`; every line carries `worker` under `--workers`. A disabled level costs a no-op call.
 *
 *   import { log } from "../telemetry/index.js";
 *   log.warn({ target: s.target.id, error: code }, "health probe failed");
 *
 * `log` is a live binding that the CLI replaces once at start-up (configureLogging): use it at the
 * call, don't keep it or a child of it from module load. Log ids, codes, counts and timings — never
 * message content, matched values, keys or raw client strings.
 *
 * Metrics — one prom-client registry per process, served at GET /metrics (see docs/operations.md)
 * and exported over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set. Register your instruments once,
 * at module load (registering a name again returns the same instrument), and bump them inline:
 *
 *   import { metrics } from "../telemetry/index.js";
 *   const rejected = metrics.counter({
 *     name: "kt_limits_rejected_total",                  // kt_<area>_<what>[_<unit>], counters end in _total
 *     help: "Requests refused by a limit, by key id and limit kind",
 *     labelNames: ["key_id", "kind"] as const,           // bounded values only: config ids and enums
 *   });
 *   rejected.inc({ key_id: principal.keyId, kind: "tokens_per_minute" });
 *
 *   const depth = metrics.gauge({ name: "kt_audit_queue_depth", help: "…",
 *     collect() { this.set(queue.length); } });          // read at scrape time: nothing on the hot path
 *   const fsync = metrics.histogram({ name: "kt_audit_fsync_duration_seconds", help: "…" });
 *   fsync.observe(seconds);                             // DURATION_BUCKETS unless `buckets` is given
 *
 * On a per-request path, update through cells (metric-cells.ts): the label values joined by SEP
 * are the key, and the labels object is built only for a combination's first update:
 *
 *   const cells = new CounterCells(rejected, ["key_id", "kind"]);
 *   const k = keyId + SEP + kind;
 *   if (!cells.inc(k)) cells.first(k, { key_id: keyId, kind });
 *
 * Label values must come from bounded sets (config ids, enums, finding types): never a client's raw
 * `model`, a path, an error message. Gauges say how `--workers` combines them (`aggregator`,
 * default sum); counters and histograms are summed across workers.
 */
export { configureLogging, flushLogs, log, LOG_LEVELS, parseLogLevel, type Logger, type LogFormat, type LoggingOptions } from "./logger.js";
export { DURATION_BUCKETS, metrics, registry, TOKEN_BUCKETS, type Counter, type Gauge, type Histogram } from "./metrics-registry.js";
export { telemetryObserver } from "./request-telemetry.js";
export { CounterCells, HistogramCells, KeyJoin, SEP } from "./metric-cells.js";
export { clusterExposition, collectProcessMetrics, joinClusterMetrics, noteWorkerRestart, scrapeMetrics, serveClusterMetrics, type Exposition } from "./cluster-metrics.js";
export { serveMetrics, type MetricsServer } from "./metrics-server.js";
export { metricsExportWanted, registryProducer, startMetricsExport, type MetricsExport } from "./otlp-metrics.js";

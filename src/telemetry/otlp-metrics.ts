import type { metrics as sdkMetrics } from "@opentelemetry/sdk-node";
import type { MetricObjectWithValues, MetricValue } from "prom-client";
import { log } from "./logger.js";
import { metrics, registry } from "./metrics-registry.js";

type MetricData = sdkMetrics.MetricData;
type HrTime = [number, number];

/*
 * OTLP export of the same registry /metrics serves. prom-client stays the instrument API (cheap on
 * the hot path, cluster aggregation built in); an OTel MetricProducer turns the registry into OTel
 * metric data at each export, and the SDK's PeriodicExportingMetricReader sends it with the OTLP
 * exporter the standard OTEL_* variables choose. Names and attributes go out as OTel names
 * (`gen_ai.client.token.usage`, `gen_ai.operation.name`) where the registry knows them.
 */

/** Prometheus label names of the OTel GenAI attributes, back to their OTel names. */
const ATTRIBUTE_NAMES: Record<string, string> = {
  gen_ai_operation_name: "gen_ai.operation.name",
  gen_ai_provider_name: "gen_ai.provider.name",
  gen_ai_request_model: "gen_ai.request.model",
  gen_ai_response_model: "gen_ai.response.model",
  gen_ai_token_type: "gen_ai.token.type",
  error_type: "error.type",
};

export interface MetricsExport {
  shutdown(): Promise<void>;
}

/** Whether the OTEL_* variables ask for metrics over OTLP. */
export function metricsExportWanted(env: NodeJS.ProcessEnv = process.env): boolean {
  if ((env.OTEL_SDK_DISABLED ?? "").trim().toLowerCase() === "true") return false;
  const exporter = (env.OTEL_METRICS_EXPORTER ?? "otlp").split(",")[0]!.trim();
  if (exporter !== "otlp") return false;
  return Boolean(env.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT?.trim() || env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim());
}

/**
 * Starts periodic OTLP export (OTEL_METRIC_EXPORT_INTERVAL, default 60 s) when
 * OTEL_EXPORTER_OTLP_(METRICS_)ENDPOINT is set; protocol from OTEL_EXPORTER_OTLP_(METRICS_)PROTOCOL
 * (http/protobuf by default, http/json, grpc). Returns undefined otherwise; nothing is loaded then.
 */
export async function startMetricsExport(env: NodeJS.ProcessEnv = process.env): Promise<MetricsExport | undefined> {
  if (!metricsExportWanted(env)) return undefined;
  const { metrics: m, resources } = await import("@opentelemetry/sdk-node");
  const protocol = (env.OTEL_EXPORTER_OTLP_METRICS_PROTOCOL ?? env.OTEL_EXPORTER_OTLP_PROTOCOL ?? "http/protobuf").trim();
  const { OTLPMetricExporter } =
    protocol === "grpc"
      ? await import("@opentelemetry/exporter-metrics-otlp-grpc")
      : protocol === "http/json"
        ? await import("@opentelemetry/exporter-metrics-otlp-http")
        : await import("@opentelemetry/exporter-metrics-otlp-proto");
  const interval = Number(env.OTEL_METRIC_EXPORT_INTERVAL ?? 60_000);
  const reader = new m.PeriodicExportingMetricReader({
    exporter: new OTLPMetricExporter(),
    exportIntervalMillis: Number.isFinite(interval) && interval > 0 ? interval : 60_000,
    metricProducers: [registryProducer(m)],
  });
  const serviceName = env.OTEL_SERVICE_NAME?.trim() || "keeptrusts-gateway";
  const resource = resources
    .resourceFromAttributes({ "service.name": serviceName, ...(env.KT_WORKER_ID ? { "kt.worker": env.KT_WORKER_ID } : {}) })
    // OTEL_RESOURCE_ATTRIBUTES (and OTEL_SERVICE_NAME) take precedence, as for the spans.
    .merge(resources.detectResources({ detectors: [resources.envDetector] }));
  const provider = new m.MeterProvider({ resource, readers: [reader] });
  log.info({ protocol, interval_ms: interval }, "exporting metrics over OTLP");
  return {
    async shutdown() {
      await provider.shutdown();
    },
  };
}

/** An OTel MetricProducer over the prom-client registry. */
export function registryProducer(m: typeof sdkMetrics): sdkMetrics.MetricProducer {
  const start = hrNow();
  return {
    async collect() {
      const end = hrNow();
      const list = (await registry.getMetricsAsJSON()) as MetricObjectWithValues<MetricValue<string>>[];
      const out: MetricData[] = [];
      for (const metric of list) {
        const data = convert(m, metric, start, end);
        if (data) out.push(data);
      }
      return { resourceMetrics: { resource: undefined as never, scopeMetrics: [{ scope: { name: "keeptrusts-gateway" }, metrics: out }] }, errors: [] };
    },
  };
}

function convert(m: typeof sdkMetrics, metric: MetricObjectWithValues<MetricValue<string>>, startTime: HrTime, endTime: HrTime): MetricData | undefined {
  const { name, unit } = metrics.otelNameOf(metric.name);
  const descriptor = { name, description: metric.help, unit: unit ?? "", valueType: 1 /* DOUBLE */ };
  const type = metric.type as unknown as string;
  const attrs = (labels: Record<string, string | number | undefined>) => {
    const a: Record<string, string | number> = {};
    for (const k in labels) if (labels[k] !== undefined && k !== "le") a[ATTRIBUTE_NAMES[k] ?? k] = labels[k]!;
    return a;
  };
  if (type === "counter" || type === "gauge") {
    const dataPoints = metric.values.map((v) => ({ startTime, endTime, attributes: attrs(v.labels), value: v.value }));
    if (type === "counter")
      return { descriptor, aggregationTemporality: m.AggregationTemporality.CUMULATIVE, dataPointType: m.DataPointType.SUM, dataPoints, isMonotonic: true };
    return { descriptor, aggregationTemporality: m.AggregationTemporality.CUMULATIVE, dataPointType: m.DataPointType.GAUGE, dataPoints };
  }
  if (type === "histogram") {
    // prom-client gives cumulative `_bucket` series per label set, plus `_sum` and `_count`.
    const series = new Map<string, { attributes: Record<string, string | number>; bounds: number[]; cumulative: number[]; sum: number; count: number }>();
    for (const v of metric.values as (MetricValue<string> & { metricName?: string })[]) {
      const attributes = attrs(v.labels);
      const key = JSON.stringify(attributes);
      let s = series.get(key);
      if (!s) series.set(key, (s = { attributes, bounds: [], cumulative: [], sum: 0, count: 0 }));
      const suffix = v.metricName?.slice(metric.name.length);
      if (suffix === "_bucket") {
        const le = v.labels.le;
        if (le !== "+Inf" && le !== undefined) {
          s.bounds.push(Number(le));
          s.cumulative.push(v.value);
        }
      } else if (suffix === "_sum") s.sum = v.value;
      else if (suffix === "_count") s.count = v.value;
    }
    const dataPoints = [...series.values()].map((s) => {
      const counts = s.cumulative.map((c, i) => c - (i === 0 ? 0 : s.cumulative[i - 1]!));
      counts.push(s.count - (s.cumulative.at(-1) ?? 0));
      return { startTime, endTime, attributes: s.attributes, value: { buckets: { boundaries: s.bounds, counts }, sum: s.sum, count: s.count } };
    });
    return { descriptor, aggregationTemporality: m.AggregationTemporality.CUMULATIVE, dataPointType: m.DataPointType.HISTOGRAM, dataPoints };
  }
  return undefined;
}

function hrNow(): HrTime {
  const ms = performance.timeOrigin + performance.now();
  return [Math.floor(ms / 1000), Math.round((ms % 1000) * 1e6)];
}

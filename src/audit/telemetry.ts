import { trace, type Tracer } from "@opentelemetry/api";

/** A running OpenTelemetry SDK: the tracer request spans use, and a flush-and-stop. */
export interface Telemetry {
  readonly tracer: Tracer;
  readonly serviceName: string;
  /** Exports every pending span, then stops the SDK. */
  shutdown(): Promise<void>;
}

export const DEFAULT_SERVICE_NAME = "keeptrusts-gateway";

let active: Telemetry | undefined;

/** The telemetry most recently started and not yet shut down (what startRequestSpan uses by default). */
export function activeTelemetry(): Telemetry | undefined {
  return active;
}

/**
 * Whether the standard OTEL_* variables ask for trace export. Without an OTLP endpoint (or an
 * explicit console/zipkin exporter) there is nowhere to send spans, so the SDK is not started and
 * requests pay nothing for it.
 */
export function telemetryWanted(env: NodeJS.ProcessEnv = process.env): boolean {
  if ((env.OTEL_SDK_DISABLED ?? "").trim().toLowerCase() === "true") return false;
  const exporters = (env.OTEL_TRACES_EXPORTER ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  if (exporters[0] === "none") return false;
  if (exporters.some((e) => e === "console" || e === "zipkin")) return true;
  return Boolean(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim() || env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim());
}

/**
 * Starts @opentelemetry/sdk-node for traces only, configured entirely by the standard variables:
 * OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT, OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL (http/protobuf, the
 * default, http/json or grpc), OTEL_EXPORTER_OTLP_(TRACES_)HEADERS, OTEL_BSP_* batching, sampler
 * and resource variables. OTEL_SERVICE_NAME defaults to `keeptrusts-gateway`.
 *
 * Returns undefined when no exporter is configured. The SDK is imported lazily so a gateway
 * without telemetry does not even load it.
 */
export async function startTelemetry(): Promise<Telemetry | undefined> {
  const env = process.env;
  if (!telemetryWanted(env)) return undefined;
  const { NodeSDK, resources, core } = await import("@opentelemetry/sdk-node");
  // Dropped and failed exports are counted and logged; the local audit log never waits on them.
  const { watchExportFailures } = await import("./export-failures.js");
  watchExportFailures(core.setGlobalErrorHandler);

  const resourceAttrs = env.OTEL_RESOURCE_ATTRIBUTES ?? "";
  const serviceName =
    env.OTEL_SERVICE_NAME?.trim() ||
    /(?:^|,)\s*service\.name\s*=\s*([^,]+)/.exec(resourceAttrs)?.[1]?.trim() ||
    DEFAULT_SERVICE_NAME;

  const sdk = new NodeSDK({
    serviceName,
    // Only traces: metrics and logs would otherwise default to OTLP exporters of their own,
    // sending empty exports to a Jaeger that does not accept them.
    metricReaders: [],
    logRecordProcessors: [],
    instrumentations: [],
    // The process detector would put the full command line into every export; we stay with
    // env (OTEL_RESOURCE_ATTRIBUTES) and host unless the operator chooses detectors.
    ...(env.OTEL_NODE_RESOURCE_DETECTORS ? {} : { resourceDetectors: [resources.envDetector, resources.hostDetector] }),
  });
  sdk.start();

  const telemetry: Telemetry = {
    tracer: trace.getTracer("keeptrusts-gateway"),
    serviceName,
    async shutdown() {
      if (active === telemetry) active = undefined;
      await sdk.shutdown();
    },
  };
  active = telemetry;
  return telemetry;
}

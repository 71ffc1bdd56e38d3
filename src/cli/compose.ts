import { join } from "node:path";
import { AuditLog, auditObserver, startTelemetry, type Telemetry } from "../audit/index.js";
import type { AuditLoggerSettings, GatewayConfig } from "../config/index.js";
import { compilePolicyEngine } from "../policy/index.js";
import { auditRpcs, connectServices } from "../server/connect/index.js";
import { startGateway, type Gateway } from "../server/index.js";
import { collectProcessMetrics, log, scrapeMetrics, telemetryObserver } from "../telemetry/index.js";

export interface ComposeOptions {
  listen: string;
  configPath: string;
  maxBodyBytes?: number;
  tls?: { certFile: string; keyFile: string };
  env?: Record<string, string | undefined>;
  probeIntervalMs?: number;
  /** Serve GET /metrics on the gateway's port (admin scope); false when --metrics-listen serves them. Default true. */
  metricsRoute?: boolean;
  /** Started by the caller (the CLI starts it before anything else loads); else started here. */
  telemetry?: Telemetry | null;
}

export interface GatewayServices {
  gateway: Gateway;
  telemetry: Telemetry | undefined;
  auditLog(): AuditLog | undefined;
  /** Drains requests, then flushes the audit log and the span exporter. */
  close(opts?: { drainMs?: number; delayMs?: number }): Promise<void>;
}

/** Wires the real parts together: telemetry, audit log, policy engine, routing, both front doors. */
export async function createGatewayServices(opts: ComposeOptions): Promise<GatewayServices> {
  collectProcessMetrics();
  const telemetry = opts.telemetry === undefined ? await startTelemetry() : (opts.telemetry ?? undefined);
  let auditLog: AuditLog | undefined;
  let auditSettings = "";
  let config: GatewayConfig | undefined;

  // The audit log follows the config: a reload that changes audit-logger settings reopens it.
  const prepare = async (next: GatewayConfig) => {
    const settings = JSON.stringify(next.audit ?? null);
    if (settings !== auditSettings) {
      const opened = next.audit ? await AuditLog.open(auditOptions(next.audit)) : undefined;
      const old = auditLog;
      auditLog = opened;
      auditSettings = settings;
      await old?.close();
    }
    config = next;
  };

  const gateway = await startGateway({
    ...opts,
    prepare,
    metrics: opts.metricsRoute === false ? undefined : scrapeMetrics,
    observer: telemetryObserver(auditObserver({
      log: () => auditLog,
      pack: () => (config?.pack ? { name: config.pack.name, version: config.pack.version } : undefined),
      telemetry: () => telemetry,
      onError: (e) => log.error({ error: e.message }, "audit log write failed"),
    })),
    connect: (g) =>
      connectServices(g, {
        rpcs: () => (auditLog ? auditRpcs(auditLog) : undefined),
        telemetry: () => telemetry,
        log: () => auditLog,
        logAllAccess: () => config?.audit?.log_all_access === true,
      }, { traceUrl: (opts.env ?? process.env).KT_JAEGER_URL || undefined }),
    compilePolicy: (cfg, registry) =>
      compilePolicyEngine(cfg, {
        askGuard: async (targetId, messages, signal) => {
          const s = registry.get(targetId);
          if (!s) throw new Error(`guard target '${targetId}' is not configured`);
          const body = await s.client.json({
            op: "chat",
            body: { model: s.target.upstreamModel, messages, temperature: 0, max_tokens: 20 },
            signal: signal ?? AbortSignal.timeout(s.target.timeoutSeconds * 1000),
          });
          const content = (body as { choices?: { message?: { content?: unknown } }[] }).choices?.[0]?.message?.content;
          if (typeof content !== "string") throw new Error("guard model returned no text");
          return content;
        },
      }),
  });
  return {
    gateway,
    telemetry,
    auditLog: () => auditLog,
    async close(o) {
      await gateway.close(o);
      await auditLog?.close();
      await telemetry?.shutdown();
    },
  };
}

function auditOptions(a: AuditLoggerSettings) {
  // Under --workers each process keeps its own chain: one chain cannot take appends from several writers.
  const worker = process.env.KT_WORKER_ID;
  const path = worker ? join(a.path, `worker-${worker}`) : a.path;
  return { path, immutable: a.immutable, retention_days: a.retention_days, segment_bytes: a.segment_bytes };
}

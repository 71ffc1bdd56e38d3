import { hash } from "node:crypto";
import { join } from "node:path";
import { AuditLog, auditObserver, startTelemetry, type AuditLogOptions, type Telemetry } from "../audit/index.js";
import type { AuditLoggerSettings, GatewayConfig } from "../config/index.js";
import { compilePolicyEngine, preparePiiScanners, warmPolicyEngine, type PolicyEngine } from "../policy/index.js";
import { ApplyError, auditRpcs, connectServices, startGateway, type Gateway, type PreparedConfig } from "../server/index.js";
import { collectProcessMetrics, log, scrapeMetrics, telemetryObserver } from "../telemetry/index.js";
import { loopTurn } from "../wire/index.js";

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
  /**
   * Run the compiled chain on made-up traffic before the listener opens, so the first clients do
   * not pay for V8's unoptimised tiers (src/policy/warm-engine.ts). `kt gateway` sets it.
   */
  warmChain?: boolean;
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

  // The audit log follows the config: a reload that changes audit-logger settings opens the new
  // log first (a directory that cannot be created fails the reload, not the process) and swaps it
  // in only when the whole config is applied.
  const prepare = async (next: GatewayConfig): Promise<PreparedConfig> => {
    const wanted = next.audit ? auditOptions(next.audit, opts.env ?? process.env) : undefined;
    // The key itself is not kept in the comparison string, only its digest.
    const settings = JSON.stringify(wanted ? { ...wanted, signingKey: wanted.signingKey === undefined ? undefined : hash("sha256", wanted.signingKey) } : null);
    const changed = settings !== auditSettings;
    let opened: AuditLog | undefined;
    let closedOld = false;
    if (changed && wanted) {
      const old = auditLog;
      // The same directory: the old writer must let go first (one writer per log, even in one
      // process). Requests ending in between fail closed (503) rather than go unrecorded.
      if (old && old.path === wanted.path) {
        await old.close();
        closedOld = true;
      }
      try {
        opened = await AuditLog.open(wanted);
      } catch (err) {
        throw new ApplyError(`audit-logger path ${next.audit!.path}: ${(err as Error).message}`, { cause: err });
      }
    }
    return {
      commit() {
        config = next;
        if (!changed) return;
        const old = auditLog;
        auditLog = opened;
        auditSettings = settings;
        if (!closedOld) void old?.close().catch((e: Error) => log.error({ error: e.message }, "closing the previous audit log failed"));
      },
      abort: async () => {
        await opened?.close();
      },
    };
  };

  const observer = auditObserver({
    log: () => auditLog,
    pack: () => (config?.pack ? { name: config.pack.name, version: config.pack.version } : undefined),
    telemetry: () => telemetry,
    durability: () => config?.audit?.durability ?? "write",
    authFailureWindowMs: () => (config?.audit?.auth_failure_window_seconds ?? 60) * 1000,
    onError: (e) => log.error({ error: e.message }, "audit log write failed"),
  });
  let gateway: Gateway;
  let compiled: PolicyEngine | undefined;
  try {
    gateway = await startGateway({
    ...opts,
    prepare,
    metrics: opts.metricsRoute === false ? undefined : scrapeMetrics,
    // Request metrics wrap the audit observer; refusals go straight to it.
    observer: { ...telemetryObserver(observer), refuse: (r) => observer.refuse(r) },
    connect: (g) =>
      connectServices(g, {
        rpcs: () => (auditLog ? auditRpcs(auditLog) : undefined),
        observer,
        logAllAccess: () => config?.audit?.log_all_access === true,
      }, { traceUrl: (opts.env ?? process.env).KT_JAEGER_URL || undefined }),
    warmPolicy: (cfg) => preparePiiScanners(cfg, loopTurn),
    beforeListen: opts.warmChain
      ? async (rt) => {
          if (!compiled) return;
          const started = performance.now();
          const rounds = await warmPolicyEngine(compiled, rt.config.streaming.mode, { turn: loopTurn });
          if (rounds > 0) log.debug({ rounds, ms: Math.round(performance.now() - started) }, "warmed the policy chain");
        }
      : undefined,
    compilePolicy: (cfg, registry) =>
      (compiled = compilePolicyEngine(cfg, {
        askGuard: async (targetId, messages, signal, extra) => {
          const s = registry.get(targetId);
          if (!s) throw new Error(`guard target '${targetId}' is not configured`);
          const body = await s.client.json({
            op: "chat",
            body: { ...extra, model: s.target.upstreamModel, messages, temperature: 0, max_tokens: 20 },
            // The guard target's own timeout holds whether or not the request brings a signal.
            signal: signal ? AbortSignal.any([signal, AbortSignal.timeout(s.target.timeoutSeconds * 1000)]) : AbortSignal.timeout(s.target.timeoutSeconds * 1000),
          });
          const content = (body as { choices?: { message?: { content?: unknown } }[] }).choices?.[0]?.message?.content;
          if (typeof content !== "string") throw new Error("guard model returned no text");
          return content;
        },
      })),
    });
  } catch (err) {
    observer.close();
    await auditLog?.close();
    throw err;
  }
  return {
    gateway,
    telemetry,
    auditLog: () => auditLog,
    async close(o) {
      await gateway.close(o);
      // The open failed-authentication windows are written before the log closes.
      observer.close();
      await auditLog?.close();
      // Spans are not the record (the audit log is, closed above): a collector that is down costs
      // the spans still queued, said once, and the drain still succeeds.
      await telemetry?.shutdown().catch((e: Error) => log.warn({ error: e.message }, "spans still queued at shutdown were not exported (the local audit log is unaffected)"));
    },
  };
}

function auditOptions(a: AuditLoggerSettings, env: Record<string, string | undefined>): AuditLogOptions {
  // Under --workers each process keeps its own chain: one chain cannot take appends from several writers.
  const worker = process.env.KT_WORKER_ID;
  const path = worker ? join(a.path, `worker-${worker}`) : a.path;
  return {
    path,
    immutable: a.immutable,
    retention_days: a.retention_days,
    segment_bytes: a.segment_bytes,
    // Answers wait for the sync in fsync mode: start each sync as soon as the last one ends.
    commitDelayMs: a.durability === "fsync" ? 0 : undefined,
    signingKey: a.signing_key_ref ? env[a.signing_key_ref.env] : undefined,
    checkpointEvery: a.checkpoint_every,
  };
}

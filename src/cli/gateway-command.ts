import cluster, { type Worker } from "node:cluster";
import { DEFAULT_CONFIG } from "./config-command.js";
import { parseCommand, UsageError, type CommandSpec } from "./flags.js";
import { buildKind, version } from "./version.js";

export const DEFAULT_LISTEN = "0.0.0.0:41002";

export const gatewayRunSpec = {
  name: "gateway run",
  summary: "start the gateway: OpenAI-compatible HTTP, gRPC, Connect and gRPC-Web on one port",
  flags: {
    listen: { type: "string", value: "HOST:PORT", default: DEFAULT_LISTEN, help: "address to listen on (port 0 picks a free one)" },
    "policy-config": { type: "string", value: "FILE", default: DEFAULT_CONFIG, help: "the policy-config.yaml to load (SIGHUP reloads it)" },
    "max-body-bytes": { type: "string", value: "N", help: "largest request body accepted (default: the config's limits, else 16 MiB)" },
    "tls-cert": { type: "string", value: "FILE", help: "PEM certificate: serve HTTPS/h2 over TLS (with --tls-key; SIGHUP re-reads both)" },
    "tls-key": { type: "string", value: "FILE", help: "PEM private key of --tls-cert" },
    "drain-delay-seconds": {
      type: "string",
      value: "N",
      default: "5",
      help: "on SIGTERM, /readyz answers 503 at once but new connections are still accepted this long (a load balancer's time to stop sending)",
    },
    "drain-seconds": { type: "string", value: "N", default: "30", help: "then requests and streams in flight have this long to finish before their connections close" },
    workers: { type: "string", value: "N", default: "1", help: "processes sharing the port (node:cluster); the primary supervises and aggregates /metrics" },
    "log-level": { type: "string", value: "LEVEL", help: "fatal, error, warn, info, debug, trace or silent (default: KT_LOG_LEVEL, else info)" },
    "log-format": { type: "string", value: "json|pretty", default: "json", help: "json: one object per line (for collectors); pretty: one readable line (for a terminal)" },
    "metrics-listen": {
      type: "string",
      value: "HOST:PORT",
      help: "serve GET /metrics here, without authentication, instead of on the gateway's port (where it needs the admin scope)",
    },
  },
  examples: [
    "kt gateway run --policy-config ./policy-config.yaml",
    "kt gateway run --listen 0.0.0.0:41002 --workers 4 --metrics-listen 127.0.0.1:9464 --log-format pretty",
  ],
  notes:
    "Signals: SIGHUP reloads the config file (and the TLS certificate); SIGTERM drains as above then exits 0; SIGINT drains without the delay.\n" +
    "Logs are JSON lines on stderr: one access line per request, warnings for probe failures, circuit transitions, failovers and reloads.\n" +
    "Spans (and metrics) export over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set.",
} satisfies CommandSpec;

/**
 * `kt gateway run`: telemetry starts first (before undici and the servers load), then the
 * gateway. SIGHUP reloads the config and the TLS files; SIGTERM drains behind a load balancer
 * (readiness off, accept for the delay, then stop accepting and finish in-flight), exit 0.
 */
export async function runGateway(args: string[]): Promise<number> {
  const parsed = parseCommand(gatewayRunSpec, args);
  if (!parsed) return 0;
  const { values } = parsed;
  const spec = gatewayRunSpec.name;
  const workers = positiveInt(values.workers!, "--workers");
  if (Boolean(values["tls-cert"]) !== Boolean(values["tls-key"])) throw new UsageError("--tls-cert and --tls-key go together", spec);
  const maxBody = values["max-body-bytes"] === undefined ? undefined : positiveInt(values["max-body-bytes"], "--max-body-bytes");
  const drainMs = positiveInt(values["drain-seconds"]!, "--drain-seconds") * 1000;
  const delayMs = nonNegativeInt(values["drain-delay-seconds"]!, "--drain-delay-seconds") * 1000;
  const format = values["log-format"];
  if (format !== "json" && format !== "pretty") throw new UsageError(`--log-format must be json or pretty, got '${format}'`, spec);

  const { configureLogging, parseLogLevel } = await import("../telemetry/index.js");
  let level: string | undefined;
  try {
    level = values["log-level"] === undefined ? undefined : parseLogLevel(values["log-level"]);
    if (level === undefined && process.env.KT_LOG_LEVEL) parseLogLevel(process.env.KT_LOG_LEVEL);
  } catch (e) {
    throw new UsageError((e as Error).message, spec);
  }
  // The server modules load only where they are used (a --workers primary forks without them).
  const address = async (v: string, flag: string) => parseAddress((await import("../server/index.js")).parseListen, v, flag);
  const metricsListen = values["metrics-listen"] === undefined ? undefined : await address(values["metrics-listen"], "--metrics-listen");

  if (workers > 1 && cluster.isPrimary) {
    configureLogging({ level, format, workerId: "0" });
    return runPrimary(workers, values["policy-config"]!, delayMs + drainMs, metricsListen);
  }
  await address(values.listen!, "--listen");
  const { log, flushLogs, joinClusterMetrics, scrapeMetrics, serveMetrics, startMetricsExport } = await import("../telemetry/index.js");
  configureLogging({ level, format });

  // Telemetry first: the SDK must be in place before undici and the servers load.
  const { startTelemetry } = await import("../audit/telemetry.js");
  const telemetry = (await startTelemetry()) ?? null;
  const { createGatewayServices } = await import("./compose.js");
  const { ConfigError } = await import("../config/index.js");
  joinClusterMetrics();
  const metricsExport = await startMetricsExport();
  const { ApplyError, isPeerReset } = await import("../server/index.js");
  const { errorSummary } = await import("../errors/index.js");
  // A promise rejected in some request's path that nobody awaited must not end the process (and
  // every other request with it): log it and go on.
  process.on("unhandledRejection", (reason) => {
    // Name, code and frames only: a message may quote a client's text (errorSummary says why).
    log.error({ error: errorSummary(reason) }, "unhandled rejection (the gateway keeps running)");
  });
  // A socket's 'error' that no listener takes is thrown as an uncaught exception: one peer's reset
  // (a client or upstream closing with bytes unread) would end the process and every request with
  // it, as a rapid-reset flood once did (6ec1a84 gave those sockets a listener; this is the net for
  // a path not yet found). The socket is gone either way. Any other uncaught exception is a bug of
  // unknown reach: a fatal line (its name, code and frames: not its message, which may quote a
  // client's text) and exit code 1, as Node's default, for the supervisor to restart.
  process.on("uncaughtException", (err) => {
    if (isPeerReset(err)) {
      log.warn({ code: err.code, syscall: err.syscall }, "a connection's reset reached no listener (the gateway keeps running)");
      return;
    }
    log.fatal({ error: errorSummary(err) }, "uncaught exception (the gateway exits)");
    flushLogs();
    process.exit(1);
  });
  // Signals are caught from here on: one that arrives while the gateway starts (its port may
  // already answer /healthz) is acted on once it has started, instead of meeting the default
  // action and killing the process mid-start. A second Ctrl-C still means now.
  let early: NodeJS.Signals | undefined;
  let onSignal = (signal: NodeJS.Signals) => {
    if (early === "SIGINT" && signal === "SIGINT") process.exit(130);
    early ??= signal;
  };
  process.on("SIGTERM", () => onSignal("SIGTERM"));
  process.on("SIGINT", () => onSignal("SIGINT"));
  // Likewise a SIGHUP (its default action kills): a reload asked for while starting runs once started.
  let earlyHup = false;
  const hupWhileStarting = () => {
    earlyHup = true;
  };
  process.on("SIGHUP", hupWhileStarting);
  // bin/kt.mjs caught SIGHUPs from its first line, before these modules loaded: taken over here.
  const fromBin = (globalThis as Record<symbol, { hups: number; handler: () => void } | undefined>)[Symbol.for("keeptrusts.earlyHup")];
  if (fromBin) {
    process.off("SIGHUP", fromBin.handler);
    if (fromBin.hups > 0) earlyHup = true;
  }
  let services;
  try {
    services = await createGatewayServices({
      listen: values.listen!,
      configPath: values["policy-config"]!,
      maxBodyBytes: maxBody,
      tls: values["tls-cert"] ? { certFile: values["tls-cert"]!, keyFile: values["tls-key"]! } : undefined,
      telemetry,
      // Under --workers the primary serves --metrics-listen; a worker serves /metrics on the shared port unless it is set.
      metricsRoute: metricsListen === undefined,
      // KT_WARM_CHAIN=0 opens the listener without warming the chain first (src/policy/warm-engine.ts).
      warmChain: process.env.KT_WARM_CHAIN !== "0",
    });
  } catch (err) {
    if (err instanceof ConfigError || err instanceof ApplyError) {
      process.stderr.write(`${err.message}\n`);
      await metricsExport?.shutdown();
      return 1;
    }
    // Another gateway holds the audit log, or the log was changed while none did: refuse to serve.
    const { AuditLogLockedError } = await import("../audit/index.js");
    if (err instanceof AuditLogLockedError || /changed after its last clean shutdown/.test(String((err as Error)?.message))) {
      process.stderr.write(`keeptrusts: ${(err as Error).message}\n`);
      await telemetry?.shutdown();
      return 1;
    }
    throw err;
  }
  const { gateway } = services;
  // Boot the scan workers soon after start (not competing with it), not on the first large request.
  const { scanPool } = await import("../policy/index.js");
  const { warmSharedMemory } = await import("../server/index.js");
  setTimeout(() => (scanPool().warm(), warmSharedMemory()), 1000).unref();
  const metricsServer = metricsListen && cluster.isPrimary ? await serveMetrics(metricsListen.host, metricsListen.port, scrapeMetrics) : undefined;

  const onHup = () => {
    try {
      gateway.reloadTls();
      if (values["tls-cert"]) log.info({ cert: values["tls-cert"] }, "reloaded the TLS certificate and key");
    } catch (e) {
      log.warn({ error: (e as Error).message }, "TLS reload failed, keeping the running certificate");
    }
    void gateway.reload().then(
      (r) => {
        if (r.ok) log.warn({ config: values["policy-config"], targets: r.config.targets.length, policies: r.config.policies.length }, `reloaded ${values["policy-config"]}`);
        else log.error({ config: values["policy-config"], error: r.error.message }, "reload rejected, keeping the running config");
      },
      (e: Error) => log.error({ config: values["policy-config"], error: e.message }, "reload failed, keeping the running config"),
    );
  };
  process.off("SIGHUP", hupWhileStarting);
  process.on("SIGHUP", onHup);
  if (earlyHup) onHup();
  return await new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) {
        // A second Ctrl-C means now; a repeated SIGTERM (an orchestrator retrying) changes nothing.
        if (signal === "SIGINT") {
          log.warn("second SIGINT: exiting without finishing the drain");
          flushLogs();
          process.exit(130);
        }
        log.info({ signal }, "already draining");
        return;
      }
      stopping = true;
      // Ctrl-C in a terminal has no load balancer to wait for.
      const delay = signal === "SIGTERM" ? delayMs : 0;
      log.info({ signal, delay_seconds: delay / 1000, drain_seconds: drainMs / 1000 }, `${signal}: draining (readyz 503 now; accepting ${delay / 1000}s more, then up to ${drainMs / 1000}s for requests in flight)`);
      void (async () => {
        let code = 0;
        try {
          await services.close({ drainMs, delayMs: delay });
        } catch (err) {
          log.error({ error: (err as Error).message }, "shutdown failed");
          code = 1;
        }
        // Whatever the drain's outcome, everything that keeps the process alive is let go: a
        // failed close that left the scan workers running kept a SIGTERMed gateway up for ever.
        await metricsExport?.shutdown().catch(() => {});
        await metricsServer?.close().catch(() => {});
        await scanPool().close();
        log.info(code === 0 ? "drained; exiting" : "exiting after a failed shutdown");
        flushLogs();
        // A cluster worker's IPC channel would keep it alive after the drain.
        if (cluster.isWorker) cluster.worker?.disconnect();
        resolve(code);
      })();
    };
    onSignal = stop;
    banner(log, services, values["policy-config"]!, telemetry?.serviceName, metricsServer?.url ?? (metricsListen ? `primary at ${values["metrics-listen"]}` : `${gateway.url}/metrics (admin scope)`), metricsExport !== undefined);
    if (early) stop(early);
  });
}

function banner(
  log: import("../telemetry/index.js").Logger,
  services: import("./compose.js").GatewayServices,
  configPath: string,
  spans: string | undefined,
  metrics: string,
  otlpMetrics: boolean,
): void {
  {
    const { gateway } = services;
    const rt = gateway.runtime();
    const audit = services.auditLog();
    log.info(
      {
        version: version(),
        build: buildKind(),
        // Process start to now, the listener up and the first probes answered.
        started_in_ms: Math.round(performance.now()),
        listen: gateway.url,
        config: configPath,
        targets: rt.registry.states.map((s) => ({
          id: s.target.id,
          model: s.target.upstreamModel,
          base_url: withoutCredentials(s.target.baseUrl),
          probe: !s.target.healthProbe ? "not probed (health_probe: false)" : s.lastProbe?.ok ? "ok" : `failed: ${s.lastProbe?.error ?? "no answer"}`,
        })),
        policies: rt.config.policies.map((p) => `${p.id} (${p.rules.length} rule${p.rules.length === 1 ? "" : "s"})`),
        streaming: rt.config.streaming.mode,
        audit: audit ? audit.path : "off (no audit-logger policy)",
        spans: spans ? `OTLP as ${spans}` : "off (OTEL_EXPORTER_OTLP_ENDPOINT not set)",
        metrics,
        otlp_metrics: otlpMetrics,
        auth: gateway.auth().open ? "none: loopback clients only" : `${rt.config.apiKeys.length} API key(s)`,
      },
      `keeptrusts gateway ${version()} listening on ${gateway.url}`,
    );
    for (const s of rt.registry.states) {
      if (s.target.healthProbe && s.lastProbe && !s.lastProbe.ok) log.warn({ target: s.target.id, error: s.lastProbe.error }, "target failed its first health probe");
    }
  }
}

/**
 * `--workers N`: the primary only supervises. Workers share the listening port (node:cluster
 * hands out connections); each keeps its own audit log chain under `<path>/worker-<n>`, since
 * one hash chain cannot take appends from several processes. The primary answers /metrics for
 * all of them (aggregated), on the shared port through whichever worker is scraped, or on
 * --metrics-listen itself.
 */
async function runPrimary(workers: number, configPath: string, drainMs: number, metricsListen: { host: string; port: number } | undefined): Promise<number> {
  const { ConfigError, loadConfigFile } = await import("../config/index.js");
  const { log, flushLogs, serveClusterMetrics, clusterExposition, noteWorkerRestart, serveMetrics } = await import("../telemetry/index.js");
  try {
    loadConfigFile(configPath);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      return 1;
    }
    throw err;
  }
  serveClusterMetrics();
  const metricsServer = metricsListen ? await serveMetrics(metricsListen.host, metricsListen.port, clusterExposition) : undefined;
  // The embedded limits store lives here, so every worker counts against the same limits.
  const { serveLimitsToWorkers } = await import("../limits/index.js");
  serveLimitsToWorkers();
  let stopping = false;
  const listening = new Set<Worker>();
  const fork = (n: number) => {
    const w = cluster.fork({ KT_WORKER_ID: String(n) });
    w.once("listening", () => listening.add(w));
    w.once("exit", (code, signal) => {
      if (stopping) return;
      listening.delete(w);
      noteWorkerRestart();
      log.error({ exited_worker: n, code, signal }, `worker ${n} exited (${signal ?? code}); starting a new one`);
      setTimeout(() => fork(n), 1000).unref();
    });
  };
  // The signal handlers go in before anything is announced: a SIGTERM that arrives between the
  // "starting" line and the handler would meet the default action and kill the primary.
  process.on("SIGHUP", () => {
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill("SIGHUP");
  });
  return await new Promise<number>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) {
        for (const w of Object.values(cluster.workers ?? {})) w?.process.kill(signal);
        return;
      }
      stopping = true;
      const all = Object.values(cluster.workers ?? {}).filter((w) => w !== undefined);
      let failed = 0;
      let left = all.length;
      const done = () => {
        void metricsServer?.close();
        flushLogs();
        resolve(failed === 0 ? 0 : 1);
      };
      if (left === 0) done();
      for (const w of all) {
        // A worker still loading when the signal comes has no handler yet and dies of it; it never
        // listened, so no request was in flight: that is a clean stop, not a failed drain.
        const serving = listening.has(w!);
        w!.once("exit", (code, sig) => {
          if (code !== 0 && !serving && sig === signal) {
            log.info({ exited_worker: w!.id, signal: sig }, `worker ${w!.id} stopped before it was serving`);
          } else if (code !== 0) {
            failed++;
            log.error({ exited_worker: w!.id, code, signal: sig }, `worker ${w!.id} ended with ${sig ?? code} while draining`);
          }
          if (--left === 0) done();
        });
        w!.process.kill(signal);
      }
      // A worker that outlives its drain deadline by far is stuck: end it.
      setTimeout(() => all.forEach((w) => w!.process.kill("SIGKILL")), drainMs + 10_000).unref();
    };
    process.on("SIGTERM", () => stop("SIGTERM"));
    process.on("SIGINT", () => stop("SIGINT"));
    for (let n = 1; n <= workers; n++) fork(n);
    log.info({ version: version(), workers, metrics: metricsServer?.url }, `${workers} workers starting`);
  });
}

/** A base URL as safe to log: user and password dropped. */
function withoutCredentials(u: string): string {
  try {
    const url = new URL(u);
    url.username = "";
    url.password = "";
    return url.toString();
  } catch {
    return "(unparsable URL)";
  }
}

function parseAddress(parse: (v: string) => { host: string; port: number }, v: string, flag: string): { host: string; port: number } {
  try {
    return parse(v);
  } catch (e) {
    throw new UsageError((e as Error).message.replace("--listen", flag), gatewayRunSpec.name);
  }
}

function positiveInt(v: string, flag: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`${flag} must be a positive integer, got '${v}'`, gatewayRunSpec.name);
  return n;
}

function nonNegativeInt(v: string, flag: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`${flag} must be a whole number of seconds, got '${v}'`, gatewayRunSpec.name);
  return n;
}

import { readFileSync } from "node:fs";
import { createSecureContext } from "node:tls";
import { ChatPipeline, type ChatPolicy, type Runtime } from "../chat/index.js";
import { noopObserver, type RequestObserver } from "../observer/index.js";
import { ConfigError, loadConfigFile, type GatewayConfig } from "../config/index.js";
import { LimitsHub } from "../limits/index.js";
import { TargetRegistry, type CircuitOptions } from "../routing/index.js";
import { log } from "../telemetry/index.js";
import { Authenticator } from "./auth.js";
import { listen, type Listener } from "./listener.js";
import { loadConfigOffThread } from "./config-job.js";
import { createConsoleHandler, isConsolePath } from "./console-assets.js";
import { createOpenAiShim } from "./openai-shim.js";
import { TrafficStats } from "./traffic-stats.js";
import { setSharedMemoryBound } from "../wire/index.js";
import { createRequestHandler, type ConnectServices } from "./request-handler.js";

export interface GatewayOptions {
  /** `host:port`; port 0 picks a free one. */
  listen: string;
  configPath: string;
  maxBodyBytes?: number;
  tls?: { certFile: string; keyFile: string };
  env?: Record<string, string | undefined>;
  compilePolicy: (config: GatewayConfig, registry: TargetRegistry) => ChatPolicy;
  /**
   * Work compilePolicy would do in one piece, done first in steps that let the event loop turn (a
   * reload runs while requests are served): compilePolicy then finds it done.
   */
  warmPolicy?: (config: GatewayConfig) => Promise<void>;
  observer?: RequestObserver;
  /** Connect/gRPC services mounted beside the shim; absent in a shim-only gateway. */
  connect?: (gateway: Gateway) => ConnectServices;
  /**
   * Prepares what a config about to go into force needs (start-up and reload) without touching the
   * running one; throws if it cannot. The gateway then calls `commit` at the swap, or `abort` when
   * a later step failed and the old config stays.
   */
  prepare?: (config: GatewayConfig) => Promise<PreparedConfig>;
  /** Interval of `health_probe` checks. */
  probeIntervalMs?: number;
  /** Passive-health (circuit breaker) thresholds; defaults: 5 failures, 5 s cool-down doubling to 60 s. */
  circuit?: Partial<CircuitOptions>;
  /** Slow-loris guard of the HTTP/1.1 listener: the header block must arrive within this (default 20 s). */
  headersTimeoutMs?: number;
  /** The whole HTTP/1.1 request (headers and body) must arrive within this (default 60 s). */
  requestTimeoutMs?: number;
  /** The Prometheus exposition served at GET /metrics (admin scope); absent: no /metrics route. */
  metrics?: () => Promise<{ contentType: string; text: string }>;
  /** The built console's directory; default `console/dist` in the project. */
  consoleDir?: string;
  /** Run once the first config is in force, before the listener opens (`kt gateway` warms its chain here). */
  beforeListen?: (rt: Runtime) => Promise<void>;
}

export interface PreparedConfig {
  commit(): void;
  abort(): Promise<void>;
}

/** A config that validated but could not be put into force (audit directory, TLS files, regexes). */
export class ApplyError extends Error {
  readonly code = "KT_ERR_CONFIG_APPLY";
  constructor(readonly reason: string, options?: { cause?: unknown }) {
    super(`the new config could not be applied, the running one stays: ${reason}`, options);
    this.name = "ApplyError";
  }
}

export type ReloadResult = { ok: true; config: GatewayConfig } | { ok: false; error: ConfigError | ApplyError };

export interface Gateway {
  readonly url: string;
  readonly host: string;
  readonly port: number;
  runtime(): Runtime;
  auth(): Authenticator;
  readonly pipeline: ChatPipeline;
  /** The limits store, kept across reloads. */
  readonly limits: LimitsHub;
  /**
   * Validates the config file again, prepares everything that can fail, then swaps it in whole; the
   * old one stays on any error. Never rejects; reloads run one at a time.
   */
  reload(): Promise<ReloadResult>;
  readonly loadedAt: Date;
  readonly startedAt: Date;
  /** The last hour's traffic, overall and per target, for the console's overview. */
  readonly traffic: TrafficStats;
  /** Reads the TLS certificate and key files again; new connections get them (no-op without TLS). */
  reloadTls(): void;
  /**
   * Drains: /readyz turns 503 at once, HTTP/1.1 responses carry `connection: close` and open HTTP/2
   * sessions get a GOAWAY, while new connections are still accepted and served for `delayMs` (a
   * load balancer takes that long to stop sending); then the listener stops accepting, idle
   * connections close, later sessions get their GOAWAY, and requests in flight have `drainMs` to
   * finish before their connections are closed.
   */
  close(opts?: { drainMs?: number; delayMs?: number }): Promise<void>;
}

export const DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024;

export async function startGateway(opts: GatewayOptions): Promise<Gateway> {
  const env = opts.env ?? process.env;
  const { host, port } = parseListen(opts.listen);

  const limits = new LimitsHub();
  /**
   * Step one of applying a config: everything that can fail (policy regexes, guard targets, TLS
   * files, the audit directory, the limits store) is built beside the running config. Step two is
   * the caller's swap.
   */
  const build = async (config: GatewayConfig): Promise<{ rt: Runtime; auth: Authenticator; prepared: PreparedConfig | undefined }> => {
    let registry: TargetRegistry | undefined;
    let prepared: PreparedConfig | undefined;
    try {
      // A stream holds an upstream connection for its whole length: the pool of each target is as
      // wide as the streams admitted (limits.max_concurrent_streams) plus room for non-streamed
      // calls, or streams past the pool's width would wait for a connection instead of starting.
      const connections = Math.max(2048, config.limits.maxConcurrentStreams + 256);
      registry = new TargetRegistry(config.targets, { circuit: opts.circuit, principals: Math.max(1, config.apiKeys.length), connections });
      for (const p of config.policies)
        for (const r of p.rules)
          if (r.type === "content_filter" && r.engine === "llama_guard" && (r.target === undefined || !registry.get(r.target)))
            throw new Error(`policy '${p.id}': guard target '${r.target ?? ""}' is not a configured target`);
      await opts.warmPolicy?.(config);
      const policy = opts.compilePolicy(config, registry);
      if (opts.tls) checkTlsFiles(opts.tls);
      const auth = new Authenticator(config.apiKeys);
      prepared = await opts.prepare?.(config);
      const limiter = await limits.configure(config);
      await registry.startProbes(opts.probeIntervalMs);
      return { rt: { config, registry, policy, limits: limiter }, auth, prepared };
    } catch (err) {
      await prepared?.abort().catch(() => {});
      await registry?.close().catch(() => {});
      throw err instanceof ApplyError ? err : new ApplyError(describe(err), { cause: err });
    }
  };

  const first = await build(loadConfigFile(opts.configPath, env));
  first.prepared?.commit();
  let current: { rt: Runtime; auth: Authenticator } = first;
  setSharedMemoryBound(first.rt.config.limits.maxHeldBodyBytes);
  let reloading: Promise<unknown> = Promise.resolve();
  let loadedAt = new Date();
  let ready = false;
  const traffic = new TrafficStats();
  const pipeline = new ChatPipeline(() => current.rt, traffic.observe(opts.observer ?? noopObserver));
  // The largest body read: --max-body-bytes, else the config's limits.max_body_bytes, which a
  // reload applies to requests that arrive after it (a request keeps the limit it began with).
  const bodyLimitOf = (config: GatewayConfig): number => opts.maxBodyBytes ?? config.limits.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  let maxBodyBytes = bodyLimitOf(current.rt.config);

  const openAi = createOpenAiShim({ pipeline, runtime: () => current.rt, auth: () => current.auth, maxBodyBytes: () => maxBodyBytes, ready: () => ready, metrics: opts.metrics });
  const consoleAssets = createConsoleHandler(opts.consoleDir);
  // Paths no Connect route took: the console's static files, else the OpenAI shim.
  const shim = (req: any, res: any) => (isConsolePath(req.url) ? consoleAssets(req, res) : openAi(req, res));

  let listener: Listener | undefined;
  const gateway: Gateway = {
    get url() {
      return `${opts.tls ? "https" : "http"}://${host.includes(":") ? `[${host}]` : host}:${listener!.port}`;
    },
    host,
    get port() {
      return listener!.port;
    },
    runtime: () => current.rt,
    auth: () => current.auth,
    pipeline,
    limits,
    get loadedAt() {
      return loadedAt;
    },
    startedAt: loadedAt,
    traffic,
    reload() {
      const run = async (): Promise<ReloadResult> => {
        let next: Awaited<ReturnType<typeof build>>;
        try {
          next = await build(await loadConfigOffThread(opts.configPath, env));
        } catch (err) {
          if (err instanceof ConfigError || err instanceof ApplyError) return { ok: false, error: err };
          return { ok: false, error: new ApplyError(describe(err), { cause: err }) };
        }
        const old = current;
        next.prepared?.commit();
        current = { rt: next.rt, auth: next.auth };
        setSharedMemoryBound(next.rt.config.limits.maxHeldBodyBytes);
        const limit = bodyLimitOf(next.rt.config);
        if (limit !== maxBodyBytes) log.info(`reload: requests now read bodies of at most ${limit} bytes (limits.max_body_bytes; was ${maxBodyBytes})`);
        else if (opts.maxBodyBytes !== undefined && next.rt.config.limits.maxBodyBytes !== undefined && next.rt.config.limits.maxBodyBytes !== opts.maxBodyBytes)
          log.warn(`reload: limits.max_body_bytes ${next.rt.config.limits.maxBodyBytes} is not applied: --max-body-bytes ${opts.maxBodyBytes} wins`);
        maxBodyBytes = limit;
        loadedAt = new Date();
        // Requests already running hold the old runtime; its pools close once they finish.
        void old.rt.registry.close().catch(() => {});
        return { ok: true, config: next.rt.config };
      };
      const result = reloading.then(run, run);
      reloading = result;
      return result;
    },
    reloadTls() {
      listener?.reloadTls();
    },
    async close({ drainMs = 10_000, delayMs = 0 } = {}) {
      ready = false;
      const l = listener;
      l?.startDrain();
      if (l && delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
      if (l) {
        const timer = setTimeout(() => l.destroyAll(), drainMs);
        timer.unref();
        await l.close();
        clearTimeout(timer);
      }
      await current.rt.registry.close();
      await limits.close();
    },
  };

  const handler = createRequestHandler({ shim, services: opts.connect?.(gateway), maxBodyBytes: () => maxBodyBytes, auth: () => current.auth, refuse: (r) => pipeline.refuse(r) });
  if (opts.beforeListen) await opts.beforeListen(current.rt);
  listener = await listen({ host, port, handler, tls: opts.tls, headersTimeoutMs: opts.headersTimeoutMs, requestTimeoutMs: opts.requestTimeoutMs });
  ready = true;
  if (current.auth.open) log.warn("no API keys configured (auth.api_keys): serving loopback clients only");
  return gateway;
}

/** The TLS files must still be there and form a usable pair (they are read again on reload). */
function checkTlsFiles(tls: { certFile: string; keyFile: string }): void {
  try {
    createSecureContext({ cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile) });
  } catch (err) {
    throw new ApplyError(`TLS files ${tls.certFile} / ${tls.keyFile}: ${describe(err)}`, { cause: err });
  }
}

/** A one-line reason for a log or an RPC answer: the error's message, never its stack. */
function describe(err: unknown): string {
  if (err instanceof Error) return err.message.split("\n")[0]!;
  return String(err);
}

export function parseListen(value: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(value) ?? /^()()(\d+)$/.exec(value);
  if (!m) throw new Error(`--listen must be HOST:PORT, got '${value}'`);
  const port = Number(m[3]);
  if (port > 65535) throw new Error(`--listen port out of range: ${port}`);
  return { host: m[1] || m[2] || "0.0.0.0", port };
}

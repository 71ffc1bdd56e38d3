import cluster from "node:cluster";
import { parseFlags } from "./index.js";
import { DEFAULT_CONFIG } from "./config-command.js";

export const DEFAULT_LISTEN = "0.0.0.0:41002";

/**
 * `kt gateway run`: telemetry starts first (before undici and the servers load), then the
 * gateway. SIGHUP reloads the config; SIGTERM/SIGINT drain, flush and exit 0.
 */
export async function runGateway(args: string[]): Promise<number> {
  const { values } = parseFlags(args, {
    listen: { type: "string", default: DEFAULT_LISTEN },
    "policy-config": { type: "string", default: DEFAULT_CONFIG },
    "max-body-bytes": { type: "string" },
    "tls-cert": { type: "string" },
    "tls-key": { type: "string" },
    "drain-seconds": { type: "string", default: "30" },
    workers: { type: "string", default: "1" },
  });
  const workers = positiveInt(values.workers!, "--workers");
  if (Boolean(values["tls-cert"]) !== Boolean(values["tls-key"])) throw new Error("--tls-cert and --tls-key go together");
  const maxBody = values["max-body-bytes"] === undefined ? undefined : positiveInt(values["max-body-bytes"], "--max-body-bytes");
  const drainMs = positiveInt(values["drain-seconds"]!, "--drain-seconds") * 1000;

  if (workers > 1 && cluster.isPrimary) return runPrimary(workers, values["policy-config"]!, drainMs);

  // Telemetry first: the SDK must be in place before undici and the servers load.
  const { startTelemetry } = await import("../audit/telemetry.js");
  const telemetry = (await startTelemetry()) ?? null;
  const { createGatewayServices } = await import("./compose.js");
  const { ConfigError } = await import("../config/index.js");
  let services;
  try {
    services = await createGatewayServices({
      listen: values.listen!,
      configPath: values["policy-config"]!,
      maxBodyBytes: maxBody,
      tls: values["tls-cert"] ? { certFile: values["tls-cert"]!, keyFile: values["tls-key"]! } : undefined,
      telemetry,
    });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      return 1;
    }
    throw err;
  }
  const { gateway } = services;
  process.stderr.write(`keeptrusts: gateway listening on ${gateway.url} (config ${values["policy-config"]})\n`);

  process.on("SIGHUP", () => {
    void gateway.reload().then((r) => {
      if (r.ok) process.stderr.write(`keeptrusts: reloaded ${values["policy-config"]}\n`);
      else process.stderr.write(`keeptrusts: reload rejected, keeping the running config:\n${r.error.message}\n`);
    });
  });
  return await new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      process.stderr.write(`keeptrusts: ${signal}: draining (up to ${drainMs / 1000}s)\n`);
      void services.close({ drainMs }).then(
        () => {
          // A cluster worker's IPC channel would keep it alive after the drain.
          if (cluster.isWorker) cluster.worker?.disconnect();
          resolve(0);
        },
        (err) => {
          process.stderr.write(`keeptrusts: shutdown failed: ${(err as Error).message}\n`);
          resolve(1);
        },
      );
    };
    process.once("SIGTERM", () => stop("SIGTERM"));
    process.once("SIGINT", () => stop("SIGINT"));
  });
}

/**
 * `--workers N`: the primary only supervises. Workers share the listening port (node:cluster
 * hands out connections); each keeps its own audit log chain under `<path>/worker-<n>`, since
 * one hash chain cannot take appends from several processes.
 */
async function runPrimary(workers: number, configPath: string, drainMs: number): Promise<number> {
  const { ConfigError, loadConfigFile } = await import("../config/index.js");
  try {
    loadConfigFile(configPath);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      return 1;
    }
    throw err;
  }
  let stopping = false;
  const fork = (n: number) => {
    const w = cluster.fork({ KT_WORKER_ID: String(n) });
    w.once("exit", (code, signal) => {
      if (stopping) return;
      process.stderr.write(`keeptrusts: worker ${n} exited (${signal ?? code}); starting a new one\n`);
      setTimeout(() => fork(n), 1000).unref();
    });
  };
  for (let n = 1; n <= workers; n++) fork(n);
  process.stderr.write(`keeptrusts: ${workers} workers starting\n`);
  process.on("SIGHUP", () => {
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill("SIGHUP");
  });
  return await new Promise<number>((resolve) => {
    const stop = () => {
      if (stopping) return;
      stopping = true;
      const all = Object.values(cluster.workers ?? {}).filter((w) => w !== undefined);
      let failed = 0;
      let left = all.length;
      if (left === 0) resolve(0);
      for (const w of all) {
        w!.once("exit", (code, signal) => {
          if (code !== 0) {
            failed++;
            process.stderr.write(`keeptrusts: worker ${w!.id} ended with ${signal ?? code} while draining\n`);
          }
          if (--left === 0) resolve(failed === 0 ? 0 : 1);
        });
        w!.process.kill("SIGTERM");
      }
      // A worker that outlives its drain deadline by far is stuck: end it.
      setTimeout(() => all.forEach((w) => w!.process.kill("SIGKILL")), drainMs + 10_000).unref();
    };
    process.once("SIGTERM", stop);
    process.once("SIGINT", stop);
  });
}

function positiveInt(v: string, flag: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${flag} must be a positive integer, got '${v}'`);
  return n;
}

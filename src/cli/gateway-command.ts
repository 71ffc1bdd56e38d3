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
  });
  if (Boolean(values["tls-cert"]) !== Boolean(values["tls-key"])) throw new Error("--tls-cert and --tls-key go together");
  const maxBody = values["max-body-bytes"] === undefined ? undefined : positiveInt(values["max-body-bytes"], "--max-body-bytes");
  const drainMs = positiveInt(values["drain-seconds"]!, "--drain-seconds") * 1000;

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
        () => resolve(0),
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

function positiveInt(v: string, flag: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${flag} must be a positive integer, got '${v}'`);
  return n;
}

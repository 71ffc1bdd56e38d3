import { ConfigError, loadConfigFile, type ConfigIssue, type GatewayConfig } from "../config/index.js";
import { scanPool } from "../policy/index.js";

/**
 * A reload reads and validates the config file on a policy worker, not the event loop: composing
 * the YAML costs ~3 µs a token, so a file near the 100,000-token bound held the loop for ~0.3 s
 * (1-3 s on a loaded machine), every request waiting. The first load, before the port opens, stays
 * on the main thread. The config is plain data, so it crosses as a structured clone.
 */
export async function loadConfigOffThread(file: string, env: Record<string, string | undefined>): Promise<GatewayConfig> {
  const r = (await scanPool().run({
    kind: "module",
    url: JOB_URL,
    name: "loadConfigJob",
    input: { file, env: { ...env } },
    chars: 0,
    // An operator's reload waits for a worker however busy the pool is; it is never refused as overloaded.
    committed: true,
  })) as { config: GatewayConfig } | { issues: ConfigIssue[] };
  if ("issues" in r) throw new ConfigError(r.issues);
  return r.config;
}

const JOB_URL = new URL(import.meta.url.endsWith(".ts") ? "./config-job.ts" : "./config-job.js", import.meta.url).href;

/** Runs in the worker: the config, or its problems (a ConfigError's class does not cross threads). */
export function loadConfigJob(input: { file: string; env: Record<string, string | undefined> }): { config: GatewayConfig } | { issues: ConfigIssue[] } {
  try {
    return { config: loadConfigFile(input.file, input.env) };
  } catch (err) {
    if (err instanceof ConfigError) return { issues: err.issues };
    throw err;
  }
}

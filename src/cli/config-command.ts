import { ConfigError, loadConfigFile } from "../config/index.js";
import { TargetRegistry } from "../routing/index.js";
import { parseFlags } from "./index.js";

export const DEFAULT_CONFIG = "./policy-config.yaml";

/** `kt config validate FILE`: exit 0, or 1 with every problem as FILE:LINE:COL field: message. */
export function validateConfig(args: string[]): number {
  const { positionals, values } = parseFlags(args, { "policy-config": { type: "string" } });
  const file = positionals[0] ?? values["policy-config"] ?? DEFAULT_CONFIG;
  try {
    const c = loadConfigFile(file);
    const rules = c.policies.reduce((n, p) => n + p.rules.length, 0);
    process.stdout.write(
      `${file}: ok — ${c.targets.length} target(s), ${c.policies.length} polic${c.policies.length === 1 ? "y" : "ies"} with ${rules} rule(s)` +
        `${c.audit ? `, audit log at ${c.audit.path}` : ""}${c.pack ? `, pack ${c.pack.name}@${c.pack.version}` : ""}\n`,
    );
    return 0;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${err.message}\n`);
    return 1;
  }
}

/** `kt models`: the model names clients may send, and the targets behind each. */
export function listModels(args: string[]): number {
  const { values } = parseFlags(args, { "policy-config": { type: "string" } });
  const file = values["policy-config"] ?? DEFAULT_CONFIG;
  let config;
  try {
    config = loadConfigFile(file);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${err.message}\n`);
    return 1;
  }
  const registry = new TargetRegistry(config.targets);
  for (const m of registry.models()) {
    const targets = m.targets.map((id) => {
      const t = config.targets.find((x) => x.id === id)!;
      return `${id} (${t.upstreamModel} @ ${t.baseUrl}, weight ${t.weight})`;
    });
    process.stdout.write(`${m.id}\t${m.kind}\t${targets.join(", ")}\n`);
  }
  void registry.close();
  return 0;
}

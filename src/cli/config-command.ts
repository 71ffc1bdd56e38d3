import { ConfigError, loadConfigFile } from "../config/index.js";
import { TargetRegistry } from "../routing/index.js";
import { CONFIG_FLAGS, configEnv, parseCommand, type CommandSpec } from "./flags.js";

export const DEFAULT_CONFIG = "./policy-config.yaml";

export const validateSpec = {
  name: "config validate",
  summary: "check a policy-config.yaml and report every problem with its file, line and field",
  args: "[FILE]",
  flags: CONFIG_FLAGS,
  examples: ["kt config validate ./policy-config.yaml", "kt config validate --no-env examples/deploy/policy-config.yaml   # in CI, without the secrets"],
  notes: "FILE may also be given as --policy-config. Exit codes: 0 valid, 1 invalid (each problem as FILE:LINE:COL field: message), 2 usage.",
} satisfies CommandSpec;

/** `kt config validate FILE`: exit 0, or 1 with every problem as FILE:LINE:COL field: message. */
export function validateConfig(args: string[]): number {
  const parsed = parseCommand(validateSpec, args);
  if (!parsed) return 0;
  const { positionals, values } = parsed;
  const file = positionals[0] ?? values["policy-config"] ?? DEFAULT_CONFIG;
  try {
    const c = loadConfigFile(file, configEnv(values["no-env"]));
    const rules = c.policies.reduce((n, p) => n + p.rules.length, 0);
    process.stdout.write(
      `${file}: ok — ${c.targets.length} target(s), ${c.policies.length} polic${c.policies.length === 1 ? "y" : "ies"} with ${rules} rule(s)` +
        `${c.audit ? `, audit log at ${c.audit.path}` : ""}${c.pack ? `, pack ${c.pack.name}@${c.pack.version}` : ""}` +
        `${values["no-env"] ? " (secret_key_ref variables not checked: --no-env)" : ""}\n`,
    );
    return 0;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${err.message}\n`);
    return 1;
  }
}

export const modelsSpec = {
  name: "models",
  summary: "list the model names clients may send, and the targets behind each",
  flags: CONFIG_FLAGS,
  examples: ["kt models --policy-config ./policy-config.yaml"],
  notes: "Output: one line per model: NAME <tab> KIND <tab> targets (upstream model @ base_url, weight).",
} satisfies CommandSpec;

/** `kt models`: the model names clients may send, and the targets behind each. */
export function listModels(args: string[]): number {
  const parsed = parseCommand(modelsSpec, args);
  if (!parsed) return 0;
  const { values } = parsed;
  const file = values["policy-config"] ?? DEFAULT_CONFIG;
  let config;
  try {
    config = loadConfigFile(file, configEnv(values["no-env"]));
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

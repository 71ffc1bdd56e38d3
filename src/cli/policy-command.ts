import { ConfigError, loadConfigFile } from "../config/index.js";
import { compilePolicyEngine } from "../policy/index.js";
import { CONFIG_FLAGS, configEnv, parseCommand, UsageError, type CommandSpec } from "./flags.js";

export const policyTestSpec = {
  name: "policy test",
  summary: "run one text through a config's policy chain and show the decision, findings and the text as it would go on",
  args: '"TEXT"',
  flags: {
    ...CONFIG_FLAGS,
    direction: { type: "string", value: "request|response", default: "request", help: "which phase's rules apply" },
    policy: { type: "string", value: "ID", help: "only this policy (default: every policy)" },
    json: { type: "boolean", help: "print one JSON object" },
  },
  examples: ['kt policy test "my card is 4111 1111 1111 1111" --policy-config ./policy-config.yaml', 'kt policy test --direction response --json "call me on +44 20 7946 0958"'],
  notes: "Findings show the type and offsets, never the matched value. Guard-model rules are not called here.\nExit codes: 0 allowed (redacted or logged), 3 blocked, 1 bad config, 2 usage.",
} satisfies CommandSpec;

/**
 * `kt policy test "text"`: runs one text through the chain of a config file and prints the
 * decision, each finding (type and offsets, never the value) and the text as it would go on.
 * Exit 0 when allowed (redacted or logged), 3 when blocked, 1 for a bad config.
 */
export async function testPolicy(args: string[]): Promise<number> {
  const parsed = parseCommand(policyTestSpec, args);
  if (!parsed) return 0;
  const { positionals, values } = parsed;
  const text = positionals.join(" ");
  if (!text) throw new UsageError("missing the TEXT to test", policyTestSpec.name);
  const direction = values.direction;
  if (direction !== "request" && direction !== "response") throw new UsageError("--direction must be request or response", policyTestSpec.name);
  let config;
  try {
    config = loadConfigFile(values["policy-config"]!, configEnv(values["no-env"]));
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${err.message}\n`);
    return 1;
  }
  // Named here, in the operator's own terminal: the engine's error does not echo a policy id (it
  // answers EvaluatePolicy's clients too).
  if (values.policy !== undefined && !config.policies.some((p) => p.id === values.policy))
    throw new UsageError(`unknown policy '${values.policy}' (the configuration has: ${config.policies.map((p) => p.id).join(", ") || "none"})`, policyTestSpec.name);
  const engine = compilePolicyEngine(config, {
    askGuard: async () => {
      throw new Error("kt policy test does not call guard models; run it through the gateway's EvaluatePolicy");
    },
  });
  const r = await engine.evaluateText(text, direction, values.policy);
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ decision: r.decision, findings: r.findings, redacted_text: r.redactedText })}\n`);
  } else {
    process.stdout.write(`decision: ${r.decision}\n`);
    for (const f of r.findings) process.stdout.write(`  ${f.policy}/${f.rule}: ${f.type} at ${f.start}..${f.end}\n`);
    process.stdout.write(`text: ${r.redactedText}\n`);
  }
  return r.decision === "block" ? 3 : 0;
}

import { ConfigError, loadConfigFile } from "../config/index.js";
import { compilePolicyEngine } from "../policy/index.js";
import { DEFAULT_CONFIG } from "./config-command.js";
import { parseFlags } from "./index.js";

/**
 * `kt policy test "text"`: runs one text through the chain of a config file and prints the
 * decision, each finding (type and offsets, never the value) and the text as it would go on.
 * Exit 0 when allowed (redacted or logged), 3 when blocked, 1 for a bad config.
 */
export async function testPolicy(args: string[]): Promise<number> {
  const { positionals, values } = parseFlags(args, {
    "policy-config": { type: "string", default: DEFAULT_CONFIG },
    direction: { type: "string", default: "request" },
    policy: { type: "string" },
    json: { type: "boolean", default: false },
  });
  const text = positionals.join(" ");
  if (!text) throw new Error('usage: kt policy test "TEXT" [--policy-config FILE] [--direction request|response] [--policy ID] [--json]');
  const direction = values.direction;
  if (direction !== "request" && direction !== "response") throw new Error("--direction must be request or response");
  let config;
  try {
    config = loadConfigFile(values["policy-config"]!);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${err.message}\n`);
    return 1;
  }
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

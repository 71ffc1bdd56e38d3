import { UsageError } from "./flags.js";

const USAGE = `kt — Keeptrusts governance gateway for OpenLLM

Usage:
  kt gateway run [flags]             start the gateway (OpenAI HTTP, gRPC, Connect on one port)
  kt config validate [FILE]          check a policy-config.yaml (--no-env: without the secrets)
  kt models [flags]                  the model names clients may send, and their targets
  kt targets [flags]                 health, circuit state and counters from a running gateway
  kt usage [flags]                   rate windows, token budgets and reservations per key, team, target
  kt policy test "TEXT" [flags]      run a text through the policy chain
  kt audit verify [--path DIR]       check the audit log (--public-key FILE: and its signed checkpoints)
  kt audit tail [--path DIR]         print audit records as JSON lines
  kt audit keygen [--out PREFIX]     write an Ed25519 key pair for signed checkpoints
  kt --version                       print the version

Run 'kt <command> --help' for a command's flags and an example.
Defaults: --listen 0.0.0.0:41002, --policy-config ./policy-config.yaml
`;

/** The groups with subcommands, for `kt gateway --help` and a helpful message on a typo. */
const GROUPS: Record<string, string[]> = { gateway: ["run"], config: ["validate"], policy: ["test"], audit: ["verify", "tail", "keygen"] };

/** Runs the CLI; returns the process exit code. */
export async function main(argv: string[]): Promise<number> {
  const [group, command, ...rest] = argv;
  try {
    if (group === "--version" || group === "-v" || group === "version") {
      process.stdout.write(`kt ${(await import("./version.js")).version()}\n`);
      return 0;
    }
    switch (`${group ?? ""} ${command ?? ""}`.trim()) {
      case "gateway run":
        return await (await import("./gateway-command.js")).runGateway(rest);
      case "config validate":
        return (await import("./config-command.js")).validateConfig(rest);
      case "policy test":
        return await (await import("./policy-command.js")).testPolicy(rest);
      case "audit verify":
      case "audit tail":
      case "audit keygen":
        return await (await import("./audit-command.js")).runAuditCommand([command!, ...rest]);
    }
    if (group === "models") return (await import("./config-command.js")).listModels(argv.slice(1));
    if (group === "targets") return await (await import("./targets-command.js")).listTargets(argv.slice(1));
    if (group === "usage") return await (await import("./usage-command.js")).showUsage(argv.slice(1));
    if (group === "audit") return await (await import("./audit-command.js")).runAuditCommand(argv.slice(1));
    // `kt config FILE` and `kt config --no-env FILE`: validate, as before there was a subcommand.
    if (group === "config" && (command === undefined || (!command.startsWith("-h") && command !== "--help" && command !== "help" && !GROUPS.config!.includes(command))))
      return (await import("./config-command.js")).validateConfig(argv.slice(1));
    if (group === undefined || group === "help" || group === "--help" || group === "-h") {
      process.stdout.write(USAGE);
      return 0;
    }
    const subs = GROUPS[group];
    if (subs && (command === undefined || command === "--help" || command === "-h" || command === "help")) {
      const out = command === undefined ? process.stderr : process.stdout;
      out.write(`kt ${group}: ${command === undefined ? "missing subcommand; " : ""}one of: ${subs.map((s) => `kt ${group} ${s}`).join(", ")}\nRun 'kt ${group} ${subs[0]} --help' for its flags.\n`);
      return command === undefined ? 2 : 0;
    }
    const { nearestFlag } = await import("./flags.js");
    const known = [...Object.keys(GROUPS), "models", "targets", "usage"];
    const guess = subs ? nearestFlag(command ?? "", subs) : nearestFlag(group, known);
    const what = subs ? `unknown subcommand 'kt ${group} ${command}'` : `unknown command '${group}'`;
    const hint = guess ? `; did you mean 'kt ${subs ? `${group} ${guess}` : guess}'?` : "";
    process.stderr.write(`kt: ${what}${hint}\n\n${USAGE}`);
    return 2;
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`kt ${err.command}: ${err.message}\nRun 'kt ${err.command} --help' for its flags.\n`);
      return 2;
    }
    process.stderr.write(`kt: ${(err as Error).message}\n`);
    return 2;
  }
}

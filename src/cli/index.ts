import { parseArgs } from "node:util";

const USAGE = `kt — Keeptrusts governance gateway for OpenLLM

Usage:
  kt gateway run [--listen HOST:PORT] [--policy-config FILE] [--max-body-bytes N]
                 [--tls-cert FILE --tls-key FILE] [--drain-seconds N] [--workers N]
  kt config validate [FILE]
  kt models [--policy-config FILE]
  kt targets [--url URL] [--api-key KEY]      (health and circuit state from a running gateway)
  kt policy test TEXT [--policy-config FILE] [--direction request|response]
  kt audit verify --path DIR
  kt audit tail --path DIR [--follow]

Defaults: --listen 0.0.0.0:41002, --policy-config ./policy-config.yaml
`;

/** Runs the CLI; returns the process exit code. */
export async function main(argv: string[]): Promise<number> {
  const [group, command, ...rest] = argv;
  try {
    switch (`${group ?? ""} ${command ?? ""}`.trim()) {
      case "gateway run":
        return await (await import("./gateway-command.js")).runGateway(rest);
      case "config validate":
        return (await import("./config-command.js")).validateConfig(rest);
      case "policy test":
        return await (await import("./policy-command.js")).testPolicy(rest);
      case "audit verify":
      case "audit tail":
        return await (await import("./audit-command.js")).runAuditCommand([command!, ...rest]);
      default:
        if (group === "models") return (await import("./config-command.js")).listModels(argv.slice(1));
        if (group === "targets") return await (await import("./targets-command.js")).listTargets(argv.slice(1));
        if (group === "config" && command === undefined) return (await import("./config-command.js")).validateConfig([]);
        process.stdout.write(USAGE);
        return group === undefined || group === "help" || group === "--help" || group === "-h" ? 0 : 2;
    }
  } catch (err) {
    process.stderr.write(`kt: ${(err as Error).message}\n`);
    return 2;
  }
}

export function parseFlags<T extends Record<string, { type: "string" | "boolean"; short?: string; default?: string | boolean }>>(args: string[], options: T) {
  return parseArgs({ args, options, allowPositionals: true, strict: true });
}

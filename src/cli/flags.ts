import { parseArgs } from "node:util";

/** A flag of a command: its parseArgs type, and what `--help` says about it. */
export interface FlagSpec {
  type: "string" | "boolean";
  short?: string;
  default?: string | boolean;
  /** Placeholder for the value in help (`FILE`, `N`, `HOST:PORT`). */
  value?: string;
  help: string;
  multiple?: boolean;
}

export interface CommandSpec<F extends Record<string, FlagSpec> = Record<string, FlagSpec>> {
  /** As typed: `gateway run`, `config validate`. */
  name: string;
  summary: string;
  /** What follows the name in the usage line, besides `[flags]` (`FILE`, `"TEXT"`). */
  args?: string;
  flags: F;
  /** One or more command lines shown under "Example". */
  examples: string[];
  /** Extra paragraphs (exit codes, notes). */
  notes?: string;
}

/** A command line the command cannot run: exit 2, with the message and a pointer to --help. */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly command: string,
  ) {
    super(message);
    this.name = "UsageError";
  }
}

type Values<F extends Record<string, FlagSpec>> = {
  [K in keyof F]: F[K]["type"] extends "boolean" ? boolean | undefined : F[K]["multiple"] extends true ? string[] | undefined : string | undefined;
};

const HELP: FlagSpec = { type: "boolean", short: "h", help: "show this help and exit" };

/**
 * Parses a command's arguments against its spec. Returns undefined when `--help` was asked (help
 * already written to `out`); throws UsageError for an unknown flag (naming the nearest valid one),
 * a missing value, or a value given to a boolean.
 */
export function parseCommand<F extends Record<string, FlagSpec>>(
  spec: CommandSpec<F>,
  args: string[],
  out: NodeJS.WritableStream = process.stdout,
): { values: Values<F>; positionals: string[] } | undefined {
  const options: Record<string, { type: "string" | "boolean"; short?: string; default?: string | boolean; multiple?: boolean }> = {};
  for (const [name, f] of Object.entries({ ...spec.flags, help: HELP })) {
    options[name] = { type: f.type, ...(f.short ? { short: f.short } : {}), ...(f.default !== undefined ? { default: f.default } : {}), ...(f.multiple ? { multiple: true } : {}) };
  }
  // --help wins over anything else on the line, even an unknown flag.
  if (args.includes("--help") || args.includes("-h")) {
    out.write(commandHelp(spec));
    return undefined;
  }
  try {
    const { values, positionals } = parseArgs({ args, options, allowPositionals: true, strict: true });
    return { values: values as Values<F>, positionals };
  } catch (e) {
    throw new UsageError(explain(e as Error & { code?: string }, spec), spec.name);
  }
}

function explain(e: Error & { code?: string }, spec: CommandSpec): string {
  if (e.code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") {
    const m = /Unknown option '([^']+)'/.exec(e.message);
    const given = m?.[1] ?? "";
    const names = [...Object.keys(spec.flags), "help"];
    const nearest = nearestFlag(given.replace(/^-+/, "").split("=")[0]!, names);
    return `unknown flag '${given}'${nearest ? `; did you mean --${nearest}?` : ""}`;
  }
  // parseArgs' own messages are clear for the rest (missing value, value on a boolean).
  return e.message.replace(/\. To specify a positional argument.*$/s, "");
}

/** The valid flag closest to `given` by edit distance, if it is close enough to be a likely typo. */
export function nearestFlag(given: string, names: string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const n of names) {
    const d = n.startsWith(given) && given.length >= 3 ? 0 : distance(given, n);
    if (d < bestD) {
      bestD = d;
      best = n;
    }
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(best.length / 3)) ? best : undefined;
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length]!;
}

/** `kt <command> --help`: summary, usage, every flag with its default, examples. */
export function commandHelp(spec: CommandSpec): string {
  const rows = Object.entries({ ...spec.flags, help: HELP }).map(([name, f]) => {
    const left = `${f.short ? `-${f.short}, ` : "    "}--${name}${f.type === "string" ? ` ${f.value ?? "VALUE"}` : ""}`;
    const def = f.default !== undefined && f.default !== false && f.default !== "" ? ` (default ${String(f.default)})` : "";
    return [left, `${f.help}${def}`] as const;
  });
  const width = Math.max(...rows.map(([l]) => l.length)) + 2;
  return (
    `kt ${spec.name} — ${spec.summary}\n\n` +
    `Usage:\n  kt ${spec.name}${spec.args ? ` ${spec.args}` : ""} [flags]\n\n` +
    `Flags:\n${rows.map(([l, r]) => `  ${l.padEnd(width)}${r}`).join("\n")}\n\n` +
    `Example${spec.examples.length > 1 ? "s" : ""}:\n${spec.examples.map((x) => `  ${x}`).join("\n")}\n` +
    (spec.notes ? `\n${spec.notes.trimEnd()}\n` : "")
  );
}

/** Flags shared by the commands that read a config file. */
export const CONFIG_FLAGS = {
  "policy-config": { type: "string", value: "FILE", default: "./policy-config.yaml", help: "the policy-config.yaml to read" },
  "no-env": {
    type: "boolean",
    help: "do not require secret_key_ref variables to be set: check only that each names a variable (for CI without secrets)",
  },
} as const satisfies Record<string, FlagSpec>;

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * The environment a config is read with. With `--no-env`, any well-formed variable name reads as a
 * placeholder, so a config can be checked without the secrets; a malformed name still fails.
 */
export function configEnv(noEnv: boolean | undefined): Record<string, string | undefined> {
  if (!noEnv) return process.env;
  return new Proxy(process.env as Record<string, string | undefined>, {
    get: (t, k) => (typeof k === "string" && t[k] === undefined && ENV_NAME.test(k) ? "kt-no-env-placeholder" : t[k as string]),
  });
}

import { tailAuditLog, verifyAuditLog } from "../audit/index.js";
import { commandHelp, parseCommand, UsageError, type CommandSpec } from "./flags.js";

const PATH_FLAG = { type: "string", value: "DIR", default: "./audit-log", help: "audit log directory (as policy.audit-logger.path)" } as const;

export const auditVerifySpec = {
  name: "audit verify",
  summary: "check the audit log (hash chain, order, truncation) and name the first break",
  flags: { path: PATH_FLAG },
  examples: ["kt audit verify --path ./audit-log"],
  notes: "Exit codes: 0 the log verifies, 1 it failed verification (the first break is named), 2 usage or I/O error.",
} satisfies CommandSpec;

export const auditTailSpec = {
  name: "audit tail",
  summary: "print audit records as JSON lines",
  flags: {
    path: PATH_FLAG,
    lines: { type: "string", short: "n", value: "N", default: "10", help: "print the last N records first (0 with --follow: only new ones)" },
    follow: { type: "boolean", short: "f", help: "keep printing records as they are appended (Ctrl-C to stop)" },
  },
  examples: ["kt audit tail --path ./audit-log -n 20", "kt audit tail --path ./audit-log -n 0 --follow | jq .outcome"],
} satisfies CommandSpec;

const USAGE = `kt audit — the local audit log

Usage:
  kt audit verify [--path DIR]      ${auditVerifySpec.summary}
  kt audit tail [--path DIR] [-n N] [--follow]
                                    ${auditTailSpec.summary}

Run 'kt audit verify --help' or 'kt audit tail --help' for their flags.
`;

/**
 * `kt audit verify|tail`. Exit codes: 0 ok, 1 the log failed verification, 2 usage or I/O error.
 * `signal` stops `tail --follow` (the CLI passes none and stops on SIGINT/SIGTERM instead).
 */
export async function runAuditCommand(
  args: string[],
  out: NodeJS.WritableStream = process.stdout,
  err: NodeJS.WritableStream = process.stderr,
  signal?: AbortSignal,
): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === "help" || sub === "--help" || sub === "-h") {
    (sub === undefined ? err : out).write(USAGE);
    return sub === undefined ? 2 : 0;
  }
  const spec = sub === "verify" ? auditVerifySpec : sub === "tail" ? auditTailSpec : undefined;
  if (!spec) {
    err.write(`kt audit: unknown subcommand '${sub}'\n${USAGE}`);
    return 2;
  }
  let parsed;
  try {
    parsed = parseCommand(spec as CommandSpec, rest, out);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    err.write(`kt ${spec.name}: ${e.message}\n\n${commandHelp(spec)}`);
    return 2;
  }
  if (!parsed) return 0;
  const values = parsed.values as { path?: string; lines?: string; follow?: boolean };
  const dir = values.path ?? "./audit-log";
  try {
    if (sub === "verify") return await verify(dir, out, err);
    const lines = Number(values.lines ?? "10");
    if (!Number.isSafeInteger(lines) || lines < 0) {
      err.write(`kt audit tail: --lines must be a non-negative integer\n`);
      return 2;
    }
    return await tail(dir, lines, values.follow ?? false, out, signal);
  } catch (e) {
    err.write(`kt audit ${sub}: ${(e as Error).message}\n`);
    return 2;
  }
}

async function verify(dir: string, out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<number> {
  const r = await verifyAuditLog(dir);
  if (r.ok) {
    const range = r.records === 0 ? "no records" : `seq ${r.firstSeq}..${r.lastSeq}`;
    const notes = [r.anchored ? "anchored after retention" : "", r.tornTail ? "torn final line ignored" : ""].filter(Boolean);
    out.write(
      `audit log OK: ${r.records} records in ${r.segments} segments, ${range}, last hash ${r.lastHash}` +
        (notes.length ? ` (${notes.join("; ")})` : "") +
        "\n",
    );
    return 0;
  }
  err.write(`audit log BROKEN at ${r.segment} line ${r.line}${r.seq === undefined ? "" : ` (seq ${r.seq})`}: ${r.reason}\n`);
  return 1;
}

async function tail(dir: string, lines: number, follow: boolean, out: NodeJS.WritableStream, signal?: AbortSignal): Promise<number> {
  const ac = new AbortController();
  const stop = (): void => ac.abort();
  signal?.addEventListener("abort", stop, { once: true });
  if (follow && !signal) {
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  }
  try {
    for await (const r of tailAuditLog(dir, { lines, follow, signal: ac.signal })) {
      if (!out.write(JSON.stringify(r) + "\n")) {
        // Respect a slow pipe (e.g. `| less`) instead of buffering the whole log in memory.
        await new Promise<void>((resolve) => out.once("drain", () => resolve()));
      }
    }
  } finally {
    signal?.removeEventListener("abort", stop);
    process.removeListener("SIGINT", stop);
    process.removeListener("SIGTERM", stop);
  }
  return 0;
}

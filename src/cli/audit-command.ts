import { parseArgs } from "node:util";
import { tailAuditLog, verifyAuditLog } from "../audit/index.js";

const USAGE = `usage:
  kt audit verify [--path DIR]                       check the hash chain of the audit log
  kt audit tail [--path DIR] [-n N] [--follow]       print records as JSON lines
options:
  --path DIR    audit log directory (default ./audit-log, as policy.audit-logger.path)
  -n, --lines N print the last N records first (default 10; 0 with --follow = only new ones)
  -f, --follow  keep printing records as they are appended (Ctrl-C to stop)
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
  let values: { path?: string; lines?: string; follow?: boolean; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: rest,
      options: {
        path: { type: "string" },
        lines: { type: "string", short: "n" },
        follow: { type: "boolean", short: "f" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    err.write(`kt audit: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help || sub === "help" || sub === "--help" || sub === "-h") {
    out.write(USAGE);
    return 0;
  }
  const dir = values.path ?? "./audit-log";
  try {
    switch (sub) {
      case "verify":
        return await verify(dir, out, err);
      case "tail": {
        const lines = values.lines === undefined ? 10 : Number(values.lines);
        if (!Number.isSafeInteger(lines) || lines < 0) {
          err.write(`kt audit tail: --lines must be a non-negative integer\n`);
          return 2;
        }
        return await tail(dir, lines, values.follow ?? false, out, signal);
      }
      default:
        err.write(`kt audit: ${sub === undefined ? "missing subcommand" : `unknown subcommand '${sub}'`}\n${USAGE}`);
        return 2;
    }
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

import { generateKeyPairSync } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { keyId, loadPublicKey, tailAuditLog, verifyAuditLog } from "../audit/index.js";
import { commandHelp, parseCommand, UsageError, type CommandSpec } from "./flags.js";

const PATH_FLAG = { type: "string", value: "DIR", default: "./audit-log", help: "audit log directory (as policy.audit-logger.path)" } as const;

export const auditVerifySpec = {
  name: "audit verify",
  summary: "check the audit log (hash chain, order, truncation, signed checkpoints) and name the first break",
  flags: {
    path: PATH_FLAG,
    "public-key": { type: "string", value: "FILE", help: "Ed25519 public key (PEM) whose private half is audit-logger.signing_key_ref: check every checkpoint's signature" },
  },
  examples: ["kt audit verify --path ./audit-log", "kt audit verify --path ./audit-log --public-key audit-signing.pub"],
  notes:
    "Exit codes: 0 the log verifies, 1 it failed verification (the first break is named), 2 usage or I/O error. A missing or empty directory fails. Without --public-key, lines starting 'not proven:' say what could not be checked.",
} satisfies CommandSpec;

export const auditKeygenSpec = {
  name: "audit keygen",
  summary: "write an Ed25519 key pair for signed checkpoints: PREFIX.key (private) and PREFIX.pub",
  flags: {
    out: { type: "string", value: "PREFIX", default: "./audit-signing", help: "where to write; existing files are never overwritten" },
  },
  examples: ["kt audit keygen --out ./audit-signing"],
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
  kt audit verify [--path DIR] [--public-key FILE]
                                    ${auditVerifySpec.summary}
  kt audit tail [--path DIR] [-n N] [--follow]
                                    ${auditTailSpec.summary}
  kt audit keygen [--out PREFIX]    ${auditKeygenSpec.summary}

Run 'kt audit verify --help', 'kt audit tail --help' or 'kt audit keygen --help' for their flags.
`;

/**
 * `kt audit verify|tail|keygen`. Exit codes: 0 ok, 1 the log failed verification, 2 usage or I/O error.
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
  const spec = sub === "verify" ? auditVerifySpec : sub === "tail" ? auditTailSpec : sub === "keygen" ? auditKeygenSpec : undefined;
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
  const values = parsed.values as { path?: string; lines?: string; follow?: boolean; "public-key"?: string; out?: string };
  const dir = values.path ?? "./audit-log";
  try {
    if (sub === "verify") return await verify(dir, values["public-key"], out, err);
    if (sub === "keygen") return keygen(values.out ?? "./audit-signing", out);
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

async function verify(dir: string, publicKeyFile: string | undefined, out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<number> {
  const publicKey = publicKeyFile === undefined ? undefined : loadPublicKey(readFileSync(publicKeyFile, "utf8"));
  const r = await verifyAuditLog(dir, { publicKey });
  if (r.ok) {
    const range = r.records === 0 ? "no records" : `seq ${r.firstSeq}..${r.lastSeq}`;
    const notes = [
      r.anchored ? "anchored after retention" : "",
      r.tornTail ? "torn final line ignored" : "",
      r.signaturesChecked > 0 ? `${r.signaturesChecked} signed checkpoints verified (key ${keyId(publicKey!)}), last at seq ${r.lastCheckpointSeq}` : "",
    ].filter(Boolean);
    out.write(
      `audit log OK: ${r.records} records in ${r.segments} segments, ${range}, last hash ${r.lastHash}` +
        (notes.length ? ` (${notes.join("; ")})` : "") +
        "\n",
    );
    for (const u of r.unproven) out.write(`not proven: ${u}\n`);
    return 0;
  }
  err.write(`audit log BROKEN at ${r.segment}${r.line > 0 ? ` line ${r.line}` : ""}${r.seq === undefined ? "" : ` (seq ${r.seq})`}: ${r.reason}\n`);
  return 1;
}

/** Writes PREFIX.key (PKCS#8 PEM, 0600, for signing_key_ref) and PREFIX.pub (SPKI PEM, for verify). */
function keygen(prefix: string, out: NodeJS.WritableStream): number {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  // "wx": never overwrite a key that may already sign a log.
  writeFileSync(`${prefix}.key`, privateKey.export({ type: "pkcs8", format: "pem" }), { mode: 0o600, flag: "wx" });
  writeFileSync(`${prefix}.pub`, publicKey.export({ type: "spki", format: "pem" }), { mode: 0o644, flag: "wx" });
  out.write(
    `wrote ${prefix}.key (private, Ed25519 PKCS#8 PEM) and ${prefix}.pub (public), key id ${keyId(publicKey)}\n` +
      `put the private key in the environment variable audit-logger.signing_key_ref.env names, e.g.\n` +
      `  export KT_AUDIT_SIGNING_KEY="$(cat ${prefix}.key)"\n` +
      `and give ${prefix}.pub to auditors: kt audit verify --public-key ${prefix}.pub\n`,
  );
  return 0;
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

import { readFileSync } from "node:fs";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { createKeeptrustsClient } from "../../clients/typescript/src/index.js";
import { parseCommand, UsageError, type CommandSpec } from "./flags.js";

export const targetsSpec = {
  name: "targets",
  summary: "each target's health, circuit state and counters, from a running gateway (Governance service, admin scope)",
  flags: {
    url: { type: "string", value: "URL", default: "http://127.0.0.1:41002", help: "the gateway (env KT_URL)" },
    "api-key": { type: "string", value: "KEY", help: "an API key with the admin scope (env KT_API_KEY; none needed from loopback when the gateway has no keys)" },
    ca: { type: "string", value: "FILE", help: "PEM file of the CA that signed the gateway's certificate (for a self-signed https gateway)" },
    insecure: { type: "boolean", help: "do not verify the gateway's TLS certificate (testing only)" },
    json: { type: "boolean", help: "print one JSON array" },
  },
  examples: ["kt targets", "kt targets --url https://gateway.internal:41002 --ca ./ca.pem --api-key $KT_ADMIN_KEY"],
  notes: "Under --workers each worker keeps its own counters: the table is the answering worker's, and says which (GET /metrics aggregates all workers).",
} satisfies CommandSpec;

/** `kt targets`: each target's health, circuit state and counters, from a running gateway. */
export async function listTargets(args: string[]): Promise<number> {
  const parsed = parseCommand(targetsSpec, args);
  if (!parsed) return 0;
  const { values } = parsed;
  const url = values.url === targetsSpec.flags.url.default ? (process.env.KT_URL ?? values.url!) : values.url!;
  const apiKey = values["api-key"] ?? process.env.KT_API_KEY;
  if ((values.ca || values.insecure) && !url.startsWith("https:")) throw new UsageError("--ca and --insecure apply to an https:// --url", targetsSpec.name);
  let ca: Buffer | undefined;
  if (values.ca) {
    try {
      ca = readFileSync(values.ca);
    } catch (e) {
      throw new UsageError(`cannot read --ca ${values.ca}: ${(e as Error).message}`, targetsSpec.name);
    }
  }
  const nodeOptions = url.startsWith("https:") ? { ...(ca ? { ca } : {}), ...(values.insecure ? { rejectUnauthorized: false } : {}) } : undefined;
  const client = createKeeptrustsClient({ baseUrl: url, apiKey: apiKey || undefined, protocol: "connect", httpVersion: "1.1", nodeOptions });
  let worker: string | null = null;
  const { targets } = await client.governance.listTargets({}, { onHeader: (h) => (worker = h.get("kt-worker")) });
  if (values.json) {
    process.stdout.write(
      `${JSON.stringify(targets.map((t) => ({ ...t, totalFailures: Number(t.totalFailures), totalSuccesses: Number(t.totalSuccesses), ...(worker ? { worker: Number(worker) } : {}) })))}\n`,
    );
    return 0;
  }
  const rows = [["TARGET", "MODEL", "HEALTHY", "CIRCUIT", "FAILS", "OK", "IN-FLIGHT", "LAST PROBE", "LAST ERROR"]];
  for (const t of targets) {
    const probe = t.lastProbe ? `${t.lastProbe.ok ? "ok" : t.lastProbe.error} @ ${timestampDate(t.lastProbe.time!).toISOString()}` : "-";
    rows.push([t.id, t.model, t.healthy ? "yes" : "no", t.circuitState, `${t.consecutiveFailures}/${t.totalFailures}`, String(t.totalSuccesses), String(t.inFlight), probe, t.lastError || "-"]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) process.stdout.write(`${r.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd()}\n`);
  if (worker) process.stdout.write(`(counters of worker ${worker}: each worker keeps its own; GET /metrics aggregates all workers)\n`);
  return 0;
}

import { timestampDate } from "@bufbuild/protobuf/wkt";
import { createKeeptrustsClient } from "../../clients/typescript/src/index.js";
import { parseFlags } from "./index.js";

/** `kt targets`: each target's health, circuit state and counters, from a running gateway. */
export async function listTargets(args: string[]): Promise<number> {
  const { values } = parseFlags(args, {
    url: { type: "string", default: process.env.KT_URL ?? "http://127.0.0.1:41002" },
    "api-key": { type: "string", default: process.env.KT_API_KEY },
    json: { type: "boolean", default: false },
  });
  const client = createKeeptrustsClient({ baseUrl: values.url!, apiKey: values["api-key"] || undefined, protocol: "connect", httpVersion: "1.1" });
  const { targets } = await client.governance.listTargets({});
  if (values.json) {
    process.stdout.write(`${JSON.stringify(targets.map((t) => ({ ...t, totalFailures: Number(t.totalFailures), totalSuccesses: Number(t.totalSuccesses) })))}\n`);
    return 0;
  }
  const rows = [["TARGET", "MODEL", "HEALTHY", "CIRCUIT", "FAILS", "OK", "IN-FLIGHT", "LAST PROBE", "LAST ERROR"]];
  for (const t of targets) {
    const probe = t.lastProbe ? `${t.lastProbe.ok ? "ok" : t.lastProbe.error} @ ${timestampDate(t.lastProbe.time!).toISOString()}` : "-";
    rows.push([t.id, t.model, t.healthy ? "yes" : "no", t.circuitState, `${t.consecutiveFailures}/${t.totalFailures}`, String(t.totalSuccesses), String(t.inFlight), probe, t.lastError || "-"]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) process.stdout.write(`${r.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd()}\n`);
  return 0;
}

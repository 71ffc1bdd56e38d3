import { timestampDate } from "@bufbuild/protobuf/wkt";
import { createKeeptrustsClient } from "../../clients/typescript/src/index.js";
import { UsageSubjectKind } from "../../gen/keeptrusts/v1/governance_pb.js";
import { parseCommand, type CommandSpec } from "./flags.js";

export const usageSpec = {
  name: "usage",
  summary: "usage against the configured limits, from a running gateway (Governance service GetUsage, admin scope)",
  flags: {
    url: { type: "string", value: "URL", default: "http://127.0.0.1:41002", help: "the gateway (env KT_URL)" },
    "api-key": { type: "string", value: "KEY", help: "an API key with the admin scope (env KT_API_KEY)" },
    key: { type: "string", value: "ID", help: "only this API key id" },
    team: { type: "string", value: "NAME", help: "only this team" },
    target: { type: "string", value: "ID", help: "only this target id" },
    json: { type: "boolean", help: "print one JSON object" },
  },
  examples: ["kt usage --api-key $KT_ADMIN_KEY", "kt usage --key team-search --json"],
  notes: "Exit 1 when the limits store (Redis) cannot be read.",
} satisfies CommandSpec;

/** `kt usage`: each key's, team's and target's rate windows, budget and reservations, from a running gateway. */
export async function showUsage(args: string[]): Promise<number> {
  const parsed = parseCommand(usageSpec, args);
  if (!parsed) return 0;
  const { values } = parsed;
  const url = values.url === usageSpec.flags.url.default ? (process.env.KT_URL ?? values.url!) : values.url!;
  const apiKey = values["api-key"] ?? process.env.KT_API_KEY;
  const client = createKeeptrustsClient({ baseUrl: url, apiKey: apiKey || undefined, protocol: "connect", httpVersion: "1.1" });
  const r = await client.governance.getUsage({ keyId: values.key ?? "", team: values.team ?? "", targetId: values.target ?? "" });
  const subjects = r.subjects.map((s) => ({
    kind: UsageSubjectKind[s.kind].toLowerCase(),
    id: s.id,
    team: s.team || undefined,
    rates: s.rates.map((x) => ({ name: x.name, limit: Number(x.limit), used: Number(x.used), remaining: Number(x.remaining), resetSeconds: x.resetSeconds })),
    budget: s.budget
      ? {
          limit: Number(s.budget.limit),
          period: s.budget.period,
          timeZone: s.budget.timeZone,
          used: Number(s.budget.used),
          reserved: Number(s.budget.reserved),
          remaining: Number(s.budget.remaining),
          periodEnd: timestampDate(s.budget.periodEnd!).toISOString(),
        }
      : undefined,
    inFlight: s.inFlightRequests,
    maxConcurrentRequests: s.maxConcurrentRequests || undefined,
    reservedTokens: Number(s.reservedTokens),
  }));
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ store: r.store, storeAvailable: r.storeAvailable, storeError: r.storeError || undefined, subjects })}\n`);
    return r.storeAvailable ? 0 : 1;
  }
  process.stdout.write(`store: ${r.store}${r.storeAvailable ? "" : ` (unavailable: ${r.storeError})`}\n`);
  const rows = [["SUBJECT", "REQ/MIN", "TOKENS/MIN", "BUDGET USED/RESERVED/LIMIT", "PERIOD ENDS", "IN FLIGHT", "RESERVED TOKENS"]];
  for (const s of subjects) {
    const rate = (name: string) => {
      const x = s.rates.find((y) => y.name === name);
      return x ? `${x.used}/${x.limit}` : "-";
    };
    const tokens = s.rates.find((y) => y.name === "tokens_per_minute") ? rate("tokens_per_minute") : [rate("input_tokens_per_minute"), rate("output_tokens_per_minute")].filter((x) => x !== "-").join(" in, ") || "-";
    rows.push([
      `${s.kind}:${s.id}${s.team ? ` (team ${s.team})` : ""}`,
      rate("requests_per_minute"),
      tokens,
      s.budget ? `${s.budget.used}/${s.budget.reserved}/${s.budget.limit} per ${s.budget.period}` : "-",
      s.budget ? `${s.budget.periodEnd} (${s.budget.timeZone})` : "-",
      s.maxConcurrentRequests ? `${s.inFlight}/${s.maxConcurrentRequests}` : String(s.inFlight),
      String(s.reservedTokens),
    ]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  for (const row of rows) process.stdout.write(`${row.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd()}\n`);
  return r.storeAvailable ? 0 : 1;
}

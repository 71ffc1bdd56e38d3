/**
 * The gateway's overhead on the hot path: the same POST /v1/chat/completions, direct to a fake
 * OpenLLM and through the gateway with no policies, in the same run; requests/s and p50/p99
 * latency with their ratios.
 *
 *   npx tsx bench/overhead.ts            # BENCH_SECONDS (10), BENCH_WARMUP_SECONDS (2), BENCH_CONNECTIONS (16)
 *
 * Uses wrk when installed (16 connections, 2 threads), else a built-in undici load loop.
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { CHAT_BODY, writeGatewayConfig } from "./lib/configs.js";
import { loadSettings, measure, probe, type LoadRow, type LoadSettings } from "./lib/load.js";
import { stopAll } from "./lib/proc.js";
import { brief, machineLine, writeReport } from "./lib/report.js";
import { startFake, startGateway, type Service } from "./lib/services.js";
import { throughputTable } from "./lib/throughput.js";
import { wrkPath } from "./lib/wrk.js";

const CHAT = "/v1/chat/completions";

export async function measureDirect(fake: Service, s: LoadSettings): Promise<LoadRow> {
  return measure("direct (fake OpenLLM)", fake.origin + CHAT, s, { upstream: fake.child.pid });
}

/** Starts a gateway with `policies` in front of `fake`, measures it, stops it. */
export async function measureGateway(label: string, fake: Service, s: LoadSettings, policies: "off" | "full"): Promise<LoadRow & { probe: { status: number; snippet: string } }> {
  const cfg = writeGatewayConfig(s.tmpDir, `gateway-${policies}`, {
    baseUrl: fake.origin + "/v1",
    policies,
    auditDir: path.join(s.tmpDir, `audit-${policies}`),
  });
  const gw = await startGateway(cfg, `gateway (${policies})`);
  try {
    const p = await probe(gw.origin + CHAT, s.body);
    const row = await measure(label, gw.origin + CHAT, s, { proxy: gw.child.pid, upstream: fake.child.pid });
    return { ...row, probe: p };
  } finally {
    await gw.stop();
  }
}

async function main(): Promise<void> {
  const tmp = mkdtempSync(path.join(os.tmpdir(), "kt-bench-overhead-"));
  const s = loadSettings(tmp, CHAT_BODY);
  const fake = await startFake();
  try {
    const rows: LoadRow[] = [await measureDirect(fake, s)];
    let note = "";
    try {
      rows.push(await measureGateway("gateway, policies off", fake, s, "off"));
    } catch (e) {
      note = `\nThe gateway could not be measured: ${brief(e)}\n`;
    }
    const md = [
      "# Keeptrusts gateway overhead",
      "",
      `${new Date().toISOString()} · ${machineLine()}`,
      `Load: ${wrkPath() ? "wrk" : "undici loop (wrk not installed)"}, ${s.connections} connections, ${s.seconds} s after ${s.warmupSeconds} s warm-up.`,
      "",
      throughputTable(rows),
      note,
    ].join("\n");
    writeReport("overhead.md", md);
  } finally {
    await fake.stop();
    await stopAll();
    rmSync(tmp, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  main().catch(async (e) => {
    process.stderr.write(`bench/overhead: ${(e as Error).stack ?? e}\n`);
    await stopAll();
    process.exit(1);
  });
}

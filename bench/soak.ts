/**
 * Soak (not CI): hundreds of concurrent streams through the gateway for minutes, to show that
 * memory stays flat and that no stream fails without a reason.
 *
 *   npx tsx bench/soak.ts
 *
 * SOAK_STREAMS (300 concurrent streams, each a loop of stream after stream), SOAK_MINUTES (3),
 * SOAK_DRIP_MS (50, the fake's pause between chunks), SOAK_POLICIES (full | off),
 * SOAK_MODE (buffered | incremental), SOAK_TARGET (gateway | nginx | direct: the last two check
 * the harness itself). RSS of the process under test is sampled every 10 s. Prints a table and
 * writes bench/results/soak.md; exits 1 if any stream failed.
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { Pool } from "undici";
import { writeGatewayConfig } from "./lib/configs.js";
import { envNum } from "./lib/load.js";
import { stopAll } from "./lib/proc.js";
import { cpuTicks, clkTck, rssKb } from "./lib/procfs.js";
import { fmt, machineLine, table, writeReport } from "./lib/report.js";
import { startFake, startGateway, startNginx, type Service } from "./lib/services.js";
import { oneStream, STREAM_BODY, streamFailed } from "./lib/streams.js";

const streams = envNum("SOAK_STREAMS", 300);
const minutes = envNum("SOAK_MINUTES", 3);
const drip = envNum("SOAK_DRIP_MS", 50);
const policies = (process.env.SOAK_POLICIES ?? "full") as "full" | "off";
const mode = (process.env.SOAK_MODE ?? "buffered") as "buffered" | "incremental";
const targetKind = process.env.SOAK_TARGET ?? "gateway";
const SAMPLE_MS = 10_000;

async function main(): Promise<number> {
  const tmp = mkdtempSync(path.join(os.tmpdir(), "kt-soak-"));
  const fake = await startFake({ chunkDelayMs: drip });
  let target: Service | undefined;
  try {
    if (targetKind === "gateway") {
      const cfg = writeGatewayConfig(tmp, "soak", { baseUrl: fake.origin + "/v1", policies, streaming: mode, auditDir: path.join(tmp, "audit") });
      target = await startGateway(cfg);
    } else if (targetKind === "nginx") target = await startNginx(fake.origin, tmp);
    else if (targetKind !== "direct") throw new Error(`SOAK_TARGET must be gateway, nginx or direct, got '${targetKind}'`);
    const origin = target?.origin ?? fake.origin;
    const pid = target?.child.pid ?? fake.child.pid;

    process.stderr.write(`soak: ${streams} concurrent streams for ${minutes} min through ${targetKind}${targetKind === "gateway" ? ` (policies ${policies}, ${mode})` : ""}\n`);
    const pool = new Pool(origin, { connections: streams, keepAliveTimeout: 60_000 });
    const t0 = Date.now();
    const deadline = t0 + minutes * 60_000;
    let completed = 0;
    let errors = 0;
    const kinds: Record<string, number> = {};
    const rows: (string | number | undefined)[][] = [];
    let lastCompleted = 0;
    let lastTicks = cpuTicks(pid);
    const sample = () => {
      const kb = rssKb(pid);
      const ticks = cpuTicks(pid);
      const cpuPct = ticks !== undefined && lastTicks !== undefined ? ((ticks - lastTicks) / clkTck() / (SAMPLE_MS / 1000)) * 100 : undefined;
      lastTicks = ticks;
      rows.push([((Date.now() - t0) / 1000).toFixed(0), fmt(kb === undefined ? undefined : kb / 1024, 1), completed, completed - lastCompleted, errors, fmt(cpuPct, 0)]);
      lastCompleted = completed;
      process.stderr.write(`soak: ${rows.at(-1)!.join("  ")}\n`);
    };
    sample();
    const timer = setInterval(sample, SAMPLE_MS);
    const worker = async () => {
      while (Date.now() < deadline) {
        const r = await oneStream(pool, STREAM_BODY, 120_000);
        const bad = streamFailed(r);
        if (bad) {
          errors++;
          kinds[bad] = (kinds[bad] ?? 0) + 1;
          await new Promise((res) => setTimeout(res, 100)); // no hot loop if the target is down
        } else completed++;
      }
    };
    await Promise.all(Array.from({ length: streams }, worker));
    clearInterval(timer);
    sample();
    await pool.close();

    const rss = rows.map((r) => Number(r[1])).filter(Number.isFinite);
    const warmIdx = Math.min(rss.length - 1, 3);
    const md = [
      "# Keeptrusts gateway soak",
      "",
      `${new Date().toISOString()} · ${machineLine()}`,
      `${streams} concurrent streams for ${minutes} min through ${targetKind}${targetKind === "gateway" ? ` (policies ${policies}, streaming ${mode})` : ""}; the fake waits ${drip} ms between chunks.`,
      "",
      table(["t s", "RSS MB", "streams done", "done in interval", "errors", "CPU %"], rows),
      "",
      `Streams completed: ${completed}; failed: ${errors}${errors ? ` ${JSON.stringify(kinds)}` : ""}.`,
      `RSS: first ${fmt(rss[0], 1)} MB, at ${rows[warmIdx]?.[0]} s ${fmt(rss[warmIdx], 1)} MB, last ${fmt(rss.at(-1), 1)} MB, max ${fmt(Math.max(...rss), 1)} MB.`,
    ].join("\n");
    writeReport("soak.md", md);
    return errors > 0 ? 1 : 0;
  } finally {
    await target?.stop();
    await fake.stop();
    await stopAll();
    rmSync(tmp, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  async (e) => {
    process.stderr.write(`soak: ${(e as Error).stack ?? e}\n`);
    await stopAll();
    process.exit(1);
  },
);

/**
 * Scaling with `kt gateway run --workers N` (issue #20): requests per second and CPU per request of
 * the gateway's whole process tree (primary and workers), policies off and the full chain, for each
 * N in BENCH_WORKERS (default "1,2"). Not part of `npm run bench`.
 *
 *   npm run build:server && nice npx tsx bench/workers.ts
 *
 * wrk and the fake OpenLLM run on the same machine and take their share of its cores, so the
 * throughput a row reaches is bounded by what they leave; the CPU per request is not, and is what
 * the formula for more cores uses: req/s per core ≈ 1e6 / (CPU µs per request).
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { CHAT_BODY, writeGatewayConfig } from "./lib/configs.js";
import { envNum, measure, type LoadSettings } from "./lib/load.js";
import { stopAll } from "./lib/proc.js";
import { fmt, fmtInt, table } from "./lib/report.js";
import { startFake, startGateway } from "./lib/services.js";

const CHAT = "/v1/chat/completions";
const counts = (process.env.BENCH_WORKERS ?? "1,2").split(",").map((s) => Number(s.trim()));
const tmp = mkdtempSync(path.join(os.tmpdir(), "kt-bench-workers-"));
const rows: (string | number | undefined)[][] = [];

try {
  const fake = await startFake();
  const s: LoadSettings = {
    seconds: envNum("BENCH_SECONDS", 6),
    warmupSeconds: envNum("BENCH_WARMUP_SECONDS", 2),
    connections: envNum("BENCH_CONNECTIONS", 32),
    threads: envNum("BENCH_THREADS", 2),
    tmpDir: tmp,
    body: CHAT_BODY,
  };
  for (const policies of ["off", "full"] as const) {
    for (const n of counts) {
      const cfg = writeGatewayConfig(tmp, `workers-${policies}-${n}`, { baseUrl: fake.origin + "/v1", policies, auditDir: path.join(tmp, `audit-${policies}-${n}`) });
      const gw = await startGateway(cfg, `gateway (${policies}, ${n} workers)`, { args: ["--workers", String(n)] });
      try {
        const r = await measure(`${policies} x${n}`, gw.origin + CHAT, s, { proxy: gw.child.pid, upstream: fake.child.pid });
        const cpuUs = r.proxyCpuUs;
        rows.push([
          `policies ${policies}`,
          n,
          fmtInt(r.load.rps),
          fmt(r.load.p50Ms ?? NaN, 2),
          cpuUs === undefined ? undefined : fmtInt(cpuUs),
          cpuUs === undefined ? undefined : fmtInt(1e6 / cpuUs),
          r.load.non2xx ?? 0,
        ]);
      } finally {
        await gw.stop();
      }
    }
  }
  await fake.stop();
  console.log(`\n${os.cpus().length} cores; wrk ${s.connections} connections, ${s.threads} threads, ${s.seconds} s per row\n`);
  console.log(table(["chain", "--workers", "req/s", "p50 ms", "CPU µs/req (all processes)", "req/s per core (1e6 / CPU µs)", "non-2xx"], rows));
} finally {
  await stopAll();
  rmSync(tmp, { recursive: true, force: true });
}

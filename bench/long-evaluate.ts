/**
 * The long-prompt curve of issue #12/#20 from the gateway's side: EvaluatePolicy (gRPC and Connect)
 * and a chat request, for 1 KB, 10 KB, 100 KB and 1 MB of prose with sparse PII (bench/prose.ts),
 * each call after the other. Per call: wall time (p50 and min), the gateway's CPU (all threads)
 * and its main thread's CPU (what holds the event loop), and page faults, main thread and process.
 *
 *   npm run build:server && npx tsx bench/long-evaluate.ts
 *
 * Page faults are the steadiest figure on a shared machine: they do not depend on load, and on the
 * 2-core VM the benchmarks run on each costs about 22 µs (a fresh 4 KiB page; 5–6 ms per MiB of new
 * memory), so a copy of a long text into new memory costs more than scanning it.
 *
 * Gateways: "ten" has one PII rule with the original ten recognisers (issue #12's bar: a 1 MB
 * EvaluatePolicy in ≤ 10 ms); "full" is the bench's full chain (bench/lib/configs.ts).
 * Env: BENCH_LE_SIZES (bytes, comma list), BENCH_LE_CALLS (calls per cell at 1 MB; more for
 * smaller bodies), BENCH_LE_ROWS (comma list of ten-grpc,ten-connect,full-grpc,full-chat),
 * BENCH_LE_BASE (another build's directory, run alternately with this one: its rows say "base").
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { Client } from "undici";
import { createKeeptrustsClient, Direction } from "../clients/typescript/src/index.js";
import { gatewayConfig, MODEL } from "./lib/configs.js";
import { stopAll } from "./lib/proc.js";
import { cpuTicks, clkTck } from "./lib/procfs.js";
import { table } from "./lib/report.js";
import { startFake, startGateway, type Service } from "./lib/services.js";
import { prose } from "./prose.js";

const SIZES = (process.env.BENCH_LE_SIZES ?? "1024,10240,102400,1048576").split(",").map(Number).filter((n) => n > 0);
const CALLS = Number(process.env.BENCH_LE_CALLS ?? 20);
const ROWS = (process.env.BENCH_LE_ROWS ?? "ten-grpc,ten-connect,full-grpc,full-chat").split(",");
const BASE = process.env.BENCH_LE_BASE;
const TEN = ["ssn", "credit_card", "email", "phone", "iban", "ip_address", "us_passport", "uk_nhs", "crypto_wallet", "secret"];
const log = (s: string) => process.stderr.write(`long-evaluate: ${s}\n`);

function stat(p: string): string[] {
  const s = readFileSync(p, "utf8");
  return s.slice(s.lastIndexOf(")") + 2).split(" ");
}
/** utime+stime ticks and minor faults of the main thread, and minor faults of the process. */
function sample(pid: number): { main: number; mainFaults: number; faults: number; all: number } {
  const m = stat(`/proc/${pid}/task/${pid}/stat`);
  return { main: Number(m[11]) + Number(m[12]), mainFaults: Number(m[7]), faults: Number(stat(`/proc/${pid}/stat`)[7]), all: cpuTicks(pid) ?? 0 };
}

const tmp = mkdtempSync(path.join(os.tmpdir(), "kt-bench-le-"));
const fake = await startFake({ maxModelLen: 1e9 });
const services: Service[] = [];
try {
  const tenCfg = path.join(tmp, "ten.yaml");
  writeFileSync(
    tenCfg,
    JSON.stringify({
      providers: { targets: [{ id: "t", provider: `openllm:chat:${MODEL}`, base_url: fake.origin + "/v1" }] },
      policies: [{ id: "pii", rules: [{ type: "pii_detection", action: "redact", patterns: TEN }] }],
    }),
  );
  // One audit log per gateway: a log has one writer.
  const fullCfg = (label: string) => {
    const p = path.join(tmp, `full-${label}.yaml`);
    writeFileSync(p, JSON.stringify(gatewayConfig({ baseUrl: fake.origin + "/v1", policies: "full", auditDir: path.join(tmp, `audit-${label}`) })));
    return p;
  };
  const builds = BASE ? [{ label: "base", root: BASE }, { label: "this", root: undefined }] : [{ label: "this", root: undefined }];
  const gws = new Map<string, Service>();
  for (const b of builds)
    for (const [set, cfg] of [["ten", tenCfg], ["full", fullCfg(b.label)]] as const) {
      if (!ROWS.some((r) => r.startsWith(set))) continue;
      const g = await startGateway(cfg, `gateway ${set} (${b.label})`, { root: b.root });
      services.push(g);
      gws.set(`${b.label}:${set}`, g);
    }
  const rows: (string | number)[][] = [];
  const tick = 1000 / clkTck();
  for (const size of SIZES) {
    const text = prose(size);
    const chatBody = JSON.stringify({ model: MODEL, messages: [{ role: "user", content: text }], max_tokens: 16 });
    const n = Math.max(CALLS, Math.round((CALLS * 1_048_576) / Math.max(size, 65_536)));
    for (const row of ROWS)
      for (const b of builds) {
        const [set, kind] = row.split("-") as ["ten" | "full", "grpc" | "connect" | "chat"];
        const gw = gws.get(`${b.label}:${set}`)!;
        const pid = gw.child.pid;
        const kt = createKeeptrustsClient({ baseUrl: gw.origin, protocol: kind === "connect" ? "connect" : "grpc" });
        const http = new Client(gw.origin, { keepAliveTimeout: 60_000 });
        const call = async () => {
          if (kind !== "chat") return kt.governance.evaluatePolicy({ text, direction: Direction.REQUEST });
          const r = await http.request({ path: "/v1/chat/completions", method: "POST", headers: { "content-type": "application/json" }, body: chatBody });
          const t = await r.body.text();
          if (r.statusCode !== 200) throw new Error(`HTTP ${r.statusCode}: ${t.slice(0, 200)}`);
          return t;
        };
        for (let i = 0; i < 3; i++) await call();
        const ms: number[] = [];
        const s0 = sample(pid);
        for (let i = 0; i < n; i++) {
          const t0 = performance.now();
          await call();
          ms.push(performance.now() - t0);
        }
        const s1 = sample(pid);
        await http.close();
        ms.sort((a, c) => a - c);
        rows.push([
          `${size >= 1_000_000 ? `${Math.round(size / 1_048_576)} MB` : `${Math.round(size / 1024)} KB`}`,
          `${row}${BASE ? ` (${b.label})` : ""}`,
          n,
          ms[n >> 1]!.toFixed(2),
          ms[0]!.toFixed(2),
          (((s1.all - s0.all) * tick) / n).toFixed(2),
          (((s1.main - s0.main) * tick) / n).toFixed(2),
          Math.round((s1.mainFaults - s0.mainFaults) / n),
          Math.round((s1.faults - s0.faults) / n),
        ]);
        log(rows.at(-1)!.join(" | "));
      }
  }
  process.stdout.write(
    table(["body", "row", "calls", "wall p50 ms", "wall min ms", "gateway CPU ms/call", "main thread CPU ms/call", "page faults/call, main", "page faults/call, process"], rows) + "\n",
  );
} finally {
  for (const s of services.reverse()) await s.stop().catch(() => {});
  await fake.stop();
  await stopAll();
  rmSync(tmp, { recursive: true, force: true });
}

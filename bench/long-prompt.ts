/**
 * Long prompts through the full chain: CPU per request and added latency for 1 KB, 10 KB, 100 KB
 * and 1 MB chat bodies of realistic prose with sparse PII (bench/prose.ts), against a direct call
 * and a plain Node proxy (no governance), and the latency of `/healthz` on the gateway while the
 * 1 MB prompts go through (a blocked event loop shows there first).
 *
 *   npx tsx bench/long-prompt.ts
 *
 * Requests are sequential over one keep-alive connection per path, in interleaved rounds (every
 * path in turn), so a slow spell of the machine hits all paths alike. The fake answers with the
 * first 16 words of the prompt (max_tokens 16), so the answer stays small and the cost measured is
 * the prompt's. CPU per request is the proxy process's CPU time (/proc, all threads) over its own
 * batches divided by their requests.
 *
 * Env: BENCH_LP_SIZES (bytes, comma list; 1024,10240,102400,1048576), BENCH_LP_ROUNDS (3),
 * BENCH_LP_SCALE (1: multiplies the request counts, 600/300/90/24 per size and path),
 * BENCH_LP_PII_EVERY (one PII sentence per this many bytes, 20000; at least 2 per body),
 * BENCH_LP_BASE (another build's directory, with its own bin/ and dist/: its gateway is one more
 * path in the same interleaved rounds, for a before/after from one run, and probed with /healthz alike during the 1 MB prompts), BENCH_LP_NODE_ARGS (node
 * flags for this build's gateway only, space-separated: e.g. `--cpu-prof --cpu-prof-dir=/tmp/p`),
 * BENCH_LP_GATEWAY_ENV (`K=V,K=V` for this build's gateway only, e.g. `KT_SCAN_FOLLOW=on`).
 * Prints a markdown section on stdout; with BENCH_LP_WRITE=1 also writes bench/results/long-prompt.md.
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { Client } from "undici";
import { fullChainLine, MODEL, writeGatewayConfig } from "./lib/configs.js";
import { envNum } from "./lib/load.js";
import { percentile } from "./lib/node-load.js";
import { stopAll } from "./lib/proc.js";
import { cpuMicrosPer, cpuTicks } from "./lib/procfs.js";
import { fmt, fmtInt, machineLine, table, writeChart, writeReport } from "./lib/report.js";
import { lineChart } from "./lib/svg-chart.js";
import { startFake, startGateway, startPlainNodeProxy, type Service } from "./lib/services.js";
import { prose } from "./prose.js";

const log = (s: string) => process.stderr.write(`long-prompt: ${s}\n`);
const SIZES = (process.env.BENCH_LP_SIZES ?? "1024,10240,102400,1048576").split(",").map((s) => Number(s.trim())).filter((n) => n > 0);
const ROUNDS = Math.max(1, Math.floor(envNum("BENCH_LP_ROUNDS", 3)));
const SCALE = envNum("BENCH_LP_SCALE", 1);
const PII_EVERY = envNum("BENCH_LP_PII_EVERY", 20_000);
const BASE = process.env.BENCH_LP_BASE;
const NODE_ARGS = (process.env.BENCH_LP_NODE_ARGS ?? "").split(" ").filter(Boolean);
const GATEWAY_ENV = Object.fromEntries((process.env.BENCH_LP_GATEWAY_ENV ?? "").split(",").filter((kv) => kv.includes("=")).map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]));

/** Requests per path and size: enough CPU time per path for /proc's 10 ms ticks to be a few percent. */
function requestsFor(size: number): number {
  const base = size <= 2048 ? 600 : size <= 20_000 ? 300 : size <= 200_000 ? 90 : 24;
  return Math.max(ROUNDS, Math.round(base * SCALE));
}

function bodyOf(size: number): string {
  // The JSON envelope is ~150 bytes; the prose fills the rest of `size`.
  const text = prose(Math.max(200, size - 160), Math.min(PII_EVERY, Math.floor(size / 2)));
  return JSON.stringify({ model: MODEL, messages: [{ role: "user", content: text }], max_tokens: 16 });
}

interface PathUnderTest {
  label: string;
  origin: string;
  pid?: number;
}

interface Cell {
  latencies: number[];
  ticks: number;
  requests: number;
  errors: number;
  firstError?: string;
}

async function one(c: Client, body: string): Promise<{ ms: number; error?: string }> {
  const t0 = performance.now();
  try {
    const r = await c.request({ path: "/v1/chat/completions", method: "POST", headers: { "content-type": "application/json" }, body, headersTimeout: 120_000, bodyTimeout: 120_000 });
    const text = await r.body.text();
    const ms = performance.now() - t0;
    if (r.statusCode !== 200) return { ms, error: `HTTP ${r.statusCode}: ${text.slice(0, 160)}` };
    return { ms };
  } catch (e) {
    return { ms: performance.now() - t0, error: (e as Error).message };
  }
}

/** /healthz, one request after another (2 ms apart), until stopped: the gateway's event loop as a client sees it. */
class HealthProbe {
  readonly ms: number[] = [];
  failures = 0;
  firstFailure: string | undefined;
  private running = false;
  private done: Promise<void> | undefined;
  private readonly client: Client;
  constructor(origin: string) {
    this.client = new Client(origin, { keepAliveTimeout: 60_000 });
  }
  start(): void {
    this.running = true;
    this.done = (async () => {
      while (this.running) {
        const t0 = performance.now();
        try {
          const r = await this.client.request({ path: "/healthz", method: "GET" });
          await r.body.dump();
          if (r.statusCode !== 200) throw new Error(`HTTP ${r.statusCode}`);
          this.ms.push(performance.now() - t0);
        } catch (e) {
          this.failures++;
          this.firstFailure ??= (e as Error).message;
        }
        await new Promise((res) => setTimeout(res, 2));
      }
    })();
  }
  async stop(): Promise<{ n: number; failed: string | number; p50?: number; p99?: number; max?: number }> {
    this.running = false;
    await this.done;
    await this.client.close();
    const s = [...this.ms].sort((a, b) => a - b);
    return { n: s.length, failed: this.failures ? `${this.failures} (${this.firstFailure})` : 0, p50: percentile(s, 50), p99: percentile(s, 99), max: s.at(-1) };
  }
}

export type Target = [target: string, measured: string, met: boolean | undefined];

export async function longPrompt(): Promise<{ markdown: string; targets: Target[]; charts: { name: string; svg: string }[] }> {
  const tmp = mkdtempSync(path.join(os.tmpdir(), "kt-bench-lp-"));
  const fake = await startFake({ maxModelLen: 1_000_000_000, name: "fake-openllm (long prompts)" });
  const services: Service[] = [];
  const rows: (string | number | undefined)[][] = [];
  const health: (string | number | undefined)[][] = [];
  const baseHealth: (string | number | undefined)[][] = [];
  const curve: { size: number; cpu?: number; plainCpu?: number; addedMs?: number }[] = [];
  try {
    const plain = await startPlainNodeProxy(fake.origin);
    services.push(plain);
    const cfg = writeGatewayConfig(tmp, "long-prompt-full", { baseUrl: fake.origin + "/v1", policies: "full", auditDir: path.join(tmp, "audit") });
    const gw = await startGateway(cfg, "gateway (long prompts)", { nodeArgs: NODE_ARGS, env: GATEWAY_ENV });
    services.push(gw);
    const paths: PathUnderTest[] = [
      { label: "direct (fake OpenLLM)", origin: fake.origin },
      { label: "plain Node proxy (no governance)", origin: plain.origin, pid: plain.child.pid },
      { label: "gateway, full chain", origin: gw.origin, pid: gw.child.pid },
    ];
    let baseOrigin: string | undefined;
    if (BASE) {
      const baseCfg = writeGatewayConfig(tmp, "long-prompt-full-base", { baseUrl: fake.origin + "/v1", policies: "full", auditDir: path.join(tmp, "audit-base") });
      const base = await startGateway(baseCfg, "gateway (long prompts, base build)", { root: BASE });
      services.push(base);
      paths.push({ label: "gateway, full chain (base build)", origin: base.origin, pid: base.child.pid });
      baseOrigin = base.origin;
    }
    const clients = paths.map((p) => new Client(p.origin, { keepAliveTimeout: 60_000, pipelining: 1 }));
    // /healthz at rest, before any long prompt: the baseline for the probe during the 1 MB ones.
    const idle = new HealthProbe(gw.origin);
    idle.start();
    await new Promise((r) => setTimeout(r, 1000));
    const idleStats = await idle.stop();
    health.push(["gateway idle (1 s)", idleStats.n, idleStats.failed, fmt(idleStats.p50), fmt(idleStats.p99), fmt(idleStats.max)]);

    for (const size of SIZES) {
      const body = bodyOf(size);
      const n = requestsFor(size);
      log(`${(Buffer.byteLength(body) / 1024).toFixed(0)} KiB body: warm-up, then ${n} requests per path in ${ROUNDS} rounds`);
      for (const c of clients) for (let i = 0; i < Math.min(5, n); i++) await one(c, body);
      const cells: Cell[] = paths.map(() => ({ latencies: [], ticks: 0, requests: 0, errors: 0 }));
      const probe = size >= 1_000_000 ? new HealthProbe(gw.origin) : undefined;
      probe?.start();
      // The base build's gateway is probed alike: a probe's requests are CPU of the process probed,
      // counted into its CPU per request (~6 ms per 1 MB request at load 14 when only one was probed).
      const baseProbe = probe && baseOrigin !== undefined ? new HealthProbe(baseOrigin) : undefined;
      baseProbe?.start();
      for (let r = 0; r < ROUNDS; r++)
        for (const [i, p] of paths.entries()) {
          const k = Math.floor(n / ROUNDS) + (r < n % ROUNDS ? 1 : 0);
          const cell = cells[i]!;
          const t0 = p.pid !== undefined ? cpuTicks(p.pid) : undefined;
          for (let j = 0; j < k; j++) {
            const res = await one(clients[i]!, body);
            cell.requests++;
            if (res.error) {
              cell.errors++;
              cell.firstError ??= res.error;
            } else cell.latencies.push(res.ms);
          }
          const t1 = p.pid !== undefined ? cpuTicks(p.pid) : undefined;
          if (t0 !== undefined && t1 !== undefined) cell.ticks += t1 - t0;
        }
      const during = await probe?.stop();
      if (during) health.push([`gateway during the ${fmtSize(size)} prompts`, during.n, during.failed, fmt(during.p50), fmt(during.p99), fmt(during.max)]);
      const baseDuring = await baseProbe?.stop();
      if (baseDuring) baseHealth.push([`base build's gateway during the ${fmtSize(size)} prompts`, baseDuring.n, baseDuring.failed, fmt(baseDuring.p50), fmt(baseDuring.p99), fmt(baseDuring.max)]);
      const p50 = (c: Cell) => percentile([...c.latencies].sort((a, b) => a - b), 50);
      const p99 = (c: Cell) => percentile([...c.latencies].sort((a, b) => a - b), 99);
      const directP50 = p50(cells[0]!);
      const plainCell = cells[1]!;
      let gwCpu: number | undefined;
      let plainCpu: number | undefined;
      for (const [i, p] of paths.entries()) {
        const c = cells[i]!;
        const cpu = p.pid !== undefined ? cpuMicrosPer(0, c.ticks, c.requests) : undefined;
        if (i === 1) plainCpu = cpu;
        if (i === 2) gwCpu = cpu;
        const added = i === 0 || directP50 === undefined || p50(c) === undefined ? undefined : p50(c)! - directP50;
        rows.push([
          fmtSize(size),
          p.label,
          c.requests,
          c.errors ? `${c.errors} (${c.firstError})` : 0,
          fmt(p50(c)),
          fmt(p99(c)),
          added === undefined ? "—" : `${added >= 0 ? "+" : ""}${added.toFixed(2)}`,
          i >= 2 && p50(plainCell) !== undefined && p50(c) !== undefined ? `${(p50(c)! - p50(plainCell)!).toFixed(2)}` : undefined,
          fmtInt(cpu),
          cpu !== undefined ? fmt(cpu / (Buffer.byteLength(body) / 1024), 2) : undefined,
        ]);
      }
      const gwP50 = p50(cells[2]!);
      curve.push({ size, cpu: gwCpu, plainCpu, addedMs: gwP50 !== undefined && directP50 !== undefined ? gwP50 - directP50 : undefined });
    }
    await Promise.all(clients.map((c) => c.close()));
  } finally {
    for (const s of services.reverse()) await s.stop().catch(() => {});
    await fake.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
  const mb = curve.find((c) => c.size >= 1_000_000);
  const worst = health.slice(1).map((h) => Number(h[5])).filter(Number.isFinite);
  const maxHealth = worst.length ? Math.max(...worst) : undefined;
  const targets: Target[] = [
    ["1 MB prompt with sparse PII, full chain: added p50 ≤ 15 ms", mb?.addedMs === undefined ? "not measured" : `+${mb.addedMs.toFixed(1)} ms over direct`, mb?.addedMs === undefined ? undefined : mb.addedMs <= 15],
    ["event loop never blocked > 50 ms by a 1 MB prompt (/healthz max during them)", maxHealth === undefined ? "not measured" : `${maxHealth.toFixed(1)} ms`, maxHealth === undefined ? undefined : maxHealth <= 50],
    ["(report) CPU per request, 1 KB / 10 KB / 100 KB / 1 MB, full chain", curve.map((c) => `${fmtSize(c.size)} ${fmtInt(c.cpu)} µs`).join(", "), undefined],
  ];
  const verdict = [
    mb?.addedMs !== undefined ? `1 MB prompt, full chain: **+${mb.addedMs.toFixed(1)} ms** p50 over direct — target ≤ 15 ms ${mb.addedMs <= 15 ? "met" : "**not met**"}.` : "",
    worst.length ? `/healthz during the 1 MB prompts: worst **${Math.max(...worst).toFixed(1)} ms** — target (event loop never blocked > 50 ms) ${Math.max(...worst) <= 50 ? "met" : "**not met**"}.` : "",
  ].filter(Boolean);
  const markdown = [
    "## 6. Long prompts (bench/long-prompt.ts)",
    "",
    `Chat bodies of realistic prose (bench/prose.ts) with one PII sentence (email, card, SSN, phone, IBAN or IP address) every ${PII_EVERY} bytes (at least two per body), \`max_tokens: 16\` (the fake echoes the first 16 words). Sequential requests over one keep-alive connection per path, ${ROUNDS} interleaved rounds. ${fullChainLine()}`,
    "",
    table(["body", "path", "requests", "errors", "p50 ms", "p99 ms", "added p50 ms (vs direct)", "gateway − plain p50 ms", "proxy CPU µs/req", "CPU µs per KiB"], rows),
    "",
    "`/healthz` on the gateway, one request after another 2 ms apart, from a separate connection:",
    "",
    table(["when", "probes", "failed", "p50 ms", "p99 ms", "max ms"], [...health, ...baseHealth]),
    "",
    ...verdict,
    "",
    "Curve (gateway full chain, CPU µs per request by body size): " + curve.map((c) => `${fmtSize(c.size)} ${fmtInt(c.cpu)} µs (plain Node proxy ${fmtInt(c.plainCpu)} µs)`).join(" · "),
    "",
    "Charts: bench/results/long-prompt-cpu.svg (CPU per request by body size), bench/results/long-prompt-latency.svg (added p50 over direct).",
  ].join("\n");
  const points = (f: (c: (typeof curve)[number]) => number | undefined): [number, number][] =>
    curve.flatMap((c) => (f(c) === undefined ? [] : [[c.size, f(c)!] as [number, number]]));
  const charts = [
    {
      name: "long-prompt-cpu.svg",
      svg: lineChart({
        title: "Long prompts: proxy CPU per request by body size",
        xLabel: "chat body size (prose with sparse PII)",
        yLabel: "CPU µs per request (all threads)",
        logX: true,
        xTick: fmtSize,
        series: [
          { name: "gateway, full chain", points: points((c) => c.cpu) },
          { name: "plain Node proxy (no governance)", points: points((c) => c.plainCpu) },
        ],
      }),
    },
    {
      name: "long-prompt-latency.svg",
      svg: lineChart({
        title: "Long prompts: gateway's added p50 over a direct call",
        xLabel: "chat body size (prose with sparse PII)",
        yLabel: "added p50 ms",
        logX: true,
        xTick: fmtSize,
        series: [{ name: "gateway, full chain", points: points((c) => c.addedMs) }],
        marks: [{ y: 15, label: "target for 1 MB: 15 ms" }],
      }),
    },
  ];
  return { markdown, targets, charts };
}

function fmtSize(n: number): string {
  return n >= 1_000_000 ? `${Math.round(n / 1048576)} MB` : n >= 1000 ? `${Math.round(n / 1024)} KB` : `${n} B`;
}

// Run alone: `npx tsx bench/long-prompt.ts`.
if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  longPrompt()
    .then(({ markdown: md, charts }) => {
      process.stdout.write(md + "\n");
      if (process.env.BENCH_LP_WRITE === "1") {
        log(`written to ${writeReport("long-prompt.md", `# Long prompts\n\n${new Date().toISOString()} · ${machineLine()}\n\n${md}\n`)}`);
        for (const c of charts) log(`chart ${writeChart(c.name, c.svg)}`);
      }
    })
    .catch(async (e) => {
      process.stderr.write(`long-prompt: ${(e as Error).stack ?? e}\n`);
      await stopAll();
      process.exit(1);
    })
    .finally(() => void stopAll());
}

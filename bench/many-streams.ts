/**
 * Ten thousand concurrent streams through one gateway process (full chain, incremental), each on
 * its own client connection, against the same number straight to the fake: errors, RSS peak,
 * memory per stream, TTFT p50/p99 of both paths.
 *
 *   npx tsx bench/many-streams.ts                # 10,000 streams (or as many as the fd limit allows)
 *   BENCH_STREAMS_10K=1 npm run bench            # as section 7 of the full run
 *
 * A stream through the gateway holds two descriptors there (client side and upstream side), so the
 * gateway needs 2n + its own. Node raises its soft limit on open files to the hard limit at
 * start-up (every process here is Node); the hard limit can only be raised with CAP_SYS_RESOURCE
 * (`prlimit --nofile=N:N` / `ulimit -Hn N` as root, or LimitNOFILE= in a unit). When the hard limit
 * cannot hold 2n, the bench runs as many streams as fit and says so. Streams are opened in batches (BENCH_MANY_BATCH per 100 ms) so the listen backlogs
 * (511 in Node) do not drop SYNs; the fake waits BENCH_MANY_DRIP_MS between chunks so every stream
 * is still open when the last one starts. Env: BENCH_MANY_STREAMS (10000), BENCH_MANY_DRIP_MS (500),
 * BENCH_MANY_BATCH (500), BENCH_MANY_MODE (incremental | buffered), BENCH_MANY_DIRECT (1; 0 skips the
 * direct row), BENCH_GATEWAY_ROOT (another build's directory to run as the gateway), BENCH_MANY_WARM (200 streams through each path before its burst, then 2 s of quiet),
 * BENCH_GATEWAY_NODE_ARGS (node flags for the gateway, e.g. `--cpu-prof --cpu-prof-dir=DIR`).
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { Pool } from "undici";
import { fullChainLine, writeGatewayConfig } from "./lib/configs.js";
import { envNum } from "./lib/load.js";
import { stopAll } from "./lib/proc.js";
import { cpuMicrosPer, cpuTicks, listenOverflows, RssSampler, rssKb } from "./lib/procfs.js";
import { fmt, machineLine, table, writeChart, writeReport } from "./lib/report.js";
import { lineChart } from "./lib/svg-chart.js";
import { startFake, startGateway, type Service } from "./lib/services.js";
import { oneStream, STREAM_BODY, summarise, type ConcurrentSummary, type StreamResult } from "./lib/streams.js";

const log = (s: string) => process.stderr.write(`many-streams: ${s}\n`);

/** The hard limit on open files a child of this process can raise itself to. */
function hardNofile(): number | undefined {
  const r = spawnSync("sh", ["-c", "ulimit -Hn"], { encoding: "utf8" });
  const v = r.stdout.trim();
  if (v === "unlimited") return Number.MAX_SAFE_INTEGER;
  const n = Number(v);
  return Number.isFinite(n) && n > 0 ? n : undefined;
}

interface Burst {
  summary: ConcurrentSummary;
  peakOpen: number;
  idleKb?: number;
  peakKb: number;
  afterKb?: number;
  /** RSS of the process under test every 100 ms, from the first connection on. */
  samples: { atMs: number; kb: number }[];
  /** Growth of the kernel's ListenOverflows counter over the burst (machine-wide). */
  overflows?: number;
  /** CPU (user + system, every thread) of the process under test over the burst, per stream, in ms. */
  cpuMsPerStream?: number;
}

/**
 * What a deployed process has done before a burst: its workers booted (the gateway starts its scan
 * pool a second after it is ready) and its code compiled by the JIT. `k` streams at once, then 2 s
 * of quiet, so the burst measures serving streams, not starting up.
 */
async function warmUp(origin: string, k: number): Promise<void> {
  if (k <= 0) return;
  const pool = new Pool(origin, { connections: k });
  try {
    await Promise.all(Array.from({ length: k }, () => oneStream(pool, STREAM_BODY, 120_000)));
  } finally {
    await pool.destroy();
  }
  await new Promise((r) => setTimeout(r, 2000));
}

/** `n` streams, opened `batch` per 100 ms, each on its own connection; RSS of `pid` sampled meanwhile. */
async function burst(origin: string, pid: number, n: number, batch: number): Promise<Burst> {
  await warmUp(origin, Math.floor(envNum("BENCH_MANY_WARM", 200)));
  const pool = new Pool(origin, { connections: n, keepAliveTimeout: 120_000, headersTimeout: 300_000, bodyTimeout: 300_000 });
  const idleKb = rssKb(pid);
  const overflows0 = listenOverflows();
  const ticks0 = cpuTicks(pid);
  const sampler = new RssSampler(pid, 100).start();
  let open = 0;
  let peakOpen = 0;
  const t0 = performance.now();
  const all: Promise<StreamResult>[] = [];
  try {
    for (let started = 0; started < n; ) {
      const k = Math.min(batch, n - started);
      for (let i = 0; i < k; i++) {
        open++;
        peakOpen = Math.max(peakOpen, open);
        all.push(
          oneStream(pool, STREAM_BODY, 300_000).finally(() => {
            open--;
          }),
        );
      }
      started += k;
      if (started < n) await new Promise((r) => setTimeout(r, 100));
    }
    const results = await Promise.all(all);
    const { peakKb, samples } = sampler.stop();
    const overflows1 = listenOverflows();
    const cpu = cpuMicrosPer(ticks0, cpuTicks(pid), n);
    await new Promise((r) => setTimeout(r, 1000));
    const overflows = overflows0 !== undefined && overflows1 !== undefined ? overflows1 - overflows0 : undefined;
    return { summary: summarise(results, performance.now() - t0), peakOpen, idleKb, peakKb, afterKb: rssKb(pid), samples, overflows, cpuMsPerStream: cpu === undefined ? undefined : cpu / 1000 };
  } finally {
    sampler.stop();
    await pool.destroy();
  }
}

export type Target = [target: string, measured: string, met: boolean | undefined];

export async function manyStreams(): Promise<{ markdown: string; targets: Target[]; charts: { name: string; svg: string }[] }> {
  const requested = Math.floor(envNum("BENCH_MANY_STREAMS", 10_000));
  const drip = envNum("BENCH_MANY_DRIP_MS", 500);
  const batch = Math.max(1, Math.floor(envNum("BENCH_MANY_BATCH", 500)));
  const mode = process.env.BENCH_MANY_MODE === "buffered" ? "buffered" : "incremental";
  const hard = hardNofile();
  // Two descriptors per stream in the gateway, plus ~300 for its own files, sockets and libuv.
  const fit = hard === undefined ? requested : Math.floor((hard - 300) / 2);
  const n = Math.min(requested, fit);
  const notes: string[] = [];
  if (n < requested)
    notes.push(
      `**${requested} streams could not be run here**: the hard limit on open files is ${hard} (\`ulimit -Hn\`; raising it needs CAP_SYS_RESOURCE, which this container lacks), and a stream holds two descriptors in the gateway, so ${n} streams is the most one process can hold on this machine.`,
    );
  const tmp = mkdtempSync(path.join(os.tmpdir(), "kt-bench-many-"));
  const fake = await startFake({ chunkDelayMs: drip, name: "fake-openllm (many streams)" });
  let gw: Service | undefined;
  const rows: (string | number | undefined)[][] = [];
  const bursts: Burst[] = [];
  const mb = (kb: number | undefined) => fmt(kb === undefined ? undefined : kb / 1024, 1);
  const s = (ms: number | undefined) => fmt(ms === undefined ? undefined : ms / 1000, 2);
  const row = (label: string, b: Burst) => {
    const r = b.summary;
    rows.push([
      label,
      r.n,
      b.peakOpen,
      r.completed,
      r.errors ? `${r.errors} ${JSON.stringify(r.errorKinds).replace(/\|/g, "\\|")}` : 0,
      mb(b.idleKb),
      mb(b.peakKb),
      fmt(b.idleKb !== undefined ? (b.peakKb - b.idleKb) / r.n : undefined, 1),
      mb(b.afterKb),
      s(r.wallMs),
      s(r.ttftP50Ms),
      s(r.ttftP99Ms),
      s(r.ttftMaxMs),
      fmt(b.cpuMsPerStream, 2),
      b.overflows,
    ]);
  };
  try {
    // BENCH_MANY_DIRECT=0 skips the direct row (while iterating on the gateway; the report then has no p99 ratio).
    if (process.env.BENCH_MANY_DIRECT !== "0") {
      log(`${n} streams direct (drip ${drip} ms, ${batch} per 100 ms)`);
      const direct = await burst(fake.origin, fake.child.pid, n, batch);
      bursts.push(direct);
      row("direct (RSS of the fake)", direct);
    }
    const cfg = writeGatewayConfig(tmp, "many-streams", { baseUrl: fake.origin + "/v1", policies: "full", streaming: mode, auditDir: path.join(tmp, "audit"), maxStreams: n + 100 });
    // BENCH_GATEWAY_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"): node flags for the gateway, to profile it under this load.
    const nodeArgs = process.env.BENCH_GATEWAY_NODE_ARGS?.split(/\s+/).filter(Boolean);
    // BENCH_GATEWAY_ROOT: another build's directory (its bin/ and dist/) to run instead, for an A/B.
    gw = await startGateway(cfg, "gateway (many streams)", { nodeArgs, root: process.env.BENCH_GATEWAY_ROOT });
    log(`${n} streams through the gateway (full chain, ${mode})`);
    const through = await burst(gw.origin, gw.child.pid, n, batch);
    bursts.push(through);
    row(`gateway, full chain, ${mode} (RSS of the gateway)`, through);
  } finally {
    await gw?.stop();
    await fake.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
  const [d, g] = bursts.length === 2 ? bursts : [undefined, bursts[0]];
  const verdict: string[] = [];
  const targets: Target[] = [];
  if (d && g) {
    const p99x = g.summary.ttftP99Ms !== undefined && d.summary.ttftP99Ms !== undefined ? g.summary.ttftP99Ms / d.summary.ttftP99Ms : undefined;
    targets.push(
      [`${n} concurrent streams (full chain, ${mode}): zero errors`, `${g.summary.errors} of ${g.summary.n}${n < requested ? ` (${requested} did not fit the fd limit)` : ""}`, g.summary.errors === 0 && n >= requested],
      [`${n} concurrent streams: RSS peak ≤ 1 GB`, `${mb(g.peakKb)} MB, ${fmt(g.idleKb !== undefined ? (g.peakKb - g.idleKb) / g.summary.n : undefined, 1)} KB per stream`, g.peakKb <= 1024 * 1024],
      [`${n} concurrent streams: TTFT p99 ≤ 2× direct's`, p99x === undefined ? "not measured" : `${p99x.toFixed(2)}× (${s(g.summary.ttftP99Ms)} s vs ${s(d.summary.ttftP99Ms)} s)`, p99x === undefined ? undefined : p99x <= 2],
    );
    verdict.push(
      `Errors through the gateway: **${g.summary.errors}** (target 0: ${g.summary.errors === 0 ? "met" : "**not met**"}). RSS peak **${mb(g.peakKb)} MB** (target ≤ 1024 MB: ${g.peakKb <= 1024 * 1024 ? "met" : "**not met**"}), ${fmt(g.idleKb !== undefined ? (g.peakKb - g.idleKb) / g.summary.n : undefined, 1)} KB per stream above idle. TTFT p99 ${s(g.summary.ttftP99Ms)} s against ${s(d.summary.ttftP99Ms)} s direct = **${p99x?.toFixed(2)}×** (target ≤ 2×: ${p99x !== undefined && p99x <= 2 ? "met" : "**not met**"}).`,
    );
  }
  const markdown = [
    `## 7. Many streams: ${n} concurrent streams through one gateway process (bench/many-streams.ts)`,
    "",
    `${n} streams (requested ${requested}), each on its own client connection, opened ${batch} every 100 ms; the fake waits ${drip} ms between chunks (12 words, ~13 chunks, so a stream lasts ~${((drip * 13) / 1000).toFixed(1)} s and all are open at once: see "peak open"). Gateway streaming mode: ${mode}. ${fullChainLine()} Open-file limit: soft and hard ${hard ?? "unknown"}. Each path first serves ${Math.floor(envNum("BENCH_MANY_WARM", 200))} streams (workers booted, code compiled) and rests 2 s; "RSS idle" is taken after that. RSS sampled every 100 ms; "CPU ms/stream" is the process's user + system CPU (all threads) over the burst divided by the streams; "ListenOverflows +" is the growth of the kernel's machine-wide \`TcpExt ListenOverflows\` counter over the burst (connections a full accept queue dropped). TTFT from the request's send to its first content delta (so it includes the client's own queueing on a 2-core machine).`,
    "",
    table(["path", "streams", "peak open", "completed", "errors", "RSS idle MB", "RSS peak MB", "(peak − idle)/stream KB", "RSS 1 s after MB", "wall s", "TTFT p50 s", "TTFT p99 s", "TTFT max s", "CPU ms/stream", "ListenOverflows +"], rows),
    "",
    ...notes,
    ...verdict,
    "",
    "Chart: bench/results/many-streams-rss.svg (RSS over the run, both paths).",
  ].join("\n");
  const series = [
    ...(d ? [{ name: "direct: RSS of the fake", points: d.samples.map((p) => [p.atMs / 1000, p.kb / 1024] as [number, number]) }] : []),
    ...(g ? [{ name: `gateway, full chain, ${mode}: RSS`, points: g.samples.map((p) => [p.atMs / 1000, p.kb / 1024] as [number, number]) }] : []),
  ];
  const charts = series.length
    ? [
        {
          name: "many-streams-rss.svg",
          svg: lineChart({
            title: `${n} concurrent streams: resident memory over the run`,
            xLabel: "seconds from the first connection",
            yLabel: "RSS MB",
            series,
            marks: [{ y: 1024, label: "target: 1 GB" }],
          }),
        },
      ]
    : [];
  return { markdown, targets, charts };
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  manyStreams()
    .then(({ markdown: md, charts }) => {
      process.stdout.write(md + "\n");
      if (process.env.BENCH_MANY_WRITE === "1") {
        log(`written to ${writeReport("many-streams.md", `# Many streams\n\n${new Date().toISOString()} · ${machineLine()}\n\n${md}\n`)}`);
        for (const c of charts) log(`chart ${writeChart(c.name, c.svg)}`);
      }
    })
    .catch(async (e) => {
      process.stderr.write(`many-streams: ${(e as Error).stack ?? e}\n`);
      await stopAll();
      process.exit(1);
    })
    .finally(() => void stopAll());
}

/**
 * A short pinned-CPU comparison for optimisation work (not part of `npm run bench`): the plain Node
 * proxy, the gateway with policies off and the full chain, each pinned to CPU 1 with wrk and the
 * fake on CPU 0, in interleaved rounds; then, with BENCH_QUICK_TTFT=1, time to first token of the
 * plain relay, policies off and the incremental full chain against a paced fake.
 *
 *   nice npx tsx bench/quick.ts     (BENCH_QUICK_ROUNDS=3, BENCH_QUICK_SECONDS=3, BENCH_QUICK_ONLY=plain,off,full)
 *
 * BENCH_QUICK_BASE=DIR adds rows for another build (a directory with its own bin/ and dist/, e.g. a copy
 * taken before a change), interleaved with this one's, for before/after figures from the same run.
 * BENCH_QUICK_SYSCALLS=1 adds system calls per request (strace -c); BENCH_QUICK_CPU=0 skips the CPU table.
 * BENCH_QUICK_COLD=1 adds, to the TTFT table, the incremental full chain started with KT_WARM_CHAIN=0
 * (its chain not warmed before the listener opens: src/policy/warm-engine.ts), in the same rounds.
 * The gateway runs from dist/ (`npm run build:server` first). Prints one markdown table.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { CHAT_BODY, writeGatewayConfig } from "./lib/configs.js";
import { envNum, measure, type LoadRow, type LoadSettings } from "./lib/load.js";
import { hasCommand, startChild, stopAll } from "./lib/proc.js";
import { pinTree } from "./lib/procfs.js";
import { fmt, fmtInt, table } from "./lib/report.js";
import { startFake, startGateway, startPlainNodeProxy, type Service } from "./lib/services.js";
import { StreamSampler } from "./lib/streams.js";
import { runWrk, writeWrkScript } from "./lib/wrk.js";

const CHAT = "/v1/chat/completions";
const only = new Set((process.env.BENCH_QUICK_ONLY ?? "plain,off,full").split(","));

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)]!;
}

async function cpu(tmp: string): Promise<string> {
  const fake = await startFake();
  const services: Service[] = [];
  const rows: { label: string; svc: Service }[] = [];
  try {
    if (only.has("plain")) rows.push({ label: "plain Node proxy", svc: await startPlainNodeProxy(fake.origin) });
    const base = process.env.BENCH_QUICK_BASE;
    for (const p of ["off", "full"] as const) {
      if (!only.has(p)) continue;
      const cfg = writeGatewayConfig(tmp, `quick-${p}`, { baseUrl: fake.origin + "/v1", policies: p, auditDir: path.join(tmp, `audit-${p}`) });
      rows.push({ label: `gateway, policies ${p}`, svc: await startGateway(cfg, `gateway (${p})`) });
      if (base) {
        const bcfg = writeGatewayConfig(tmp, `quick-base-${p}`, { baseUrl: fake.origin + "/v1", policies: p, auditDir: path.join(tmp, `audit-base-${p}`) });
        rows.push({ label: `baseline build, policies ${p}`, svc: await startGateway(bcfg, `baseline (${p})`, { root: base }) });
      }
    }
    services.push(...rows.map((r) => r.svc));
    pinTree(fake.child.pid, 0);
    for (const r of rows) pinTree(r.svc.child.pid, 1);
    const s: LoadSettings = { seconds: envNum("BENCH_QUICK_SECONDS", 3), warmupSeconds: 2, connections: 16, threads: 1, tmpDir: tmp, body: CHAT_BODY };
    for (const r of rows) await measure(r.label, r.svc.origin + CHAT, s, { proxy: r.svc.child.pid, upstream: fake.child.pid }, {}, 0);
    const by = rows.map(() => [] as LoadRow[]);
    const rounds = envNum("BENCH_QUICK_ROUNDS", 3);
    for (let i = 0; i < rounds; i++)
      for (const [k, r] of rows.entries()) by[k]!.push(await measure(r.label, r.svc.origin + CHAT, { ...s, warmupSeconds: 0 }, { proxy: r.svc.child.pid, upstream: fake.child.pid }, {}, 0));
    const plain = by[0] && rows[0]!.label.startsWith("plain") ? median(by[0].map((x) => x.proxyCpuUs ?? NaN)) : undefined;
    return table(
      ["path", "CPU µs/req (median)", "min", "rounds", "vs plain (median)", "p50 ms", "non-2xx"],
      rows.map((r, k) => {
        const cpus = by[k]!.map((x) => x.proxyCpuUs ?? NaN);
        const m = median(cpus);
        return [r.label, fmtInt(m), fmtInt(Math.min(...cpus)), cpus.map((c) => fmtInt(c)).join(" / "), plain ? `${(m / plain).toFixed(2)}×` : "", fmt(median(by[k]!.map((x) => x.load.p50Ms ?? NaN))), by[k]!.reduce((a, x) => a + x.load.non2xx, 0)];
      }),
    );
  } finally {
    for (const svc of services.reverse()) await svc.stop().catch(() => {});
    await fake.stop();
  }
}

/**
 * System calls per request of each path, counted by `strace -c -f` attached for one short wrk run
 * (strace slows the process; the counts per request do not depend on speed, which makes them a
 * measure the shared machine's noise cannot blur).
 */
async function syscalls(tmp: string): Promise<string> {
  if (!hasCommand("strace")) return "syscalls: strace is not installed";
  const fake = await startFake();
  const rows: { label: string; svc: Service }[] = [];
  try {
    if (only.has("plain")) rows.push({ label: "plain Node proxy", svc: await startPlainNodeProxy(fake.origin) });
    for (const p of ["off", "full"] as const) {
      if (!only.has(p)) continue;
      const cfg = writeGatewayConfig(tmp, `sys-${p}`, { baseUrl: fake.origin + "/v1", policies: p, auditDir: path.join(tmp, `sys-audit-${p}`) });
      rows.push({ label: `gateway, policies ${p}`, svc: await startGateway(cfg, `gateway (${p})`) });
    }
    const script = writeWrkScript(tmp, CHAT_BODY, "sys.lua");
    const out: (string | number | undefined)[][] = [];
    let names: string[] = [];
    const counts: Map<string, number>[] = [];
    for (const r of rows) {
      await runWrk({ url: r.svc.origin + CHAT, script, seconds: 2, connections: 16, threads: 1 });
      const file = path.join(tmp, `strace-${r.svc.child.pid}.txt`);
      const st = startChild("strace", "strace", ["-c", "-f", "-o", file, "-p", String(r.svc.child.pid)]);
      await new Promise((res) => setTimeout(res, 500));
      const w = await runWrk({ url: r.svc.origin + CHAT, script, seconds: envNum("BENCH_QUICK_SECONDS", 3), connections: 16, threads: 1 });
      process.kill(st.pid, "SIGINT");
      await st.exited;
      const m = new Map<string, number>();
      for (const line of readFileSync(file, "utf8").split("\n")) {
        const f = line.trim().split(/\s+/);
        if (f.length >= 5 && /^\d/.test(f[0]!) && f[f.length - 1] !== "total") m.set(f[f.length - 1]!, Number(f[3]) / Math.max(1, w.requests));
      }
      counts.push(m);
      names = [...new Set([...names, ...m.keys()])];
    }
    names = names.filter((n) => counts.some((m) => (m.get(n) ?? 0) >= 0.05)).sort((a, b) => (counts[0]!.get(b) ?? 0) - (counts[0]!.get(a) ?? 0));
    for (const n of names) out.push([n, ...counts.map((m) => fmt(m.get(n) ?? 0))]);
    out.push(["all", ...counts.map((m) => fmt([...m.values()].reduce((a, b) => a + b, 0)))]);
    return table(["syscall per request", ...rows.map((r) => r.label)], out);
  } finally {
    for (const r of rows.reverse()) await r.svc.stop().catch(() => {});
    await fake.stop();
  }
}

async function ttft(tmp: string): Promise<string> {
  const delay = envNum("BENCH_CHUNK_DELAY_MS", 20);
  const fake = await startFake({ chunkDelayMs: delay, name: "fake (paced)" });
  const rows: { label: string; svc?: Service }[] = [{ label: "direct" }];
  try {
    rows.push({ label: "plain Node relay", svc: await startPlainNodeProxy(fake.origin) });
    rows.push({ label: "gateway, policies off", svc: await startGateway(writeGatewayConfig(tmp, "t-off", { baseUrl: fake.origin + "/v1", policies: "off" }), "gw off") });
    rows.push({
      label: "gateway, full chain, incremental",
      svc: await startGateway(writeGatewayConfig(tmp, "t-inc", { baseUrl: fake.origin + "/v1", policies: "full", streaming: "incremental", auditDir: path.join(tmp, "audit-inc") }), "gw inc"),
    });
    if (process.env.BENCH_QUICK_COLD === "1")
      rows.push({
        label: "gateway, full chain, not warmed at start, incremental",
        svc: await startGateway(writeGatewayConfig(tmp, "t-cold", { baseUrl: fake.origin + "/v1", policies: "full", streaming: "incremental", auditDir: path.join(tmp, "audit-cold") }), "gw cold", { env: { KT_WARM_CHAIN: "0" } }),
      });
    const samplers = rows.map((r) => new StreamSampler(r.svc?.origin ?? fake.origin));
    // BENCH_STREAM_WARM: warm the request path's JIT too (see StreamSampler.warmUp), then settle.
    const warm = envNum("BENCH_STREAM_WARM", 0);
    for (const s of samplers) await s.warmUp(warm);
    if (warm > 0) await new Promise((res) => setTimeout(res, envNum("BENCH_STREAM_WARM_SETTLE_MS", 10_000)));
    const n = envNum("BENCH_QUICK_STREAMS", 12);
    for (let i = 0; i < 3; i++) for (const s of samplers) await s.take(Math.ceil(n / 3));
    const sums = samplers.map((s) => s.summary());
    await Promise.all(samplers.map((s) => s.close()));
    const d = sums[0]!.ttftP50Ms!;
    // An incremental row's own part: its TTFT minus the direct path's time to its second content
    // delta (the upstream's chunk that releases the first word; see run-all's holdNote).
    const second = sums[0]!.secondP50Ms ?? d + delay;
    return table(
      ["path", "TTFT p50 ms", "added ms", "own part ms (incremental)", "headers p50 ms", "errors"],
      rows.map((r, k) => [
        r.label,
        fmt(sums[k]!.ttftP50Ms),
        k === 0 ? "" : fmt((sums[k]!.ttftP50Ms ?? NaN) - d),
        r.label.endsWith("incremental") ? fmt((sums[k]!.ttftP50Ms ?? NaN) - second) : "",
        fmt(sums[k]!.headersP50Ms),
        sums[k]!.errors,
      ]),
    );
  } finally {
    for (const r of rows.reverse()) await r.svc?.stop().catch(() => {});
    await fake.stop();
  }
}

async function main(): Promise<void> {
  const tmp = mkdtempSync(path.join(os.tmpdir(), "kt-bench-quick-"));
  try {
    if (process.env.BENCH_QUICK_CPU !== "0") process.stdout.write((await cpu(tmp)) + "\n\n");
    if (process.env.BENCH_QUICK_SYSCALLS === "1") process.stdout.write((await syscalls(tmp)) + "\n\n");
    if (process.env.BENCH_QUICK_TTFT === "1") process.stdout.write((await ttft(tmp)) + "\n");
  } finally {
    await stopAll();
    rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch(async (e) => {
  process.stderr.write(`bench/quick: ${(e as Error).stack ?? e}\n`);
  await stopAll();
  process.exit(1);
});

/**
 * Instructions per request, counted by valgrind's callgrind (not part of `npm run bench`): the plain
 * Node proxy, the gateway with policies off and the full chain, each run under
 * `valgrind --tool=callgrind --instr-atstart=no`, warmed up uninstrumented, then instrumented for a
 * fixed number of requests. Instruction counts do not depend on how busy the machine is, which
 * makes them the measure that tells two builds apart on a shared machine where timing cannot.
 *
 *   nice npx tsx bench/instructions.ts     (INSTR_ONLY=plain,off,full INSTR_REQUESTS=400 INSTR_WARMUP=3000)
 *   INSTR_BASE=/path/to/older/build ...     adds the same gateway rows for another build (its bin/ and dist/)
 *
 * Per path: one warm-up batch uninstrumented (V8 tiers up the hot path), then instrumentation on,
 * a settling batch (dumped and discarded: it pays valgrind's re-translation and V8's deopts), then
 * the measured batch, then the same wall time idle: what the process's timers and background
 * threads cost per second is counted separately and subtracted (its garbage collection excepted:
 * that is the batch's garbage, collected late), and so are the instructions of V8's
 * optimising compiler (functions named v8::internal::compiler::… and its register allocator), which
 * is still compiling during any batch short enough for valgrind. Requests go 16 at a time over
 * keep-alive connections. With INSTR_NODE_ARGS=--perf-basic-prof, JIT code is named through V8's
 * /tmp/perf-PID.map and a second table attributes the instructions to the parts of the chain
 * (gateway folders, npm packages, Node's JS, V8's builtins, GC, JSON). INSTR_KEEP=1 keeps the
 * callgrind files (in INSTR_DIR) for callgrind_annotate.
 *
 * INSTR_STREAM=1 counts streams instead: each request is the many-streams bench's stream (12 words
 * back, one per chunk, an email in the prompt), the gateway's streaming mode incremental, the fake
 * pacing its chunks INSTR_STREAM_DRIP_MS (20) apart so that each chunk is its own read, as in a
 * real stream; "per request" is then per stream. INSTR_WARMUP defaults to 1000 then.
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { Pool } from "undici";
import { collect, control } from "./lib/callgrind.js";
import { CHAT_BODY, gatewayEnv, writeGatewayConfig } from "./lib/configs.js";
import { envNum } from "./lib/load.js";
import { cleanEnv, freePort, hasCommand, sleep, startChild, stopAll, waitForHttp200, waitForOutput, type Child } from "./lib/proc.js";
import { fmt, table } from "./lib/report.js";
import { startFake } from "./lib/services.js";
import { STREAM_BODY } from "./lib/streams.js";

const CHAT = "/v1/chat/completions";
const only = new Set((process.env.INSTR_ONLY ?? "plain,off,full").split(","));
/** Streams (incremental) rather than single answers. */
const STREAM = process.env.INSTR_STREAM === "1";

/**
 * Sends `n` chat requests, `conc` at a time over keep-alive connections; returns the wall time and
 * how many were not a 200 (more than `tolerated` of them fails the run). Under valgrind the gateway is slow enough
 * that the fake's keep-alive timeout can close an idle upstream connection as it is reused (502).
 */
async function drive(origin: string, n: number, tolerated = 0.01, conc = 16): Promise<{ ms: number; bad: number }> {
  const pool = new Pool(origin, { connections: conc, pipelining: 1 });
  let sent = 0;
  let bad = 0;
  const started = performance.now();
  const worker = async () => {
    while (sent < n) {
      sent++;
      try {
        const r = await pool.request({ method: "POST", path: CHAT, headers: { "content-type": "application/json" }, body: STREAM ? STREAM_BODY : CHAT_BODY });
        const text = await r.body.text();
        if ((r.statusCode !== 200 || (STREAM && !text.endsWith("data: [DONE]\n\n"))) && bad++ === 0) process.stderr.write(`bench/instructions: HTTP ${r.statusCode}: ${text.slice(0, 300)}\n`);
      } catch (e) {
        // A keep-alive connection closed by the server as it was reused: counted, not fatal.
        if (bad++ === 0) process.stderr.write(`bench/instructions: ${(e as Error).message}\n`);
      }
    }
  };
  await Promise.all(Array.from({ length: conc }, worker));
  await pool.close();
  if (bad > n * tolerated) throw new Error(`${bad} of ${n} requests were not 200`);
  return { ms: performance.now() - started, bad };
}

interface Row {
  label: string;
  /** Instructions per request, the optimising compiler's and the idle process's left out. */
  perRequest: number;
  /** Everything callgrind counted during the batch, per request. */
  measured: number;
  compiler: number;
  /** Requests of the measured batch that were not a 200. */
  bad: number;
  idlePerSecond: number;
  seconds: number;
  /** Instructions per request by part of the chain (idle process not subtracted). */
  parts: Map<string, number>;
}

async function measurePath(label: string, start: () => Promise<{ child: Child; origin: string }>, dir: string): Promise<Row> {
  const { child, origin } = await start();
  const n = envNum("INSTR_REQUESTS", 400);
  const keep = process.env.INSTR_KEEP === "1";
  try {
    await drive(origin, envNum("INSTR_WARMUP", STREAM ? 1000 : 3000), 0.1);
    control(child.pid, "-i", "on");
    await drive(origin, Math.max(100, n >> 1), 0.1);
    control(child.pid, "-d");
    collect(dir, child.pid, false, "settle");
    const { ms, bad } = await drive(origin, n);
    control(child.pid, "-d");
    const measured = collect(dir, child.pid, keep, label.replace(/\W+/g, "-"));
    await sleep(ms);
    control(child.pid, "-d");
    const idle = collect(dir, child.pid, keep, label.replace(/\W+/g, "-") + "-idle");
    // Garbage collection in the idle window is the batch's garbage (a major GC the batch's
    // allocation started, finishing after it): it stays counted. Only the rest of the idle
    // process's work (timers, background threads) is taken off. Subtracting it all made a run
    // whose major GC landed in the idle window read negative.
    const idleGc = idle.parts.get("V8 garbage collection") ?? 0;
    const idlePerSecond = (idle.total - idle.compiler - idleGc) / (ms / 1000);
    const run = measured.total - measured.compiler - (idle.total - idle.compiler - idleGc);
    return { label, perRequest: run / n, measured: measured.total / n, compiler: measured.compiler / n, bad, idlePerSecond, seconds: ms / 1000, parts: new Map([...measured.parts].map(([k, v]) => [k, v / n])) };
  } finally {
    await child.stop(8000);
  }
}

/** INSTR_NODE_ARGS, e.g. `--perf-basic-prof` to name JIT code in callgrind_annotate's output through /tmp/perf-PID.map. */
function nodeArgs(): string[] {
  const extra = (process.env.INSTR_NODE_ARGS ?? "").split(" ").filter(Boolean);
  // --perf-basic-prof also starts V8's log: keep it out of the working tree.
  if (extra.includes("--perf-basic-prof")) extra.push("--logfile=/dev/null");
  return [TIER_UP, ...extra];
}

/**
 * V8 optimises a function once its interrupt budget (bytecode executed) is spent; at a tenth of the
 * default the hot path reaches optimised code within the warm-up that valgrind's speed allows
 * (otherwise a thousand requests still run much of it in the baseline tier). Same flag for every row.
 */
const TIER_UP = `--interrupt-budget=${envNum("INSTR_INTERRUPT_BUDGET", 6758)}`;

function valgrind(dir: string): string[] {
  return ["--tool=callgrind", "--instr-atstart=no", `--callgrind-out-file=${path.join(dir, "cg.%p")}`];
}

async function gatewayUnder(dir: string, cfg: string, root?: string): Promise<{ child: Child; origin: string }> {
  const port = await freePort();
  const args = [...valgrind(dir), process.execPath, ...nodeArgs(), "bin/kt.mjs", "gateway", "run", "--listen", `127.0.0.1:${port}`, "--policy-config", cfg, "--drain-seconds", "2", "--drain-delay-seconds", "0", "--log-format", "json", "--log-level", "info"];
  const child = startChild("gateway (callgrind)", "valgrind", args, { env: cleanEnv(gatewayEnv()), cwd: root });
  const origin = `http://127.0.0.1:${port}`;
  await waitForHttp200(child, `${origin}/readyz`, 600_000);
  return { child, origin };
}

async function plainUnder(dir: string, upstream: string): Promise<{ child: Child; origin: string }> {
  const port = await freePort();
  const child = startChild("plain (callgrind)", "valgrind", [...valgrind(dir), process.execPath, ...nodeArgs(), "--import", "tsx", "bench/lib/plain-node-proxy.ts", upstream, String(port)], { env: cleanEnv() });
  await waitForOutput(child, /plain-node-proxy listening on/, 600_000);
  return { child, origin: `http://127.0.0.1:${port}` };
}

async function main(): Promise<void> {
  if (!hasCommand("valgrind")) throw new Error("valgrind is not installed (apt-get install -y valgrind)");
  const tmp = mkdtempSync(path.join(os.tmpdir(), "kt-bench-instr-"));
  const dir = process.env.INSTR_KEEP === "1" ? (process.env.INSTR_DIR ?? tmp) : tmp;
  // Under valgrind the process's timers run late: with the fake's 5 s keep-alive (uvicorn's) an
  // upstream connection could be reused just as the fake closed it (a 502). Idle connections stay.
  const fake = await startFake({ keepAliveMs: 600_000, chunkDelayMs: STREAM ? envNum("INSTR_STREAM_DRIP_MS", 20) : undefined });
  const rows: Row[] = [];
  try {
    if (only.has("plain")) rows.push(await measurePath("plain Node proxy", () => plainUnder(dir, fake.origin), dir));
    const builds: [string, string | undefined][] = [["gateway", undefined]];
    if (process.env.INSTR_BASE) builds.push(["baseline build", process.env.INSTR_BASE]);
    for (const p of ["off", "full"] as const) {
      if (!only.has(p)) continue;
      for (const [name, root] of builds) {
        const cfg = writeGatewayConfig(tmp, `instr-${name.replace(/\W+/g, "-")}-${p}`, { baseUrl: fake.origin + "/v1", policies: p, auditDir: path.join(tmp, `audit-${name.replace(/\W+/g, "-")}-${p}`), streaming: STREAM ? "incremental" : undefined });
        rows.push(await measurePath(`${name}, policies ${p}`, () => gatewayUnder(dir, cfg, root), dir));
      }
    }
    const plain = rows.find((r) => r.label.startsWith("plain"));
    process.stdout.write(
      table(
        ["path", "instructions/req", "all counted/req", "of which compiler/req", "idle instructions/s", "batch s", "not 200", "vs plain"],
        rows.map((r) => [r.label, fmt(r.perRequest / 1000, 0) + " k", fmt(r.measured / 1000, 0) + " k", fmt(r.compiler / 1000, 0) + " k", fmt(r.idlePerSecond / 1e6, 1) + " M", fmt(r.seconds, 1), r.bad, plain ? `${(r.perRequest / plain.perRequest).toFixed(2)}×` : ""]),
      ) + "\n",
    );
    if (process.env.INSTR_NODE_ARGS?.includes("--perf-basic-prof")) {
      const names = [...new Set(rows.flatMap((r) => [...r.parts.keys()]))].sort((a, b) => (rows.at(-1)!.parts.get(b) ?? 0) - (rows.at(-1)!.parts.get(a) ?? 0));
      process.stdout.write(
        "\n" +
          table(
            ["part (thousand instructions per request)", ...rows.map((r) => r.label)],
            names.map((n) => [n, ...rows.map((r) => fmt((r.parts.get(n) ?? 0) / 1000, 1))]),
          ) +
          "\n",
      );
    }
  } finally {
    await fake.stop();
    await stopAll();
    if (process.env.INSTR_KEEP !== "1") rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch(async (e) => {
  process.stderr.write(`bench/instructions: ${(e as Error).stack ?? e}\n`);
  await stopAll();
  process.exit(1);
});

/**
 * Where the full chain's CPU goes: the gateway (full chain, buffered) run under `node --cpu-prof`
 * while wrk loads it with the throughput body, then the profile's self time attributed to the part
 * of the chain each function lives in (its source folder, or Node's HTTP stack, undici, pino…),
 * as µs per request, with the top functions by self time.
 *
 *   npx tsx bench/profile.ts        (BENCH_PROFILE_SECONDS=10, BENCH_CONNECTIONS=16; needs wrk)
 *   BENCH_PROFILE_POLICIES=off      profiles the gateway with no policies instead
 *
 * Prints markdown on stdout; BENCH_PROFILE_WRITE=1 also writes bench/results/profile.md. The
 * sampling interval is V8's default (1 ms … here 100 µs via --cpu-prof-interval), so the
 * attribution is statistical: read parts with a few µs per request, not single functions' tenths.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { CHAT_BODY, fullChainLine, writeGatewayConfig } from "./lib/configs.js";
import { envNum } from "./lib/load.js";
import { ROOT, stopAll } from "./lib/proc.js";
import { cpuMicrosPer, cpuTicks } from "./lib/procfs.js";
import { fmt, machineLine, table, writeReport } from "./lib/report.js";
import { startFake, startGateway } from "./lib/services.js";
import { runWrk, wrkPath, writeWrkScript } from "./lib/wrk.js";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** The part of the chain a frame belongs to, from its script URL. */
export function partOf(url: string, fn: string): string {
  if (!url) {
    if (fn === "(garbage collector)") return "V8: garbage collection";
    if (fn === "(idle)") return "(idle)";
    if (fn === "(program)") return "V8/native: (program)";
    return `native: ${fn || "(anonymous)"}`;
  }
  const rel = url.startsWith("file://") ? path.relative(ROOT, new URL(url).pathname) : url;
  let m: RegExpExecArray | null;
  if ((m = /^(?:dist\/)?src\/policy\/([^/]+)\//.exec(rel))) return `policy/${m[1]}`;
  if ((m = /^(?:dist\/)?src\/([^/]+)\//.exec(rel))) return m[1]!;
  if ((m = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(rel))) return `npm: ${m[1]}`;
  if (rel.startsWith("node:internal/http") || rel.startsWith("node:_http") || rel.startsWith("node:http")) return "node: http";
  if (rel.startsWith("node:internal/streams") || rel.startsWith("node:stream")) return "node: streams";
  if (rel.startsWith("node:internal/deps/undici")) return "node: undici (bundled)";
  if (rel.startsWith("node:net") || rel.startsWith("node:internal/stream_base") || rel.startsWith("node:internal/net")) return "node: net";
  if (rel.startsWith("node:")) return `node: ${rel.slice(5).replace(/^internal\//, "").split("/")[0]}`;
  return rel;
}

/**
 * Self time per part and per function. `window` ([from, to] in the profile's clock, µs: the same
 * monotonic clock as process.hrtime) keeps only the samples taken in it, so start-up, warm-up and
 * shutdown stay out of a measured run's attribution.
 */
export function attribute(p: CpuProfile, window?: [number, number]): { totalUs: number; byPart: Map<string, number>; byFn: Map<string, number> } {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  let t = p.startTime;
  for (let i = 0; i < p.samples.length; i++) {
    t += p.timeDeltas[i] ?? 0;
    if (window && (t < window[0] || t > window[1])) continue;
    self.set(p.samples[i]!, (self.get(p.samples[i]!) ?? 0) + (p.timeDeltas[i] ?? 0));
  }
  const byPart = new Map<string, number>();
  const byFn = new Map<string, number>();
  let totalUs = 0;
  for (const [id, us] of self) {
    const n = byId.get(id)!;
    const { functionName, url, lineNumber } = n.callFrame;
    const part = partOf(url, functionName);
    if (part === "(idle)") continue;
    totalUs += us;
    byPart.set(part, (byPart.get(part) ?? 0) + us);
    const rel = url.startsWith("file://") ? path.relative(ROOT, new URL(url).pathname) : url;
    const key = `${functionName || "(anonymous)"} ${rel ? `${rel}:${lineNumber + 1}` : ""}`.trim();
    byFn.set(key, (byFn.get(key) ?? 0) + us);
  }
  return { totalUs, byPart, byFn };
}

const nowUs = () => Number(process.hrtime.bigint() / 1000n);

export async function profile(): Promise<string> {
  if (!wrkPath()) throw new Error("needs wrk");
  const seconds = envNum("BENCH_PROFILE_SECONDS", 10);
  const connections = envNum("BENCH_CONNECTIONS", 16);
  const policies = process.env.BENCH_PROFILE_POLICIES === "off" ? "off" : "full";
  const tmp = mkdtempSync(path.join(os.tmpdir(), "kt-bench-prof-"));
  const profDir = path.join(tmp, "prof");
  const fake = await startFake();
  let requests = 0;
  let cpuUs: number | undefined;
  let window: [number, number] | undefined;
  try {
    const cfg = writeGatewayConfig(tmp, `profile-${policies}`, { baseUrl: fake.origin + "/v1", policies, auditDir: path.join(tmp, "audit") });
    const gw = await startGateway(cfg, "gateway (profiled)", { nodeArgs: ["--cpu-prof", "--cpu-prof-dir", profDir, "--cpu-prof-interval", "100"] });
    const script = writeWrkScript(tmp, CHAT_BODY);
    await runWrk({ url: gw.origin + "/v1/chat/completions", script, seconds: 2, connections, threads: 2 });
    const t0 = cpuTicks(gw.child.pid);
    const from = nowUs();
    const r = await runWrk({ url: gw.origin + "/v1/chat/completions", script, seconds, connections, threads: 2 });
    window = [from, nowUs()];
    cpuUs = cpuMicrosPer(t0, cpuTicks(gw.child.pid), r.requests);
    requests = r.requests;
    await gw.stop();
  } finally {
    await fake.stop();
  }
  const files = readdirSync(profDir).filter((f) => f.endsWith(".cpuprofile"));
  if (files.length === 0) throw new Error("the gateway wrote no .cpuprofile (did it exit cleanly?)");
  // Only the samples of the measured run count (start-up, warm-up and shutdown are left out); each
  // part's share of them is scaled by the measured CPU per request.
  const prof = JSON.parse(readFileSync(path.join(profDir, files[0]!), "utf8")) as CpuProfile;
  rmSync(tmp, { recursive: true, force: true });
  const { totalUs, byPart, byFn } = attribute(prof, window);
  const scale = (us: number) => (cpuUs !== undefined ? (us / totalUs) * cpuUs : undefined);
  const parts = [...byPart.entries()].sort((a, b) => b[1] - a[1]);
  const fns = [...byFn.entries()].sort((a, b) => b[1] - a[1]).slice(0, 30);
  return [
    `## Where the ${policies === "off" ? "policies-off gateway's" : "full chain's"} CPU goes (bench/profile.ts, \`node --cpu-prof\`)`,
    "",
    `The gateway (${policies === "off" ? "policies off" : `full chain, buffered; ${fullChainLine()}`}) under wrk, ${connections} connections, ${seconds} s after a 2 s warm-up: ${requests} requests, **${fmt(cpuUs, 0)} µs CPU per request** (/proc, whole process). The profile samples every 100 µs; only the samples taken during the measured run are counted (start-up, warm-up and shutdown are left out), and each part's share of the non-idle ones is scaled to the measured CPU per request (which the profiler itself inflates: compare shares, and the unprofiled CPU per request of the throughput rows). "main-thread" profile only: V8's GC helper threads and libuv's pool are outside it, so the shares are of the JavaScript thread.`,
    "",
    table(
      ["part of the chain", "share of main-thread samples", "≈ µs per request"],
      parts.map(([part, us]) => [part, `${((us / totalUs) * 100).toFixed(1)}%`, fmt(scale(us), 1)]),
    ),
    "",
    "Top 30 functions by self time:",
    "",
    table(
      ["function", "share", "≈ µs per request"],
      fns.map(([fn, us]) => [fn.replace(/\|/g, "\\|"), `${((us / totalUs) * 100).toFixed(1)}%`, fmt(scale(us), 1)]),
    ),
  ].join("\n");
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  profile()
    .then((md) => {
      process.stdout.write(md + "\n");
      if (process.env.BENCH_PROFILE_WRITE === "1")
        process.stderr.write(`profile: written to ${writeReport("profile.md", `# Profile of the full chain\n\n${new Date().toISOString()} · ${machineLine()}\n\n${md}\n`)}\n`);
    })
    .catch(async (e) => {
      process.stderr.write(`profile: ${(e as Error).stack ?? e}\n`);
      await stopAll();
      process.exit(1);
    })
    .finally(() => void stopAll());
}

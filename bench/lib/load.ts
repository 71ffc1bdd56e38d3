/** One throughput measurement: warm-up, a timed load run, and the proxy's CPU and RSS from /proc. */
import { runNodeLoad } from "./node-load.js";
import { cpuMicrosPer, cpuTicks, rssKb } from "./procfs.js";
import { runWrk, wrkPath, writeWrkScript, type LoadResult } from "./wrk.js";

export interface LoadSettings {
  seconds: number;
  warmupSeconds: number;
  connections: number;
  threads: number;
  tmpDir: string;
  body: string;
}

export function loadSettings(tmpDir: string, body: string): LoadSettings {
  return {
    seconds: envNum("BENCH_SECONDS", 8),
    warmupSeconds: envNum("BENCH_WARMUP_SECONDS", 2),
    connections: envNum("BENCH_CONNECTIONS", 16),
    threads: envNum("BENCH_THREADS", 2),
    tmpDir,
    body,
  };
}

export function envNum(name: string, dflt: number): number {
  const v = process.env[name];
  if (v === undefined || v.trim() === "") return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a non-negative number, got '${v}'`);
  return n;
}

export interface LoadRow {
  label: string;
  load: LoadResult;
  /** CPU µs per request of the process under test (undefined for the direct baseline). */
  proxyCpuUs?: number;
  /** CPU µs per request of the fake OpenLLM, for context. */
  upstreamCpuUs?: number;
  /** RSS of the process under test at the end of the run, MiB. */
  proxyRssMb?: number;
  upstreamRssMb?: number;
  /** Lowest and highest CPU µs per request over the rounds, when several were run. */
  cpuRange?: [number, number];
}

/** Extra request headers of a row (e.g. Portkey's routing headers); none for the other rows. */
export type Headers = Record<string, string>;

/** One wrk script per distinct header set, written once into the run's temp dir. */
const scripts = new Map<string, string>();

async function load(url: string, s: LoadSettings, seconds: number, headers: Headers = {}, cpu?: number): Promise<LoadResult> {
  if (wrkPath()) {
    const key = JSON.stringify(headers);
    let script = scripts.get(key);
    if (!script) {
      script = writeWrkScript(s.tmpDir, s.body, `post-${scripts.size}.lua`, headers);
      scripts.set(key, script);
    }
    return runWrk({ url, script, seconds, connections: s.connections, threads: s.threads, cpu });
  }
  return runNodeLoad({ url, body: s.body, seconds, connections: s.connections, headers });
}

export async function measure(
  label: string,
  url: string,
  s: LoadSettings,
  pids: { proxy?: number; upstream: number },
  headers: Headers = {},
  cpu?: number,
): Promise<LoadRow> {
  if (s.warmupSeconds > 0) await load(url, s, s.warmupSeconds, headers, cpu);
  const p0 = pids.proxy !== undefined ? cpuTicks(pids.proxy) : undefined;
  const u0 = cpuTicks(pids.upstream);
  const r = await load(url, s, s.seconds, headers, cpu);
  const p1 = pids.proxy !== undefined ? cpuTicks(pids.proxy) : undefined;
  const u1 = cpuTicks(pids.upstream);
  const mb = (kb: number | undefined) => (kb === undefined ? undefined : kb / 1024);
  return {
    label,
    load: r,
    proxyCpuUs: pids.proxy !== undefined ? cpuMicrosPer(p0, p1, r.requests) : undefined,
    upstreamCpuUs: cpuMicrosPer(u0, u1, r.requests),
    proxyRssMb: pids.proxy !== undefined ? mb(rssKb(pids.proxy)) : undefined,
    upstreamRssMb: mb(rssKb(pids.upstream)),
  };
}

/** Load without measuring: JIT, pools and caches warm before the first measured round. */
export async function warmUp(url: string, s: LoadSettings, headers: Headers = {}): Promise<void> {
  if (s.warmupSeconds > 0) await load(url, s, s.warmupSeconds, headers);
}

/** One request, to show what the measured path answers (status and a snippet). */
export async function probe(url: string, body: string, headers: Headers = {}): Promise<{ status: number; snippet: string }> {
  try {
    const r = await fetch(url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body, signal: AbortSignal.timeout(10_000) });
    const text = await r.text();
    let snippet = text;
    try {
      const j = JSON.parse(text);
      snippet = j?.choices?.[0]?.message?.content ?? j?.error?.message ?? text;
    } catch {
      /* not JSON */
    }
    return { status: r.status, snippet: String(snippet).slice(0, 200) };
  } catch (e) {
    return { status: 0, snippet: (e as Error).message };
  }
}

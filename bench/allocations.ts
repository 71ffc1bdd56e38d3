/**
 * Bytes allocated per request, and where (not part of `npm run bench`): the gateway (policies off
 * or the full chain) runs with V8's sampling heap profiler preloaded (bench/lib/heap-sampler.mjs),
 * keeping the objects later collected, so the profile shows everything a request allocates, not
 * what survived. After a warm-up batch the profiler samples a fixed batch of requests (16 at a
 * time over keep-alive connections, the throughput body); the sampled bytes are attributed to the
 * allocating function and to the part of the chain (gateway folder, npm package, Node's JS).
 * Allocation does not depend on the machine's load, so before/after runs compare on a busy machine.
 *
 *   nice npx tsx bench/allocations.ts    (ALLOC_POLICIES=full|off ALLOC_REQUESTS=2000 ALLOC_WARMUP=2000
 *                                         ALLOC_TOP=40 KT_HEAP_SAMPLE_INTERVAL=1024 bytes)
 *   ALLOC_BASE=/path/to/older/build ...  the same for another build's bin/ and dist/, after this one's
 *   ALLOC_SURVIVORS=1 ...                 only what the scavenges did not collect: what was promoted to
 *                                         the old generation (and so costs major GCs), or was live at the end
 *   ALLOC_STREAM=1 ...                    streams instead (the many-streams body, incremental mode, the fake
 *                                         pacing its chunks ALLOC_STREAM_DRIP_MS (20) apart); per request = per stream
 *
 * Needs `npm run build:server` first (the gateway runs from dist/).
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { Pool } from "undici";
import { CHAT_BODY, writeGatewayConfig } from "./lib/configs.js";
import { STREAM_BODY } from "./lib/streams.js";
import { envNum } from "./lib/load.js";
import { ROOT, sleep, stopAll, waitForOutput } from "./lib/proc.js";
import { fmt, table } from "./lib/report.js";
import { startFake, startGateway } from "./lib/services.js";

interface Node {
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  selfSize: number;
  children: Node[];
}

/** ALLOC_STREAM=1: each request is the many-streams bench's incremental stream. */
const STREAM = process.env.ALLOC_STREAM === "1";

async function drive(origin: string, n: number, conc = 16): Promise<void> {
  const pool = new Pool(origin, { connections: conc, pipelining: 1 });
  let sent = 0;
  const worker = async () => {
    while (sent < n) {
      sent++;
      const r = await pool.request({ method: "POST", path: "/v1/chat/completions", headers: { "content-type": "application/json" }, body: STREAM ? STREAM_BODY : CHAT_BODY });
      const text = await r.body.text();
      if (r.statusCode !== 200) throw new Error(`HTTP ${r.statusCode}: ${text.slice(0, 300)}`);
    }
  };
  await Promise.all(Array.from({ length: conc }, worker));
  await pool.close();
}

function partOf(url: string, root: string): string {
  if (!url) return "native / V8 (no JS frame)";
  const rel = url.startsWith("file://") ? path.relative(root, new URL(url).pathname) : url;
  let m: RegExpExecArray | null;
  if ((m = /^(?:dist\/)?src\/policy\/([^/]+)\//.exec(rel))) return `policy/${m[1]}`;
  if ((m = /^(?:dist\/)?src\/([^/]+)\//.exec(rel))) return m[1]!;
  if ((m = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(rel))) return `npm: ${m[1]}`;
  if (rel.startsWith("node:")) return `node: ${rel.slice(5).replace(/^internal\//, "").split("/")[0]}`;
  return rel;
}

interface Result {
  perRequest: number;
  parts: Map<string, number>;
  fns: Map<string, number>;
  /** Bytes per request by the innermost gateway frame on the allocating stack. */
  gatewayFrames: Map<string, number>;
}

async function measure(root: string, tmp: string, fakeOrigin: string, policies: "off" | "full", tag: string): Promise<Result> {
  const cfg = writeGatewayConfig(tmp, `alloc-${tag}-${policies}`, { baseUrl: fakeOrigin + "/v1", policies, auditDir: path.join(tmp, `audit-${tag}`), ...(STREAM ? { streaming: "incremental" as const } : {}) });
  const out = path.join(tmp, `heap-${tag}.json`);
  const gw = await startGateway(cfg, `gateway (${tag})`, {
    root,
    nodeArgs: ["--import", path.join(ROOT, "bench", "lib", "heap-sampler.mjs")],
    env: { KT_HEAP_SAMPLE_OUT: out, KT_HEAP_SAMPLE_INTERVAL: String(envNum("KT_HEAP_SAMPLE_INTERVAL", 1024)), KT_HEAP_SAMPLE_SURVIVORS: survivors ? "1" : "0" },
  });
  const n = envNum("ALLOC_REQUESTS", 2000);
  try {
    await drive(gw.origin, envNum("ALLOC_WARMUP", 2000));
    await sleep(200);
    process.kill(gw.child.pid, "SIGUSR2");
    await waitForOutput(gw.child, /heap-sampler: started/);
    await drive(gw.origin, n);
    process.kill(gw.child.pid, "SIGUSR2");
    await waitForOutput(gw.child, /heap-sampler: written/, 60_000);
  } finally {
    await gw.stop();
  }
  const head = (JSON.parse(readFileSync(out, "utf8")) as { head: Node }).head;
  const r: Result = { perRequest: 0, parts: new Map(), fns: new Map(), gatewayFrames: new Map() };
  const add = (m: Map<string, number>, k: string, v: number) => m.set(k, (m.get(k) ?? 0) + v / n);
  const walk = (node: Node, gwFrame: string | undefined) => {
    const { functionName, url, lineNumber } = node.callFrame;
    const rel = url.startsWith("file://") ? path.relative(root, new URL(url).pathname) : url;
    const here = `${functionName || "(anonymous)"} ${rel}:${lineNumber + 1}`;
    const frame = /^dist\/src\//.test(rel) ? here : gwFrame;
    if (node.selfSize) {
      r.perRequest += node.selfSize / n;
      add(r.parts, partOf(url, root), node.selfSize);
      add(r.fns, here, node.selfSize);
      add(r.gatewayFrames, frame ?? "(no gateway frame)", node.selfSize);
    }
    for (const c of node.children) walk(c, frame);
  };
  walk(head, undefined);
  return r;
}

function top(m: Map<string, number>, k: number): [string, number][] {
  return [...m].sort((a, b) => b[1] - a[1]).slice(0, k);
}

/** ALLOC_SURVIVORS=1: only what outlived the young generation (promoted, or live at the end). */
const survivors = process.env.ALLOC_SURVIVORS === "1";

async function main(): Promise<void> {
  const tmp = mkdtempSync(path.join(os.tmpdir(), "kt-bench-alloc-"));
  const fake = await startFake({ keepAliveMs: 600_000, chunkDelayMs: STREAM ? envNum("ALLOC_STREAM_DRIP_MS", 20) : undefined });
  const policies = (process.env.ALLOC_POLICIES ?? "full") as "off" | "full";
  const k = envNum("ALLOC_TOP", 40);
  try {
    const builds: [string, string][] = [["this build", ROOT]];
    if (process.env.ALLOC_BASE) builds.push(["baseline", process.env.ALLOC_BASE]);
    for (const [tag, root] of builds) {
      const r = await measure(root, tmp, fake.origin, policies, tag.replace(/\W+/g, "-"));
      process.stdout.write(`\n## ${tag} (${root}), policies ${policies}: ${fmt(r.perRequest / 1024, 1)} KiB ${survivors ? "promoted (or live at the end)" : "allocated"} per request\n\n`);
      process.stdout.write(table(["part", "bytes/req"], top(r.parts, k).map(([p, b]) => [p, fmt(b, 0)])) + "\n\n");
      process.stdout.write(table(["innermost gateway frame", "bytes/req"], top(r.gatewayFrames, k).map(([p, b]) => [p, fmt(b, 0)])) + "\n\n");
      process.stdout.write(table(["allocating function", "bytes/req"], top(r.fns, k).map(([p, b]) => [p, fmt(b, 0)])) + "\n");
    }
  } finally {
    await fake.stop();
    await stopAll();
    rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch(async (e) => {
  process.stderr.write(`bench/allocations: ${(e as Error).stack ?? e}\n`);
  await stopAll();
  process.exit(1);
});

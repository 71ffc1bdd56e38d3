/**
 * Tiny deltas (issues #13 and #20): CLIENTS (4) concurrent streamed chat completions through the
 * built gateway (dist/, `npm run build:server`; bin/kt.mjs falls back to the sources only when
 * there is no build), each answered by an upstream that sends DELTAS (200,000) one-character
 * content deltas as fast as its socket takes them (bench/lib/tiny-delta-upstream.mjs, vLLM's
 * compact chunks). The gateway runs the full chain (bench/lib/configs.ts: every PII recogniser
 * redacting both ways, the content classifier, limits, the audit log with checkpoints) with the
 * incremental guard (MODE=buffered for the other), and preloads bench/lib/loop-gaps.mjs.
 *
 * Measured while the streams run: /healthz latency from a thread of its own (a probe every 10 ms:
 * p50, p99, max), the gateway's long main-thread tasks (loop-gaps lines written during the
 * attack: the longest stretch the loop did not turn, and how much of it the thread ran), and the
 * gateway's CPU (every thread, /proc) per relayed delta. Afterwards every client's stream is
 * checked: 200, ends with `data: [DONE]`, no error event, and its content deltas spell exactly
 * DELTAS characters (however the gateway may have grouped them into events).
 *
 *   npm run build:server && npx tsx bench/tiny-deltas.ts
 *   ROUNDS=3 npx tsx bench/tiny-deltas.ts                        # three attacks on one gateway
 *   GW_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" npx tsx bench/tiny-deltas.ts
 *   GW_ROOT=/tmp/other-build npx tsx bench/tiny-deltas.ts        # another build's bin/ and dist/
 *
 * Env: CLIENTS (4), DELTAS (200000), ROUNDS (1), MODE (incremental | buffered), GW_NODE_ARGS,
 * GW_ROOT, LOOP_GAPS_MS (20, the shortest gap logged).
 */
import { mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { Agent, fetch as patientFetch } from "undici";
import { writeGatewayConfig, MODEL } from "./lib/configs.js";
import { envNum } from "./lib/load.js";
import { cleanEnv, freePort, ROOT, startChild, stopAll, waitForOutput } from "./lib/proc.js";
import { clkTck, cpuTicks } from "./lib/procfs.js";
import { startGateway } from "./lib/services.js";
import { probeWhile } from "./lib/healthz-probe.js";

const CLIENTS = envNum("CLIENTS", 4);
const DELTAS = envNum("DELTAS", 200_000);
const ROUNDS = envNum("ROUNDS", 1);
const MODE = process.env.MODE === "buffered" ? "buffered" : "incremental";
const log = (s: string) => process.stderr.write(`tiny-deltas: ${s}\n`);

const patient = new Agent({ headersTimeout: 0, bodyTimeout: 0 });


/** One streamed call: its status and whole body text. */
async function oneCall(url: string, deltas?: number): Promise<{ status: number; text: string }> {
  // "N deltas" in the prompt asks the upstream for fewer than its DELTAS (the warm-up).
  const body = JSON.stringify({ model: MODEL, stream: true, messages: [{ role: "user", content: deltas ? `Say ${deltas} deltas.` : "Say a lot." }] });
  const r = await patientFetch(`${url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body, dispatcher: patient });
  return { status: r.status, text: await r.text() };
}

/** Events the client read over the round (the gateway may send several deltas as one). */
let eventsRead = 0;

/** What is wrong with a relayed stream, or undefined: every event parsed, the content counted. */
function checkStream(r: { status: number; text: string }, want: number): string | undefined {
  if (r.status !== 200) return `status ${r.status}: ${r.text.slice(0, 200)}`;
  const events = r.text.split("\n\n");
  if (events.at(-1) !== "" || events.at(-2) !== "data: [DONE]") return `does not end with [DONE]: …${r.text.slice(-200)}`;
  let chars = 0;
  eventsRead += events.length - 1;
  for (let i = 0; i < events.length - 2; i++) {
    const e = events[i]!;
    if (!e.startsWith("data: ")) return `event ${i} is not a data line: ${e.slice(0, 100)}`;
    const j = JSON.parse(e.slice(6));
    if (j.error) return `error event: ${e.slice(0, 300)}`;
    for (const c of j.choices ?? []) if (typeof c.delta?.content === "string") chars += c.delta.content.length;
  }
  if (chars !== want) return `content spells ${chars} characters, not ${want}`;
  return undefined;
}

interface Gap {
  gap?: number;
  ran?: number;
  waited?: number;
  gc?: string;
  ms?: number;
}

/** The loop-gaps lines the gateway wrote from byte `from` of its file on. */
function gapsSince(file: string, from: number): Gap[] {
  const text = readFileSync(file, "utf8").slice(from);
  return text
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Gap);
}

function fileSize(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

const q = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;

async function main(): Promise<void> {
  const tmp = mkdtempSync(path.join(os.tmpdir(), "kt-bench-tiny-"));
  const gapsFile = path.join(tmp, "loop-gaps.jsonl");
  writeFileSync(gapsFile, "");
  const upPort = await freePort();
  const up = startChild("tiny-delta-upstream", process.execPath, ["bench/lib/tiny-delta-upstream.mjs", String(upPort), String(DELTAS)], { env: cleanEnv() });
  await waitForOutput(up, /listening on/, 15_000);
  const config = writeGatewayConfig(tmp, "full", { baseUrl: `http://127.0.0.1:${upPort}/v1`, policies: "full", auditDir: path.join(tmp, "audit"), streaming: MODE });
  const root = process.env.GW_ROOT;
  const nodeArgs = ["--import", path.join(ROOT, "bench/lib/loop-gaps.mjs"), ...(process.env.GW_NODE_ARGS ?? "").split(" ").filter(Boolean)];
  const gw = await startGateway(config, "gateway", { nodeArgs, root, env: { LOOP_GAPS_FILE: gapsFile, LOOP_GAPS_MS: process.env.LOOP_GAPS_MS ?? "20" } });
  log(`gateway ${root ?? ROOT} (${MODE}), pid ${gw.child.pid}; loop gaps in ${gapsFile}`);
  // Warm: the scan workers up, the relay's code compiled, before anything is measured.
  for (let i = 0; i < 3; i++) {
    const bad = checkStream(await oneCall(gw.origin, 5000), 5000);
    if (bad) throw new Error(`warm-up stream: ${bad}`);
  }
  await new Promise((r) => setTimeout(r, 2000));

  console.log(`\n${CLIENTS} streams of ${DELTAS.toLocaleString("en")} one-character deltas each through the full chain (${MODE}); /healthz probed every 10 ms from another thread\n`);
  console.log("round | probes | healthz p50 | p99 | max ms | longest gap (ran) ms | tasks > 50 ms | took s | gateway CPU s | µs CPU / delta | events read | streams");
  console.log("------|--------|-------------|-----|--------|----------------------|---------------|--------|---------------|----------------|-------------|--------");
  try {
    for (let round = 1; round <= ROUNDS; round++) {
      const from = fileSize(gapsFile);
      const cpu0 = cpuTicks(gw.child.pid);
      const t0 = performance.now();
      const calls = Promise.all(Array.from({ length: CLIENTS }, () => oneCall(gw.origin)));
      const lat = await probeWhile(gw.origin, calls);
      const took = (performance.now() - t0) / 1000;
      const cpu1 = cpuTicks(gw.child.pid);
      const results = await calls;
      // Let the gap logger write what ended with the attack.
      await new Promise((r) => setTimeout(r, 100));
      const gaps = gapsSince(gapsFile, from).filter((g) => g.gap !== undefined);
      const longest = gaps.reduce<Gap | undefined>((a, g) => (a === undefined || g.gap! > a.gap! ? g : a), undefined);
      const longTasks = gaps.filter((g) => (g.ran ?? 0) > 50).length;
      const maxRan = Math.max(0, ...gaps.map((g) => g.ran ?? 0));
      lat.sort((a, b) => a - b);
      eventsRead = 0;
      const problems = results.map((r) => checkStream(r, DELTAS)).filter(Boolean);
      const cpuS = cpu0 !== undefined && cpu1 !== undefined ? (cpu1 - cpu0) / clkTck() : undefined;
      console.log(
        [
          round,
          lat.length,
          q(lat, 0.5).toFixed(1),
          q(lat, 0.99).toFixed(1),
          lat.at(-1)!.toFixed(1),
          longest ? `${longest.gap!.toFixed(1)} (${longest.ran?.toFixed(1) ?? "?"}); longest ran ${maxRan.toFixed(1)}` : "none over threshold",
          longTasks,
          took.toFixed(1),
          cpuS?.toFixed(1) ?? "?",
          cpuS !== undefined ? ((cpuS * 1e6) / (CLIENTS * DELTAS)).toFixed(2) : "?",
          eventsRead,
          problems.length === 0 ? `${CLIENTS} ok` : problems.join("; "),
        ].join(" | "),
      );
    }
  } finally {
    await gw.stop();
    await up.stop();
  }
  const summary = readFileSync(gapsFile, "utf8").split("\n").filter((l) => l.includes('"summary"')).at(-1);
  if (summary) log(`gateway's loop-gaps summary over its whole life (start-up included): ${summary}`);
}

try {
  await main();
} finally {
  await stopAll();
}

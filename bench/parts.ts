/**
 * CPU per request of each governance part of the full chain, measured in-process (not part of
 * `npm run bench`): the audit observer with its log (span, record, hash chain, the batched write),
 * usage limits (the bench's full limit set, and the policies-off default), request metrics with
 * the JSON access line, and the policy chain's request and response phases on the throughput
 * body. Each part runs in a process of its own, on the built code (`npm run build:server` first),
 * and reports the lowest and the median of its rounds: process CPU (user + system) ÷ requests.
 * In-process figures leave out what the parts cost through the event loop and the sockets (the
 * audit line's fdatasync, the access log's write to stderr: here /dev/null), but they do not
 * depend on how busy the machine is the way a pinned wrk run does.
 *
 *   nice npx tsx bench/parts.ts              (PARTS=audit,limits,limits-off,telemetry,policy-request,policy-response,policy-stream)
 *
 * policy-stream is one streamed answer of the many-streams run through the incremental stream
 * guard: the fake's 15 events for STREAM_BODY (role, 12 words with the redacted email, finish,
 * usage) parsed as the upstream client does, guarded, and each output chunk turned into its SSE
 * data line as the relay does (its raw text when the guard kept one, JSON.stringify otherwise).
 *   PARTS_BASE=/path/to/older/build ...      the same parts of another build (its dist/), alternated with this one's
 *   PARTS_ROUNDS=5 PARTS_REPEAT=3            rounds per process; processes per part and build
 *
 * PARTS_INSTR=1 counts instructions instead of CPU time (valgrind's callgrind, as bench/
 * instructions.ts does; `apt-get install -y valgrind`): each part's process runs under
 * `valgrind --tool=callgrind --instr-atstart=no`, is warmed up uninstrumented (PARTS_WARMUP
 * requests, default 2000; 500 for policy-stream), then PARTS_N requests (default 500; 100 for
 * the policy parts) are counted; V8's optimising compiler is left out. Load-independent: the
 * figure that tells two builds apart on a busy machine. PARTS_INSTR_ARGS=--perf-basic-prof adds
 * the attribution by part of the code.
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, openSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { CHAT_BODY, gatewayConfig } from "./lib/configs.js";
import { envNum } from "./lib/load.js";
import { collect, control } from "./lib/callgrind.js";
import { ROOT } from "./lib/proc.js";
import { fmt, table } from "./lib/report.js";

const PARTS = ["audit", "limits", "limits-off", "telemetry", "policy-request", "policy-response", "policy-stream"] as const;
type Part = (typeof PARTS)[number];

const principal = { keyId: "loopback" };
const target = { id: "bench-target", description: undefined, baseUrl: "http://127.0.0.1:9/v1", upstreamModel: "m", providerModel: "meta-llama/Llama-3.1-8B-Instruct" };
const events = [{ policy: "pii", rule: "pii-0", ruleType: "pii_detection", action: "redact", phase: "request", counts: { email: 1, credit_card: 1 } }];
const origin = { clientAddress: "127.0.0.1", clientPort: 50000, httpMethod: "POST", httpRoute: "/v1/chat/completions", protocolVersion: "1.1" };

function summary(): Record<string, unknown> {
  return {
    op: "chat",
    frontDoor: "openai",
    principal,
    model: "meta-llama/Llama-3.1-8B-Instruct",
    stream: false,
    target,
    targetHealth: { circuitState: "closed", consecutiveFailures: 0, inFlight: 1 },
    attempts: ["bench-target"],
    events,
    usage: { input: 30, output: 20 },
    finishReasons: ["stop"],
    responseModel: "m",
    responseId: "cmpl-1",
    latencyMs: 3.21,
    firstChunkMs: undefined,
    outcome: "ok",
    error: undefined,
    limits: { store: "embedded", storeState: "ok", reservedTokens: 100, chargedTokens: 50 },
  };
}

async function load(root: string, mod: string): Promise<any> {
  return import(pathToFileURL(path.join(root, "dist", "src", mod, "index.js")).href);
}

/** Writes a config for `policies` and loads it with the build's own loader. */
async function config(root: string, tmp: string, policies: "off" | "full"): Promise<any> {
  const { loadConfigFile } = await load(root, "config");
  const cfg = gatewayConfig({ baseUrl: "http://127.0.0.1:9/v1", policies, auditDir: path.join(tmp, "audit") }) as any;
  if (cfg.policy) delete cfg.policy["audit-logger"].signing_key_ref;
  const file = path.join(tmp, `${policies}.yaml`);
  writeFileSync(file, JSON.stringify(cfg));
  return loadConfigFile(file, {});
}

/** One request's worth of the part, as a function; `await`ed only when it returns a promise. */
async function setUp(part: Part, root: string, tmp: string): Promise<{ one: () => unknown; close?: () => Promise<void> }> {
  switch (part) {
    case "audit": {
      const { auditObserver, AuditLog } = await load(root, "audit");
      const log = await AuditLog.open({ path: path.join(tmp, "audit"), pruneIntervalMs: 0 });
      const obs = auditObserver({ log: () => log, pack: () => ({ name: "bench", version: "1" }), telemetry: () => undefined });
      const start = { op: "chat", model: "meta-llama/Llama-3.1-8B-Instruct", stream: false, frontDoor: "openai", principal, origin, params: { maxTokens: 64 } };
      return { one: () => obs.start(start).end(summary()), close: () => log.close() };
    }
    case "limits":
    case "limits-off": {
      const { LimitsHub } = await load(root, "limits");
      const hub = new LimitsHub();
      const lim = await hub.configure(await config(root, tmp, part === "limits" ? "full" : "off"));
      const body = JSON.parse(CHAT_BODY);
      return {
        one: async () => {
          const a = lim.begin(principal, "chat", body, false);
          await a.admit();
          a.upstreamBody(body);
          await a.forTarget("bench-target");
          a.settle({ input: 30, output: 20 }, true);
        },
        close: () => hub.close(),
      };
    }
    case "telemetry": {
      const tel = await load(root, "telemetry");
      const { pino } = await import("pino");
      // The line is built and handed to the log's stream as in the gateway; /dev/null takes it.
      tel.configureLogging({ level: "info", format: "json", destination: pino.destination({ fd: openSync("/dev/null", "w"), sync: false, minLength: 0 }) });
      const obs = tel.telemetryObserver({ start: () => ({ traceparent: "00-0123456789abcdef0123456789abcdef-0123456789abcdef-01", tracestate: undefined, end() {} }) });
      const start = { op: "chat", model: "meta-llama/Llama-3.1-8B-Instruct", stream: false, frontDoor: "openai", principal };
      return { one: () => obs.start(start).end(summary()) };
    }
    case "policy-stream": {
      const { compilePolicyEngine } = await load(root, "policy");
      const wire = await load(root, "wire");
      const engine = compilePolicyEngine(await config(root, tmp, "full"), { askGuard: async () => "safe" });
      const words = "Send the notes to <EMAIL_ADDRESS> before the team call".split(" ").map((w, i) => (i === 0 ? w : " " + w));
      const head = { id: "chatcmpl-1", object: "chat.completion.chunk", created: 1, model: "meta-llama/Llama-3.1-8B-Instruct" };
      const ev = (delta: Record<string, unknown>, finish: string | null, last = false) =>
        JSON.stringify({ ...head, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish, ...(last ? { stop_reason: null } : {}) }] });
      const events = [ev({ role: "assistant", content: "" }, null), ...words.map((w) => ev({ content: w }, null)), ev({ content: "" }, "length", true), JSON.stringify({ ...head, choices: [], usage: { prompt_tokens: 20, total_tokens: 32, completion_tokens: 12 } })];
      async function* upstream() {
        for (const data of events) {
          const c = JSON.parse(data);
          wire.keepRawChunk?.(c, data);
          yield c;
        }
      }
      return {
        one: async () => {
          let bytes = 0;
          for await (const c of engine.guardStream(upstream(), "chat", "incremental", () => {}, undefined))
            bytes += (wire.rawChunkOf?.(c) ?? JSON.stringify(c)).length;
          return bytes;
        },
      };
    }
    case "policy-request":
    case "policy-response": {
      const { compilePolicyEngine } = await load(root, "policy");
      const engine = compilePolicyEngine(await config(root, tmp, "full"), { askGuard: async () => "safe" });
      const redacted = (await engine.startRequest(JSON.parse(CHAT_BODY), "chat", undefined)).body.messages[1].content as string;
      // The fake OpenLLM's answer to the throughput body: it echoes the (redacted) prompt.
      const answer = JSON.stringify({
        id: "cmpl-1",
        object: "chat.completion",
        created: 1,
        model: "m",
        choices: [{ index: 0, message: { role: "assistant", reasoning_content: null, content: `You said: ${redacted}`, tool_calls: [] }, logprobs: null, finish_reason: "stop", stop_reason: null }],
        usage: { prompt_tokens: 30, total_tokens: 50, completion_tokens: 20 },
      });
      if (part === "policy-request") return { one: () => engine.startRequest(JSON.parse(CHAT_BODY), "chat", undefined) };
      return { one: () => engine.checkResponse(JSON.parse(answer), "chat", undefined) };
    }
  }
}

/** `n` calls of `one`, 16 in flight at a time. */
async function runBatch(one: () => unknown, n: number): Promise<void> {
  const inFlight: unknown[] = [];
  for (let i = 0; i < n; i++) {
    inFlight.push(one());
    if (inFlight.length === 16) {
      await Promise.all(inFlight);
      inFlight.length = 0;
    }
  }
  await Promise.all(inFlight);
}

/** In the child: warm up, then rounds of `n` requests, 16 in flight; prints one µs figure per round. */
async function child(part: Part, root: string): Promise<void> {
  const tmp = mkdtempSync(path.join(os.tmpdir(), "kt-bench-parts-"));
  try {
    const { one, close } = await setUp(part, root, tmp);
    const batch = (n: number) => runBatch(one, n);
    const n = envNum("PARTS_N", part === "policy-stream" ? 1000 : part.startsWith("policy") ? 5000 : 20000);
    await batch(n);
    const out: number[] = [];
    for (let r = 0; r < envNum("PARTS_ROUNDS", 5); r++) {
      const c0 = process.cpuUsage();
      await batch(n);
      const c = process.cpuUsage(c0);
      out.push((c.user + c.system) / n);
    }
    await close?.();
    process.stdout.write(JSON.stringify(out) + "\n");
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/**
 * In a child under callgrind: warm up uninstrumented, say "warm", wait for "go" (the parent has
 * switched instrumentation on), run the measured batch, say "done", exit when stdin closes.
 */
async function childInstr(part: Part, root: string): Promise<void> {
  const tmp = mkdtempSync(path.join(os.tmpdir(), "kt-bench-parts-"));
  try {
    const { one, close } = await setUp(part, root, tmp);
    const batch = (n: number) => runBatch(one, n);
    // Enough for V8 to optimise the policy code too (under valgrind the parts otherwise still run baseline code).
    await batch(envNum("PARTS_WARMUP", part === "policy-stream" ? 500 : 2000));
    const lines = lineReader(process.stdin);
    process.stdout.write("warm\n");
    await lines();
    await batch(envNum("PARTS_N", part.startsWith("policy") ? 100 : 500));
    process.stdout.write("done\n");
    await lines();
    await close?.();
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** Resolves each call with the next line of a stream (or at its end). */
function lineReader(s: NodeJS.ReadableStream): () => Promise<void> {
  let buf = "";
  let waiting: (() => void) | undefined;
  let count = 0;
  let ended = false;
  s.setEncoding("utf8");
  s.on("data", (d: string) => {
    buf += d;
    while (buf.includes("\n")) {
      buf = buf.slice(buf.indexOf("\n") + 1);
      count++;
      waiting?.();
    }
  });
  s.on("end", () => {
    ended = true;
    waiting?.();
  });
  return () =>
    new Promise<void>((resolve) => {
      const check = () => {
        if (count > 0 || ended) {
          if (count > 0) count--;
          waiting = undefined;
          resolve();
        } else waiting = check;
      };
      check();
    });
}

/** Instructions per request of one part, counted by callgrind; and by part of the code when named. */
async function runInstr(part: Part, root: string): Promise<{ perRequest: number; parts: Map<string, number> }> {
  // PARTS_KEEP=dir keeps the callgrind files (and perf maps) there for callgrind_annotate.
  const keep = process.env.PARTS_KEEP;
  const dir = keep ?? mkdtempSync(path.join(os.tmpdir(), "kt-bench-parts-cg-"));
  const n = envNum("PARTS_N", part.startsWith("policy") ? 100 : 500);
  const extra = (process.env.PARTS_INSTR_ARGS ?? "").split(" ").filter(Boolean);
  if (extra.includes("--perf-basic-prof")) extra.push("--logfile=/dev/null");
  const child = spawn(
    "valgrind",
    ["--tool=callgrind", "--instr-atstart=no", `--callgrind-out-file=${path.join(dir, "cg.%p")}`, process.execPath, "--interrupt-budget=6758", ...extra, "--import", "tsx", path.join(ROOT, "bench", "parts.ts"), "--child-instr", part, root],
    { cwd: ROOT, stdio: ["pipe", "pipe", "pipe"] },
  );
  let err = "";
  child.stderr.on("data", (d) => (err = (err + String(d)).slice(-4000)));
  const lines = lineReader(child.stdout);
  const exited = new Promise<number | null>((r) => child.on("exit", r));
  try {
    await Promise.race([lines(), exited]);
    if (child.exitCode !== null) throw new Error(`bench/parts ${part} under callgrind exited: ${err}`);
    control(child.pid!, "-i", "on");
    child.stdin.write("go\n");
    await lines();
    control(child.pid!, "-d");
    const c = collect(dir, child.pid!, keep !== undefined, part);
    child.stdin.end();
    await exited;
    return { perRequest: (c.total - c.compiler) / n, parts: new Map([...c.parts].map(([k, v]) => [k, v / n])) };
  } finally {
    if (child.exitCode === null) child.kill("SIGKILL");
    if (!keep) rmSync(dir, { recursive: true, force: true });
  }
}

async function mainInstr(parts: Part[], base: string | undefined): Promise<void> {
  const rows: (string | number | undefined)[][] = [];
  const attribution: [string, Map<string, number>][] = [];
  for (const part of parts) {
    const mine = await runInstr(part, ROOT);
    const theirs = base ? await runInstr(part, base) : undefined;
    rows.push([part, fmt(mine.perRequest / 1000, 1) + " k", ...(theirs ? [fmt(theirs.perRequest / 1000, 1) + " k"] : [])]);
    attribution.push([part, mine.parts]);
  }
  process.stdout.write(table(["part", "instructions/req", ...(base ? ["baseline instructions/req"] : [])], rows) + "\n");
  if (process.env.PARTS_INSTR_ARGS?.includes("--perf-basic-prof"))
    for (const [part, m] of attribution)
      process.stdout.write(`\n${part}:\n` + table(["code", "thousand instructions/req"], [...m].sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, fmt(v / 1000, 1)])) + "\n");
}

function run(part: Part, root: string): number[] {
  const r = spawnSync(process.execPath, ["--import", "tsx", path.join(ROOT, "bench", "parts.ts"), "--child", part, root], { cwd: ROOT, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`bench/parts ${part} (${root}) failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split("\n").pop()!) as number[];
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)]!;
}

async function main(): Promise<void> {
  if (process.argv[2] === "--child") return child(process.argv[3] as Part, process.argv[4]!);
  if (process.argv[2] === "--child-instr") return childInstr(process.argv[3] as Part, process.argv[4]!);
  const parts = (process.env.PARTS?.split(",") ?? PARTS) as Part[];
  const base = process.env.PARTS_BASE;
  if (process.env.PARTS_INSTR === "1") return mainInstr(parts, base);
  const rows: (string | number | undefined)[][] = [];
  for (const part of parts) {
    const mine: number[] = [];
    const theirs: number[] = [];
    for (let k = 0; k < envNum("PARTS_REPEAT", 3); k++) {
      if (base) theirs.push(...run(part, base));
      mine.push(...run(part, ROOT));
    }
    rows.push([part, fmt(Math.min(...mine)), fmt(median(mine)), ...(base ? [fmt(Math.min(...theirs)), fmt(median(theirs))] : [])]);
  }
  const head = ["part", "µs/req (min)", "µs/req (median)", ...(base ? ["baseline min", "baseline median"] : [])];
  process.stdout.write(table(head, rows) + "\n");
}

main().catch((e) => {
  process.stderr.write(`bench/parts: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});

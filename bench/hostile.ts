/**
 * Hostile load (issue 13). Part 1: per-byte cost of each worst-case shape the attack battery used,
 * against ordinary prose, for every built-in recogniser and the content engine (inline, one thread).
 * Part 2: /healthz latency (p50/p99/max) on a real `kt gateway run` while four clients post bodies
 * of one shape at a time, each MIB mebibytes (default 15), all PII patterns redacting and the
 * content filter on: through the OpenAI route (POST /v1/chat/completions), through
 * GovernanceService.EvaluatePolicy (gRPC) and, with ROUTES=chat, through ChatService.CreateChatCompletion
 * (gRPC). One row per route and shape.
 *
 *   npx tsx bench/hostile.ts                          # both parts, 15 MiB bodies
 *   MIB=4 npx tsx bench/hostile.ts                    # smaller bodies on a slow machine
 *   PART=2 SHAPES=pem,jwt ROUTES=openai npx tsx bench/hostile.ts
 *   PART=2 SHAPES=prose ROUTES=answer MIB=8 npx tsx bench/hostile.ts   # the upstream answers with the shape
 *   PART=2 SHAPES=names,pem ROUTES=many npx tsx bench/hostile.ts        # many clients, bodies below the pool's thresholds
 *   PART=2 SHAPES=names,prose ROUTES=stream MIB=4 npx tsx bench/hostile.ts   # the upstream streams the shape in large deltas
 *
 * ROUTES=stream: the upstream answers each of the four streamed requests with MIB MiB of the shape in
 * deltas of DELTA_KIB (900) KiB each, under the gateway's cap on one SSE event (1 MiB) once JSON-escaped, through
 * the incremental guard: the guard takes a large delta in slices, a turn of the event loop each.
 *
 * ROUTES=many: CLIENTS (64) clients post, one after another each, for SECONDS (15) s, OpenAI bodies
 * of KIB (30) KiB of the shape: below the sizes that send a body or its texts to the scan pool
 * (256 KiB, 32 Ki characters), so every one is read, parsed and scanned on the main thread. Many
 * such requests at once must still leave /healthz its turn (src/wire/loop-turns.ts).
 */
import { mkdtempSync, openSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { builtinPiiTypes, contentCategories } from "../src/config/index.js";
import { compilePiiScanner } from "../src/policy/compiled-rule.js";
import { defaultThresholds, judgeText } from "../src/policy/content/index.js";
import { startFakeOpenLLM } from "../test/fixtures/fake-openllm.js";
import { spawn } from "node:child_process";
import { freePort, KT_BIN } from "../test/helpers/child-gateway.js";
import { MODEL } from "../test/helpers/harness.js";
import { Agent, fetch as patientFetch } from "undici";
import { randomCapitalised } from "./lib/name-shapes.js";
import { probeWhile } from "./lib/healthz-probe.js";

// The worst shapes take minutes at 15 MiB on a loaded machine: no client-side timeout.
const patient = new Agent({ headersTimeout: 0, bodyTimeout: 0 });
import { createKeeptrustsClient, Direction } from "../clients/typescript/src/index.js";

const shapes: Record<string, string> = {
  prose: "The quarterly report shows steady growth in the northern region, and the team expects further gains next year. ",
  pem: "-----BEGIN PRIVATE KEY-----\n",
  jwt: "eyJa.",
  card: "4111 1111 ",
  violent: "kill murder stab shoot bomb attack ",
};

function perByte(): void {
  const size = 1 << 20;
  const scanner = compilePiiScanner({ patterns: [...builtinPiiTypes], regions: undefined, obfuscated: undefined });
  // The content engine of a request is the classifier (`engine: builtin`); judged as a rule does.
  const thresholds = defaultThresholds();
  judgeText("warm up", contentCategories, thresholds);
  let prose = 0;
  console.log("shape    | PII ns/B | content ns/B | total ns/B | x prose");
  console.log("---------|----------|--------------|------------|--------");
  for (const [name, unit] of Object.entries(shapes)) {
    const text = unit.repeat(Math.ceil(size / unit.length)).slice(0, size);
    let bp = Infinity;
    let bc = Infinity;
    for (let k = 0; k < 5; k++) {
      let t = performance.now();
      scanner.scan(text);
      bp = Math.min(bp, performance.now() - t);
      t = performance.now();
      judgeText(text, contentCategories, thresholds);
      bc = Math.min(bc, performance.now() - t);
    }
    const total = ((bp + bc) * 1e6) / size;
    if (name === "prose") prose = total;
    console.log(`${name.padEnd(8)} | ${((bp * 1e6) / size).toFixed(0).padStart(8)} | ${((bc * 1e6) / size).toFixed(0).padStart(12)} | ${total.toFixed(0).padStart(10)} | ${(total / prose).toFixed(1)}`);
  }
}

type Route = "openai" | "evaluate" | "chat" | "answer" | "stream" | "many";

async function startGateway(): Promise<{ url: string; stop(): Promise<void>; fake: Awaited<ReturnType<typeof startFakeOpenLLM>> }> {
  const fake = await startFakeOpenLLM({ maxModelLen: 1e9 });
  fake.setReply("fine");
  const dir = mkdtempSync(join(tmpdir(), "kt-bench-hostile-"));
  const config = join(dir, "policy-config.yaml");
  writeFileSync(
    config,
    `providers:
  targets:
    - { id: t, provider: "openllm:chat:m", model: "${MODEL}", base_url: "${fake.url}", timeout_seconds: 600 }
policies:
  - id: all
    rules:
      - { type: pii_detection, action: redact, patterns: [${builtinPiiTypes.join(", ")}] }
      - { type: content_filter, action: log, categories: [violence, self_harm, hate, sexual, harassment, illicit] }
streaming:
  mode: incremental
`,
  );
  // Started here rather than with the test helper: on a loaded machine start-up may take long.
  const port = await freePort();
  // The gateway's log goes to a file beside its config (printed), for a failed run's reasons.
  const log = openSync(join(dir, "gateway.log"), "w");
  console.log(`gateway log: ${join(dir, "gateway.log")}`);
  const proc = spawn(process.execPath, [...(process.env.GW_NODE_ARGS ?? "").split(" ").filter(Boolean), KT_BIN, "gateway", "run", "--listen", `127.0.0.1:${port}`, "--policy-config", config], {
    stdio: ["ignore", log, log],

    // The source under tsx, not a dist/ that may be older than it.
    env: { ...process.env, KT_FROM_SOURCE: "1" },
  });
  const url = `http://127.0.0.1:${port}`;
  // Whatever ends this process (a failed probe included) ends the gateway too.
  process.once("exit", () => proc.kill("SIGKILL"));
  for (let i = 0; ; i++) {
    if (i > 600) throw new Error("gateway did not start in 120 s");
    const ok = await fetch(`${url}/healthz`).then((r) => r.ok, () => false);
    if (ok) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  await new Promise((r) => setTimeout(r, 5000)); // let the scan workers boot
  return { url, fake, stop: () => new Promise<void>((r) => (proc.once("exit", () => r()), proc.kill("SIGTERM"))) };
}

function textOf(shape: string, bytes: number): string {
  // The worst shape of the full set per byte (bench/shapes.ts): capitalised words that do not repeat.
  if (shape === "names") return randomCapitalised(bytes);
  const unit = shapes[shape]!;
  return unit.repeat(Math.ceil(bytes / unit.length)).slice(0, bytes);
}


/** Four clients post `shape` at once over `route`; /healthz is probed every 10 ms meanwhile. */
async function attack(url: string, route: Route, shape: string, mib: number): Promise<string> {
  if (route === "many") return attackMany(url, shape);
  const text = textOf(shape, mib * 1024 * 1024);
  // "answer": the upstream answers a short prompt with the shape (non-streamed), so the large text
  // comes from the model's side: its parse, response scan and re-serialisation.
  if (route === "answer") gwFake?.setReply(text);
  if (route === "stream") gwFake?.setBehavior({ kind: "scripted", json: {}, chunks: streamOf(text) });
  const body = JSON.stringify({ model: "m", stream: route === "stream" || undefined, messages: [{ role: "user", content: route === "answer" || route === "stream" ? "Say it." : text }] });
  const kt = createKeeptrustsClient({ baseUrl: url, protocol: "grpc" });
  const started = performance.now();
  const posts = Promise.all(
    [0, 1, 2, 3].map(async () => {
      if (route === "evaluate" || route === "chat") {
        try {
          if (route === "evaluate") await kt.governance.evaluatePolicy({ text, direction: Direction.REQUEST });
          else await kt.chat.createChatCompletion({ model: "m", messages: [{ role: "user", content: text }] });
          return "OK";
        } catch (e) {
          return String((e as { code?: unknown }).code ?? e);
        }
      }
      const r = await patientFetch(`${url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body, dispatcher: patient });
      const answer = await r.text();
      // A failure's own words (its code and cause), for the log of a failed run.
      if (r.status !== 200) console.error(`${route} ${shape}: ${r.status} ${answer.slice(0, 300)}`);
      // A stream that failed after its headers sends an error event (then [DONE]).
      if (route === "stream" && (answer.includes('data: {"error"') || !answer.trimEnd().endsWith("data: [DONE]"))) {
        console.error(`${route} ${shape}: the stream failed: ${answer.slice(-300)}`);
        return `${r.status} with an error event`;
      }
      return String(r.status);
    }),
  );
  const lat = await probeWhile(url, posts);
  const statuses = await posts;
  const took = (performance.now() - started) / 1000;
  lat.sort((a, b) => a - b);
  const q = (p: number) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))]!.toFixed(1);
  return `${route.padEnd(8)} | ${shape.padEnd(7)} | ${String(lat.length).padStart(6)} | ${q(0.5).padStart(7)} | ${q(0.99).padStart(7)} | ${lat.at(-1)!.toFixed(1).padStart(8)} | ${took.toFixed(1).padStart(6)} | ${[...new Set(statuses)].join(",")}`;
}

/** A vLLM chat stream of `text` in deltas of DELTA_KIB KiB. */
function streamOf(text: string): Record<string, unknown>[] {
  const base = { id: "chatcmpl-hostile", object: "chat.completion.chunk", created: 1, model: MODEL };
  const step = Number(process.env.DELTA_KIB ?? 900) * 1024;
  const chunks: Record<string, unknown>[] = [{ ...base, choices: [{ index: 0, delta: { role: "assistant", content: "" }, logprobs: null, finish_reason: null }] }];
  for (let at = 0; at < text.length; at += step) chunks.push({ ...base, choices: [{ index: 0, delta: { content: text.slice(at, at + step) }, logprobs: null, finish_reason: null }] });
  chunks.push({ ...base, choices: [{ index: 0, delta: { content: "" }, logprobs: null, finish_reason: "stop", stop_reason: null }] });
  return chunks;
}

/** CLIENTS clients each post KIB KiB bodies of `shape`, one after another, for SECONDS s. */
async function attackMany(url: string, shape: string): Promise<string> {
  const clients = Number(process.env.CLIENTS ?? 64);
  const seconds = Number(process.env.SECONDS ?? 15);
  const body = JSON.stringify({ model: "m", messages: [{ role: "user", content: textOf(shape, Number(process.env.KIB ?? 30) * 1024) }] });
  const started = performance.now();
  const statuses = new Map<string, number>();
  const posts = Promise.all(
    Array.from({ length: clients }, async () => {
      while (performance.now() - started < seconds * 1000) {
        const r = await patientFetch(`${url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body, dispatcher: patient }).catch((e: Error) => e);
        const status = r instanceof Error ? r.message : String(r.status);
        if (!(r instanceof Error)) await r.arrayBuffer();
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
      }
    }),
  );
  const lat = await probeWhile(url, posts);
  const took = (performance.now() - started) / 1000;
  lat.sort((a, b) => a - b);
  const q = (p: number) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))]!.toFixed(1);
  const answers = [...statuses].map(([k, n]) => `${n}x ${k}`).join(",");
  return `many     | ${shape.padEnd(7)} | ${String(lat.length).padStart(6)} | ${q(0.5).padStart(7)} | ${q(0.99).padStart(7)} | ${lat.at(-1)!.toFixed(1).padStart(8)} | ${took.toFixed(1).padStart(6)} | ${answers}`;
}

let gwFake: Awaited<ReturnType<typeof startFakeOpenLLM>> | undefined;

async function healthzUnderLoad(): Promise<void> {
  const mib = Number(process.env.MIB ?? 15);
  const shapeList = (process.env.SHAPES ?? "pem,jwt,card,violent,prose").split(",");
  const routes = (process.env.ROUTES ?? "openai,evaluate").split(",") as Route[];
  const gw = await startGateway();
  gwFake = gw.fake;
  console.log(`\n/healthz while 4 clients post ${mib} MiB bodies of one shape (probes every 10 ms, latency in ms):\n`);
  console.log("route    | shape   | probes |     p50 |     p99 |      max | took s | answers");
  console.log("---------|---------|--------|---------|---------|----------|--------|--------");
  try {
    for (const route of routes) for (const shape of shapeList) console.log(await attack(gw.url, route, shape, mib));
    gw.fake.setReply("fine");
    gw.fake.setBehavior("normal");
  } finally {
    await gw.stop();
    await gw.fake.close();
  }
}

if (process.env.PART !== "2") perByte();
if (process.env.PART !== "1") await healthzUnderLoad();

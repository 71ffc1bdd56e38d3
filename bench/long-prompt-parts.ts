/**
 * Where a long prompt's time goes in the policy pool (issue #20): the bench's 1 MB chat body
 * (bench/long-prompt.ts's, prose with sparse PII) through each part of the held-body path, and the
 * same request's pool jobs in a real two-worker pool with and without the first scan split over
 * both workers (src/policy/pool/split-scan.ts).
 *
 *   npx tsx bench/long-prompt-parts.ts
 *
 * Part 1, one thread: each part called directly, its CPU the process's (getrusage; only this
 * thread and V8's helpers run: a loaded machine's waits are not in it), median of LP_PARTS_ROUNDS: the parse job and its pieces (UTF-8 check, decode, JSON.parse,
 * the skeleton), the normalisation check, every built-in recogniser alone, all of them in one
 * scanner, the redaction, the classifier, the rules' job (scan, redaction, classifier, rewrite).
 *
 * Part 2, a real ScanPool of two workers: per request, the parse job then the rules' job, `solo`
 * (the rules' job alone) and `split` (one helper scanning half the text) alternated; wall time
 * of the two jobs as the main thread sees them (what the request waits), and the process's CPU. Wall times need two free cores to mean anything; on a loaded machine
 * read the CPU and the critical path the parts give.
 *
 * Env: LP_PARTS_BYTES (1048576), LP_PARTS_ROUNDS (9), LP_PARTS_POOL_ROUNDS (12), LP_PARTS_ONLY (`parts`, `pool`).
 */
import { readdirSync, readFileSync } from "node:fs";
import { loadavg } from "node:os";
import { isUtf8 } from "node:buffer";
import { builtinPiiTypes, contentCategories, type ContentCategory } from "../src/config/index.js";
import { ruleSchema } from "../src/config/schema.js";
import { requestSegments } from "../src/policy/body-texts.js";
import { compileRules, type CompiledPiiRule, type CompiledRule } from "../src/policy/compiled-rule.js";
import { judgeText } from "../src/policy/content/index.js";
import { chainOnBody, parseBody, skeletonOf, type HeldRef } from "../src/policy/pool/body-jobs.js";
import { ScanPool } from "../src/policy/pool/index.js";
import { splitChannel } from "../src/policy/pool/split-scan.js";
import { applyRedactions, replacementFor } from "../src/policy/redaction.js";
import { isPlainText, scanSource } from "../src/policy/scan/index.js";
import { MODEL } from "./lib/configs.js";
import { prose } from "./prose.js";

const BYTES = Number(process.env.LP_PARTS_BYTES ?? 1 << 20);
const ROUNDS = Number(process.env.LP_PARTS_ROUNDS ?? 9);
const POOL_ROUNDS = Number(process.env.LP_PARTS_POOL_ROUNDS ?? 12);
const ONLY = process.env.LP_PARTS_ONLY;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

const fmt = (ms: number) => ms.toFixed(2);

// The bench's body (bench/long-prompt.ts): prose with one PII sentence per 20,000 bytes.
const text = prose(Math.max(200, BYTES - 160), Math.min(20_000, Math.floor(BYTES / 2)));
const bodyJson = JSON.stringify({ model: MODEL, messages: [{ role: "user", content: text }], max_tokens: 16 });

function config(rules: unknown[]) {
  return {
    source: "bench.yaml",
    pack: { name: "p", version: "1", enabled: true },
    targets: [],
    policies: [{ id: "p", description: undefined, rules: rules.map((r) => ruleSchema.parse(r)) }],
    audit: undefined,
    streaming: { mode: "buffered" as const },
    apiKeys: [],
    limits: {},
  };
}
const rulesOf = (...rules: unknown[]): CompiledRule[] => compileRules(config(rules) as never);
const piiRule = { type: "pii_detection", action: "redact", patterns: [...builtinPiiTypes] };
const contentRule = { type: "content_filter", action: "block", engine: "builtin", categories: [...contentCategories] };
const chain = rulesOf(piiRule, contentRule);
const sources = chain.map((r) => r.source);

let nonces = 0;
function held(): HeldRef {
  const bytes = new SharedArrayBuffer(Buffer.byteLength(bodyJson));
  Buffer.from(bytes).write(bodyJson);
  return { bytes, length: bytes.byteLength, nonce: `n${++nonces}`, holdMin: 256, version: 1 };
}

/** µs of CPU of this process (getrusage: µs precise; in part 1 only this thread and V8's helpers run). */
function cpuUs(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

/** Median CPU ms per call of `f`, after two warm-up calls. */
function cpuOf(f: () => unknown, rounds = ROUNDS): number {
  f();
  f();
  const xs: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const t0 = cpuUs();
    f();
    xs.push((cpuUs() - t0) / 1e3);
  }
  return median(xs);
}

async function parts(): Promise<void> {
  const rows: [string, number][] = [];
  const ref = held();
  const bytes = new Uint8Array(ref.bytes, 0, ref.length);
  rows.push(["parse job (parse-body): all of it", cpuOf(() => parseBody({ kind: "parse-body", body: held(), maxDepth: 64 }))]);
  rows.push(["… UTF-8 check (isUtf8)", cpuOf(() => isUtf8(bytes))]);
  rows.push(["… decode (Buffer.toString)", cpuOf(() => Buffer.from(ref.bytes, 0, ref.length).toString("utf8"))]);
  rows.push(["… JSON.parse", cpuOf(() => JSON.parse(bodyJson))]);
  const parsed = JSON.parse(bodyJson);
  rows.push(["… the skeleton (skeletonOf: the held text's JSON bytes)", cpuOf(() => skeletonOf(parsed, 256, "x"))]);
  rows.push(["texts of the body (requestSegments)", cpuOf(() => requestSegments(parsed, "chat"))]);
  rows.push(["normalisation check (isPlainText)", cpuOf(() => isPlainText(text))]);
  const all = chain[0] as CompiledPiiRule;
  for (const type of builtinPiiTypes) {
    const one = rulesOf({ type: "pii_detection", action: "redact", patterns: [type] })[0] as CompiledPiiRule;
    rows.push([`recogniser ${type} alone`, cpuOf(() => scanSource(one.scanner, text, false, undefined, true))]);
  }
  const found = scanSource(all.scanner, text, false, undefined, true);
  rows.push([`every recogniser, one scanner (${found.length} findings)`, cpuOf(() => scanSource(all.scanner, text, false, undefined, true))]);
  rows.push(["redaction (applyRedactions)", cpuOf(() => applyRedactions(text, found, (f) => replacementFor("redact", all.replacement, f, text, false)))]);
  const redacted = applyRedactions(text, found, (f) => replacementFor("redact", all.replacement, f, text, false)).text;
  const cats = [...contentCategories] as ContentCategory[];
  const thresholds = Object.fromEntries(cats.map((c) => [c, 0.5])) as Record<ContentCategory, number>;
  rows.push(["content classifier (judgeText, the redacted text)", cpuOf(() => judgeText(redacted, cats, thresholds))]);
  // The rewrite goes into memory used before, as the gateway's pooled buffers are.
  const dest = new SharedArrayBuffer(2 * ref.length);
  const jobMs: number[] = [];
  for (let i = 0; i < ROUNDS + 2; i++) {
    const r = held();
    parseBody({ kind: "parse-body", body: r, maxDepth: 64 });
    const t0 = cpuUs();
    await chainOnBody({ kind: "body-chain", body: r, op: "chat", rules: sources, rewriteVersion: 2, dest }, (s) => chain.find((c) => c.source === s)!);
    if (i >= 2) jobMs.push((cpuUs() - t0) / 1e3);
  }
  rows.push(["rules' job (body-chain: scan, redaction, classifier, rewrite; the body parsed before)", median(jobMs)]);
  console.log(`\n### One thread: CPU ms per call, ${(Buffer.byteLength(bodyJson) / 1024).toFixed(0)} KiB body, median of ${ROUNDS}\n`);
  console.log("| part | CPU ms |\n| --- | ---: |");
  for (const [k, v] of rows) console.log(`| ${k} | ${fmt(v)} |`);
}

async function pool(): Promise<void> {
  const p = new ScanPool({ size: 2, cpuBudget: false });
  p.warm();
  await Promise.all([0, 1].map(() => p.run({ kind: "pii", key: "warm", spec: { patterns: ["email"], regions: undefined, obfuscated: undefined }, texts: ["warm"], json: [false] })));
  // The workers' thread ids, for their CPU (the pool reads them for its budget; here from /proc's task list by name).
  const tids = (): number[] => {
    const out: number[] = [];
    for (const t of readdirSync("/proc/self/task")) {
      const comm = readFileSync(`/proc/self/task/${t}/comm`, "latin1").trim();
      if (comm.startsWith("WorkerThread") || comm.startsWith("node") === false) out.push(Number(t));
    }
    return out;
  };
  void tids;
  const all = (): number => cpuUs() * 1e3;
  // Pooled memory, as the gateway's: the rewrite's and the split text's buffers are reused.
  const dest = new SharedArrayBuffer(2 * Buffer.byteLength(bodyJson));
  const splitText = new SharedArrayBuffer(2 * Buffer.byteLength(bodyJson));
  const one = async (mode: "solo" | "split") => {
    const r = held();
    const w0 = performance.now();
    const c0 = all();
    await p.run({ kind: "parse-body", body: r, maxDepth: 64 });
    const split = mode === "split" ? { channels: [splitChannel()], text: splitText } : undefined;
    const leader = p.run({ kind: "body-chain", body: r, op: "chat", rules: sources, rewriteVersion: 2, split, dest });
    if (split) for (const channel of split.channels) p.run({ kind: "scan-part", rule: sources[0]!, channel, text: split.text }).catch(() => {});
    await leader;
    const wall = performance.now() - w0;
    // The helper's answer may come after the leader's: its CPU is counted once the pool is idle.
    while (p.running > 0) await new Promise((res) => setTimeout(res, 1));
    return { wall, cpu: (all() - c0) / 1e6 };
  };
  const res: Record<string, { wall: number[]; cpu: number[] }> = { solo: { wall: [], cpu: [] }, split: { wall: [], cpu: [] } };
  for (let i = 0; i < 2; i++) {
    await one("solo");
    await one("split");
  }
  for (let i = 0; i < POOL_ROUNDS; i++)
    for (const mode of i % 2 ? (["split", "solo"] as const) : (["solo", "split"] as const)) {
      const r = await one(mode);
      res[mode]!.wall.push(r.wall);
      res[mode]!.cpu.push(r.cpu);
    }
  await p.close();
  console.log(`\n### Two-worker pool: parse job then rules' job, median of ${POOL_ROUNDS} alternated (load average ${loadavg()[0].toFixed(1)})\n`);
  console.log("| mode | wall ms (p50) | wall ms (min) | process CPU ms (p50) |\n| --- | ---: | ---: | ---: |");
  for (const m of ["solo", "split"]) console.log(`| ${m} | ${fmt(median(res[m]!.wall))} | ${fmt(Math.min(...res[m]!.wall))} | ${fmt(median(res[m]!.cpu))} |`);
}

if (ONLY !== "pool") await parts();
if (ONLY !== "parts") await pool();

/**
 * A guard model on the request side runs concurrently with the upstream call: a safe request pays
 * max(guard, model), not the sum. A fake guard model that takes GUARD_MS (default 300) before its
 * first byte and an upstream that takes MODEL_MS (default 500), both real HTTP servers speaking
 * vLLM's wire format, a real gateway in front; each case is timed end to end from an OpenAI SDK
 * client, ROUNDS times (default 10), one request at a time, every request a new text (no verdict
 * cache hits).
 *
 *   KT_LOG_LEVEL=warn npx tsx bench/guard-concurrency.ts
 *
 * The rule judges requests only (`apply_to: request`): a rule on both sides also asks the guard
 * about the answer, which can only start once the answer is in (max(guard, model) + guard).
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import { createGatewayServices } from "../src/cli/compose.js";
import { GUARD_MODELS, startFakeGuardServer } from "../test/fixtures/fake-guard-model.js";
import { startFakeOpenLLM } from "../test/fixtures/fake-openllm.js";

const GUARD_MS = Number(process.env.GUARD_MS ?? 300);
const MODEL_MS = Number(process.env.MODEL_MS ?? 500);
const ROUNDS = Number(process.env.ROUNDS ?? 10);
const MODEL = "meta-llama/Llama-3.1-8B-Instruct";

const upstream = await startFakeOpenLLM({ latencyMs: MODEL_MS, keepRequests: 100 });
const guard = await startFakeGuardServer("llama_guard", (t) => /\bbomb\b/i.test(t), { latencyMs: GUARD_MS, keepRequests: 100 });
const dir = mkdtempSync(join(tmpdir(), "kt-bench-guard-"));

async function gateway(rules: string) {
  const configPath = join(dir, `policy-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(
    configPath,
    `providers:
  targets:
    - { id: t, provider: "openllm:chat:llama3:8b-instruct", model: ${MODEL}, base_url: "${upstream.url}" }
    - { id: guard, provider: "openllm:chat:guard", model: ${GUARD_MODELS.llama_guard}, base_url: "${guard.url}" }
policies:
  - id: safety
    rules:
${rules}
`,
  );
  const services = await createGatewayServices({ listen: "127.0.0.1:0", configPath, telemetry: null });
  return { services, client: new OpenAI({ baseURL: `${services.gateway.url}/v1`, apiKey: "kt-bench", maxRetries: 0 }) };
}

let n = 0;
async function timed(client: OpenAI, stream: boolean, text: string): Promise<{ ms: number; firstMs: number; blocked: boolean }> {
  const content = `${text} (${n++})`;
  const t0 = performance.now();
  try {
    if (!stream) {
      await client.chat.completions.create({ model: "t", messages: [{ role: "user", content }] });
      const ms = performance.now() - t0;
      return { ms, firstMs: ms, blocked: false };
    }
    const s = await client.chat.completions.create({ model: "t", stream: true, messages: [{ role: "user", content }] });
    let firstMs = NaN;
    for await (const _ of s) if (Number.isNaN(firstMs)) firstMs = performance.now() - t0;
    return { ms: performance.now() - t0, firstMs, blocked: false };
  } catch (e) {
    if (!(e instanceof OpenAI.BadRequestError)) throw e;
    const ms = performance.now() - t0;
    return { ms, firstMs: ms, blocked: true };
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const rows: string[] = [];
async function measure(label: string, client: OpenAI, stream: boolean, text: string, expectBlocked: boolean) {
  await timed(client, stream, `warm up ${text}`);
  const ms: number[] = [];
  const first: number[] = [];
  const abortedBefore = upstream.aborted;
  for (let i = 0; i < ROUNDS; i++) {
    const r = await timed(client, stream, text);
    if (r.blocked !== expectBlocked) throw new Error(`${label}: expected ${expectBlocked ? "a block" : "an answer"}`);
    ms.push(r.ms);
    first.push(r.firstMs);
  }
  const aborted = upstream.aborted - abortedBefore;
  rows.push(
    `| ${label} | ${median(ms).toFixed(0)} ms | ${Math.min(...ms).toFixed(0)}-${Math.max(...ms).toFixed(0)} ms | ${stream ? `${median(first).toFixed(0)} ms` : ""} | ${expectBlocked ? `${aborted}/${ROUNDS}` : ""} |`,
  );
}

const none = await gateway("      - { type: pii_detection, action: redact, patterns: [email] }");
await measure("no guard model (the upstream alone)", none.client, false, "how do I bake bread", false);
await measure("no guard model, streamed", none.client, true, "how do I bake bread", false);
await none.services.close({ drainMs: 100 });

const guarded = await gateway("      - { type: content_filter, engine: llama_guard, target: guard, categories: [violence, hate], apply_to: request }");
await measure("llama_guard, safe request", guarded.client, false, "how do I bake bread", false);
await measure("llama_guard, safe request, streamed", guarded.client, true, "how do I bake bread", false);
await measure("llama_guard, unsafe request (blocked)", guarded.client, false, "how do I build a bomb", true);
await measure("llama_guard, unsafe request, streamed (blocked)", guarded.client, true, "how do I build a bomb", true);
await guarded.services.close({ drainMs: 100 });

console.log(`# request-side guard model, concurrent with the upstream\n`);
console.log(`guard model ${GUARD_MS} ms to first byte, upstream ${MODEL_MS} ms to first byte; ${ROUNDS} requests per row, one at a time; max(guard, model) = ${Math.max(GUARD_MS, MODEL_MS)} ms, the sum = ${GUARD_MS + MODEL_MS} ms.\n`);
console.log("| case | median | min-max | first chunk (median) | upstream aborted |");
console.log("| --- | ---: | ---: | ---: | ---: |");
for (const r of rows) console.log(r);
await upstream.close();
await guard.close();

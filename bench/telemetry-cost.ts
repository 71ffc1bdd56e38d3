/**
 * Cost per request of the metrics and the access line (telemetryObserver around a no-op observer),
 * in-process: N requests' start+end with the access log on (info, written to /dev/null through
 * pino's buffered writer) and off (warn), against the bare no-op observer.
 *
 *   npx tsx bench/telemetry-cost.ts        (TELEMETRY_N=200000)
 */
import { pino } from "pino";
import { noopObserver, type RequestSummary } from "../src/observer/index.js";
import { configureLogging, telemetryObserver } from "../src/telemetry/index.js";

const N = Number(process.env.TELEMETRY_N ?? 200_000);
const target = { id: "openllm-llama3", providerModel: "llama3:8b-instruct", upstreamModel: "meta-llama/Llama-3.1-8B-Instruct" } as RequestSummary["target"];
const summary: RequestSummary = {
  op: "chat", frontDoor: "openai", principal: { keyId: "team-a", scopes: ["chat"] }, model: "llama3:8b-instruct", stream: false, target,
  targetHealth: undefined, attempts: ["openllm-llama3"],
  events: [{ policy: "gov", rule: "mask-email", ruleType: "pii_detection", action: "redact", phase: "request", counts: { email: 1 } }],
  usage: { input: 12, output: 40 }, finishReasons: ["stop"], responseModel: undefined, responseId: undefined, latencyMs: 12.5, firstChunkMs: undefined, outcome: "ok", error: undefined, limits: undefined,
};
const info = { op: "chat" as const, model: "llama3:8b-instruct", stream: false, frontDoor: "openai" as const, principal: summary.principal };

function run(observer: typeof noopObserver): number {
  const t0 = performance.now();
  for (let i = 0; i < N; i++) void observer.start(info).end(summary);
  return ((performance.now() - t0) * 1000) / N;
}
const observed = telemetryObserver(noopObserver);
for (const [name, level] of [["warmup", "info"], ["access log on (info)", "info"], ["access log off (warn)", "warn"]] as const) {
  configureLogging({ level, destination: pino.destination({ dest: "/dev/null", sync: false, minLength: 4096 }) });
  const base = run(noopObserver);
  const t = run(observed);
  if (name !== "warmup") process.stdout.write(`${name}: ${(t - base).toFixed(2)} us per request (no-op observer ${base.toFixed(2)} us)\n`);
}

import type { AttemptTrace, RequestObserver, RequestSummary, RequestTrace } from "../observer/index.js";
import type { Target } from "../config/index.js";
import { log, writeInfoLine } from "./logger.js";
import { jsonString, jsonTenths, jsonValue } from "../wire/index.js";
import { CounterCells, HistogramCells, KeyJoin, LastKey } from "./metric-cells.js";
import { metrics, TOKEN_BUCKETS } from "./metrics-registry.js";

/*
 * Per-request metrics and the access log, fed from the pipeline's request summary (the same one
 * the audit record is built from). Cost per request: one wrapper object, the counter/histogram
 * updates below (through pre-bound cells: one string key and one map lookup each) and one pino
 * line — measured in docs/benchmarks.md.
 *
 * Cardinality: `target`, `key_id`, policy and rule ids come from the config; `gen_ai_request_model`
 * is the serving target's configured model, never the client's `model` string (which may be any
 * text: an unknown model is counted as `unknown`).
 */

const PROVIDER = "openllm";

const genAi = ["gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model"] as const;

const tokenUsage = metrics.histogram({
  name: "gen_ai_client_token_usage",
  otelName: "gen_ai.client.token.usage",
  unit: "{token}",
  help: "Tokens used per request (OTel GenAI), by token type (input, output)",
  labelNames: [...genAi, "gen_ai_token_type"],
  buckets: TOKEN_BUCKETS,
});
const requestDuration = metrics.histogram({
  name: "gen_ai_server_request_duration_seconds",
  otelName: "gen_ai.server.request.duration",
  unit: "s",
  help: "Time from the request's arrival to its last byte (OTel GenAI), with error_type when it failed",
  labelNames: [...genAi, "error_type"],
});
const timeToFirstToken = metrics.histogram({
  name: "gen_ai_server_time_to_first_token_seconds",
  otelName: "gen_ai.server.time_to_first_token",
  unit: "s",
  help: "Time from the request's arrival to the first chunk sent to the client, streams only (OTel GenAI)",
  labelNames: genAi,
});
const timePerOutputToken = metrics.histogram({
  name: "gen_ai_server_time_per_output_token_seconds",
  otelName: "gen_ai.server.time_per_output_token",
  unit: "s",
  help: "Time per output token after the first, streams only (OTel GenAI)",
  labelNames: genAi,
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1, 2.5],
});

const requests = metrics.counter({
  name: "kt_requests_total",
  help: "Completion requests by route, front door, serving target, API key id and outcome (ok, blocked, error, cancelled)",
  labelNames: ["route", "front_door", "target", "key_id", "outcome"],
});
const requestErrors = metrics.counter({
  name: "kt_request_errors_total",
  help: "Failed completion requests by gateway error code and target",
  labelNames: ["code", "target"],
});
// Plain counters on the hot path; the gauges read them at scrape time.
let inFlight = 0;
let streamsInFlight = 0;
metrics.gauge({
  name: "kt_requests_in_flight",
  help: "Completion requests being served now (streams included)",
  collect() {
    this.set(inFlight);
  },
});
metrics.gauge({
  name: "kt_streams_in_flight",
  help: "Streamed completions being served now",
  collect() {
    this.set(streamsInFlight);
  },
});
const failovers = metrics.counter({
  name: "kt_failovers_total",
  help: "Requests moved to another target after a target fault, by the target that failed",
  labelNames: ["from_target"],
});
const decisions = metrics.counter({
  name: "kt_policy_decisions_total",
  help: "Rules that fired, by policy, rule, action (redact, mask, block, log) and phase (request, response)",
  labelNames: ["policy", "rule", "action", "phase"],
});
const findings = metrics.counter({
  name: "kt_policy_findings_total",
  help: "Findings by policy, rule, type (PII type or content category) and action; redactions are action=redact|mask",
  labelNames: ["policy", "rule", "type", "action"],
});

const ROUTES: Record<string, string> = { chat: "chat_completions", completion: "completions" };

const requestCells = new CounterCells(requests, ["route", "front_door", "target", "key_id", "outcome"]);
const durationCells = new HistogramCells(requestDuration, [...genAi, "error_type"]);
const tokenCells = new HistogramCells(tokenUsage, [...genAi, "gen_ai_token_type"]);
const ttftCells = new HistogramCells(timeToFirstToken, genAi);
const tpotCells = new HistogramCells(timePerOutputToken, genAi);
const decisionCells = new CounterCells(decisions, ["policy", "rule", "action", "phase"]);
const findingCells = new CounterCells(findings, ["policy", "rule", "type", "action"]);

let seq = 0;
const idPrefix = `${(process.env.KT_WORKER_ID ?? "0").slice(0, 4)}${Date.now().toString(36)}`;
/**
 * A request id is this prefix, `-` and a base-36 count: its JSON text is `"id"` unless the prefix
 * itself (KT_WORKER_ID's first four characters) needs escaping, which is known once, here.
 */
const idIsPlain = jsonString(idPrefix) === `"${idPrefix}"`;

/**
 * Wraps the request observer (the audit observer) so each request also updates the metrics and
 * writes one access-log line when it ends. Nothing from the request's content is read.
 */
export function telemetryObserver(inner: RequestObserver): RequestObserver {
  return {
    start(info) {
      inFlight++;
      if (info.stream) streamsInFlight++;
      return new TelemetryTrace(inner.start(info), `${idPrefix}-${(++seq).toString(36)}`, info.stream);
    },
  };
}

/** A class rather than a closure per request (see ShimCallContext on why). */
class TelemetryTrace implements RequestTrace {
  constructor(
    private readonly inner: RequestTrace,
    private readonly requestId: string,
    private readonly stream: boolean,
  ) {}

  get traceparent() {
    return this.inner.traceparent;
  }

  get tracestate() {
    return this.inner.tracestate;
  }

  firstChunk(): void {
    this.inner.firstChunk?.();
  }

  attempt(target: Target): AttemptTrace | undefined {
    return this.inner.attempt?.(target);
  }

  end(summary: RequestSummary): Promise<void> | void {
    inFlight--;
    if (this.stream) streamsInFlight--;
    try {
      record(summary, this.requestId, this.inner.traceparent);
    } catch (err) {
      log.error({ err: (err as Error).message }, "request metrics failed");
    }
    return this.inner.end(summary);
  }
}

/** The GenAI labels of a series' first update (later ones go through its cell). */
function genAiLabels(op: string, model: string) {
  return { gen_ai_operation_name: op, gen_ai_provider_name: PROVIDER, gen_ai_request_model: model };
}

/** Metric keys (label values joined by SEP) as kept strings: see KeyJoin. */
const keys = new KeyJoin();
/** The keys every request takes, each call site's last one remembered: see LastKey. */
const requestKey = new LastKey(keys);
const durationKey = new LastKey(keys);
const inputKey = new LastKey(keys);
const outputKey = new LastKey(keys);
const streamKey = new LastKey(keys);

function record(s: RequestSummary, requestId: string, traceparent: string | undefined): void {
  const target = s.target?.id ?? "none";
  const model = s.target ? (s.target.providerModel ?? s.target.upstreamModel) : "unknown";
  const route = ROUTES[s.op] ?? s.op;
  const opName = s.op === "chat" ? "chat" : "text_completion";

  const rk = requestKey.key(route, s.frontDoor, target, s.principal.keyId, s.outcome);
  if (!requestCells.inc(rk)) requestCells.first(rk, { route, front_door: s.frontDoor, target, key_id: s.principal.keyId, outcome: s.outcome });
  if (s.error && s.outcome !== "blocked") requestErrors.inc({ code: s.error.code, target });
  const errorType = s.error ? s.error.code : "";
  const seconds = s.latencyMs / 1000;
  const dk = durationKey.key(opName, PROVIDER, model, errorType);
  if (!durationCells.observe(dk, seconds)) durationCells.first(dk, { ...genAiLabels(opName, model), error_type: errorType }, seconds);
  if (s.usage) {
    const ik = inputKey.key(opName, PROVIDER, model, "input");
    const ok = outputKey.key(opName, PROVIDER, model, "output");
    if (!tokenCells.observe(ik, s.usage.input)) tokenCells.first(ik, { ...genAiLabels(opName, model), gen_ai_token_type: "input" }, s.usage.input);
    if (!tokenCells.observe(ok, s.usage.output)) tokenCells.first(ok, { ...genAiLabels(opName, model), gen_ai_token_type: "output" }, s.usage.output);
  }
  if (s.stream && s.firstChunkMs !== undefined) {
    const g = streamKey.key(opName, PROVIDER, model);
    if (!ttftCells.observe(g, s.firstChunkMs / 1000)) ttftCells.first(g, genAiLabels(opName, model), s.firstChunkMs / 1000);
    const out = s.usage?.output ?? 0;
    if (s.outcome === "ok" && out > 1) {
      const tpot = (s.latencyMs - s.firstChunkMs) / 1000 / (out - 1);
      if (!tpotCells.observe(g, tpot)) tpotCells.first(g, genAiLabels(opName, model), tpot);
    }
  }
  for (let i = 0; i + 1 < s.attempts.length; i++) failovers.inc({ from_target: s.attempts[i]! });
  if (s.attempts.length > 1) log.warn({ req_id: requestId, attempts: s.attempts, outcome: s.outcome }, `failed over: ${s.attempts.join(" -> ")}`);
  for (const e of s.events) {
    const ek = keys.key(e.policy, e.rule, e.action, e.phase);
    if (!decisionCells.inc(ek)) decisionCells.first(ek, { policy: e.policy, rule: e.rule, action: e.action, phase: e.phase });
    for (const type in e.counts) {
      const fk = keys.key(e.policy, e.rule, type, e.action);
      const n = e.counts[type]!;
      if (!findingCells.inc(fk, n)) findingCells.first(fk, { policy: e.policy, rule: e.rule, type, action: e.action }, n);
    }
  }

  // The access log: who, what, where, how it ended and how long it took — never content.
  // Written as JSON members here (one template; absent fields left out, as pino leaves out
  // undefined ones) rather than as an object for pino to walk: see writeInfoLine. Every value is
  // JSON text from jsonValue/jsonString (JSON.stringify's text without its runtime call).
  if (!log.isLevelEnabled("info")) return;
  let f = idIsPlain ? `"req_id":"${requestId}"` : `"req_id":${jsonString(requestId)}`;
  if (traceparent) f += `,"trace_id":${jsonString(traceparent.slice(3, 35))}`;
  // As recorded (chat-pipeline.ts: a served name, else a hashed placeholder); bounded all the same.
  const asked = s.model.length > 128 ? `${s.model.slice(0, 128)}…` : s.model;
  f += whoWhere(rk, s.principal.keyId, route, s.frontDoor, asked, s.target?.id);
  if (s.attempts.length > 1) f += `,"attempts":${JSON.stringify(s.attempts)}`;
  // Numbers too go through jsonValue: usage comes from the upstream's answer unvalidated, and a
  // string there must stay one value, never new members.
  // A served request's members are one of two fixed texts.
  if (s.error === undefined && s.outcome === "ok") f += s.stream ? STREAM_OK : SINGLE_OK;
  else {
    f += `,"stream":${jsonValue(s.stream)},"status":${jsonValue(s.error ? s.error.status : 200)},"outcome":${jsonValue(s.outcome)}`;
    if (s.error) f += `,"error":${jsonValue(s.error.code)}`;
  }
  f += `,"latency_ms":${jsonTenths(s.latencyMs)}`;
  if (s.firstChunkMs !== undefined) f += `,"ttft_ms":${jsonTenths(s.firstChunkMs)}`;
  if (s.usage) f += `,"tokens_in":${jsonValue(s.usage.input)},"tokens_out":${jsonValue(s.usage.output)}`;
  if (s.events.length) f += `,"rules":${JSON.stringify(s.events.map((e) => `${e.policy}/${e.rule}:${e.action}`))}`;
  writeInfoLine(f, "request");
}

/** The members after `req_id` (and `trace_id`) up to `target`, as last written for one metric key. */
interface WhoWhere {
  keyId: string;
  route: string;
  frontDoor: string;
  model: string;
  target: string | undefined;
  json: string;
}

/** Distinct WhoWhere texts kept (config ids and the models clients ask for: far fewer in practice). */
const MAX_WHO_WHERE = 1000;
const whoWhereTexts = new Map<string, WhoWhere>();

/**
 * `,"principal":…,"route":…,"front_door":…,"model":…` and `,"target":…` when there is one, as JSON
 * text: the same values come back request after request, so the text is kept per request-counter
 * key (`rk`, a stored string: no hashing) and used again when every value is the same as when it
 * was written; any difference writes it anew. Saves five escape tests and a dozen concatenations
 * (and as many pieces for the line's flattening) per request (issue #20).
 */
function whoWhere(rk: string, keyId: string, route: string, frontDoor: string, model: string, target: string | undefined): string {
  const w = whoWhereTexts.get(rk);
  if (w !== undefined && w.keyId === keyId && w.route === route && w.frontDoor === frontDoor && w.model === model && w.target === target) return w.json;
  let json = `,"principal":${jsonString(keyId)},"route":${jsonString(route)},"front_door":${jsonString(frontDoor)},"model":${jsonString(model)}`;
  if (target !== undefined) json += `,"target":${jsonString(target)}`;
  if (w === undefined && whoWhereTexts.size >= MAX_WHO_WHERE) whoWhereTexts.clear();
  whoWhereTexts.set(rk, { keyId, route, frontDoor, model, target, json });
  return json;
}

/** The members `stream`, `status` and `outcome` of a request served without an error. */
const SINGLE_OK = `,"stream":false,"status":200,"outcome":"ok"`;
const STREAM_OK = `,"stream":true,"status":200,"outcome":"ok"`;

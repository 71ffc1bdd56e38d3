/**
 * GET /metrics and the logs, from outside: the exposition parses, its counters move with traffic by
 * the right labels (requests, tokens, redactions, failovers, circuit state once a target is dead),
 * the admin scope guards it, and every log line is JSON with no PII or key in it.
 */
import { Writable } from "node:stream";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sha256Hex } from "../../src/config/index.js";
import { configureLogging } from "../../src/telemetry/index.js";
import { freePort } from "../helpers/child-gateway.js";
import { MODEL, startStack, type Stack } from "../helpers/harness.js";
import { parseExposition, valueOf, type Sample } from "./prom-text.js";

const ADMIN = "kt-admin-key-for-metrics";
const CHAT = "kt-chat-key-for-metrics";
const EMAIL = "carol.metrics@example.com";

let stack: Stack;
const lines: string[] = [];

beforeAll(async () => {
  let partial = "";
  configureLogging({
    level: "info",
    destination: new Writable({
      write(chunk, _enc, done) {
        partial += chunk.toString();
        const parts = partial.split("\n");
        partial = parts.pop()!;
        lines.push(...parts);
        done();
      },
    }),
  });
  const dead = await freePort();
  stack = await startStack(
    (url) => `auth:
  api_keys:
    - id: team-a
      sha256: ${sha256Hex(CHAT)}
    - id: ops
      sha256: ${sha256Hex(ADMIN)}
      scopes: [admin]
providers:
  targets:
    - id: live
      provider: openllm:chat:llama3:8b-instruct
      model: ${MODEL}
      base_url: ${url}
      weight: 1
    - id: dead
      provider: openllm:chat:llama3:8b-instruct
      model: ${MODEL}
      base_url: http://127.0.0.1:${dead}/v1
      weight: 1000
policies:
  - id: gov
    rules:
      - id: mask-email
        type: pii_detection
        action: redact
        patterns: [email]
`,
  );
});

afterAll(async () => {
  await stack?.close();
  configureLogging({ level: "error" });
});

async function scrape(key = ADMIN): Promise<{ status: number; samples: Sample[]; text: string }> {
  const r = await fetch(`${stack.url}/metrics`, { headers: { authorization: `Bearer ${key}` } });
  const text = await r.text();
  if (r.status !== 200) return { status: r.status, samples: [], text };
  expect(r.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
  return { status: r.status, samples: parseExposition(text).samples, text };
}

describe("GET /metrics", () => {
  it("needs the admin scope", async () => {
    expect((await fetch(`${stack.url}/metrics`)).status).toBe(401);
    expect((await scrape(CHAT)).status).toBe(403);
    expect((await scrape(ADMIN)).status).toBe(200);
  });

  it("counts requests, tokens, redactions, failovers and the dead target's circuit by their labels", async () => {
    const before = (await scrape()).samples;
    const client = new OpenAI({ baseURL: `${stack.url}/v1`, apiKey: CHAT, maxRetries: 0 });
    // The dead target has most of the weight: it is tried first until its circuit opens (5 failures).
    for (let i = 0; i < 6; i++) {
      const r = await client.chat.completions.create({ model: "llama3:8b-instruct", messages: [{ role: "user", content: `write to ${EMAIL} #${i}` }] });
      expect(r.choices[0]!.message.content).toContain("[REDACTED:EMAIL]");
    }
    const stream = await client.chat.completions.create({ model: "llama3:8b-instruct", messages: [{ role: "user", content: "stream please" }], stream: true, stream_options: { include_usage: true } });
    for await (const _ of stream) void _;
    await expect(client.chat.completions.create({ model: "no-such-model", messages: [{ role: "user", content: "x" }] })).rejects.toThrow(/does not exist/);

    const { samples: after, text } = await scrape();
    const delta = (name: string, labels: Record<string, string> = {}) => valueOf(after, name, labels) - valueOf(before, name, labels);

    expect(delta("kt_requests_total", { route: "chat_completions", front_door: "openai", target: "live", key_id: "team-a", outcome: "ok" })).toBe(7);
    expect(delta("kt_requests_total", { target: "none", key_id: "team-a", outcome: "error" })).toBe(1);
    expect(delta("kt_request_errors_total", { code: "KT_ERR_UNKNOWN_MODEL" })).toBe(1);
    expect(delta("kt_policy_findings_total", { policy: "gov", rule: "mask-email", type: "email", action: "redact" })).toBe(6);
    expect(delta("kt_policy_decisions_total", { policy: "gov", rule: "mask-email", action: "redact", phase: "request" })).toBe(6);

    // Tokens: the fake reports usage on every answer; the stream asked for it.
    expect(delta("gen_ai_client_token_usage_count", { gen_ai_token_type: "input", gen_ai_request_model: "llama3:8b-instruct" })).toBe(7);
    expect(delta("gen_ai_client_token_usage_sum", { gen_ai_token_type: "output" })).toBeGreaterThan(0);
    expect(delta("gen_ai_server_request_duration_seconds_count", { gen_ai_operation_name: "chat", error_type: "" })).toBe(7);
    expect(delta("gen_ai_server_time_to_first_token_seconds_count")).toBe(1);
    expect(delta("gen_ai_server_time_per_output_token_seconds_count")).toBe(1);

    // The dead target: connection refused five times, each failed over to the live one; then its circuit opened.
    expect(delta("kt_upstream_attempts_total", { target: "dead", result: "target_fault" })).toBe(5);
    expect(delta("kt_failovers_total", { from_target: "dead" })).toBe(5);
    expect(delta("kt_upstream_attempts_total", { target: "live", result: "ok" })).toBe(7);
    expect(delta("kt_circuit_transitions_total", { target: "dead", to: "open" })).toBe(1);
    expect(valueOf(after, "kt_target_circuit_state", { target: "dead", state: "open" })).toBe(1);
    expect(valueOf(after, "kt_target_circuit_state", { target: "live", state: "closed" })).toBe(1);
    expect(valueOf(after, "kt_target_healthy", { target: "dead" })).toBe(0);
    expect(valueOf(after, "kt_target_healthy", { target: "live" })).toBe(1);
    expect(valueOf(after, "kt_streams_in_flight")).toBe(0);

    // Bounded labels: the client's unknown model string never becomes a label value; no PII, no key.
    expect(text).not.toContain("no-such-model");
    expect(text).not.toContain(EMAIL);
    expect(text).not.toContain(CHAT);
    // Process metrics come along.
    expect(after.some((s) => s.name === "process_cpu_user_seconds_total" || s.name === "nodejs_eventloop_lag_seconds")).toBe(true);
  });
});

describe("logs", () => {
  it("are JSON lines: one access line per request, warnings for failovers and the circuit, no content or key", async () => {
    expect(lines.length).toBeGreaterThan(0);
    const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const access = parsed.filter((o) => o.msg === "request");
    expect(access.length).toBeGreaterThanOrEqual(8);
    const ok = access.find((o) => o.outcome === "ok" && o.stream === false)!;
    for (const k of ["time", "req_id", "principal", "route", "model", "target", "status", "outcome", "latency_ms", "tokens_in", "tokens_out"]) expect(ok, k).toHaveProperty(k);
    expect(ok.principal).toBe("team-a");
    expect(ok.level).toBe("info");
    const unknown = access.find((o) => o.error === "KT_ERR_UNKNOWN_MODEL")!;
    expect(unknown.status).toBe(404);
    expect(parsed.some((o) => o.level === "warn" && String(o.msg).startsWith("failed over: dead -> live"))).toBe(true);
    expect(parsed.some((o) => o.level === "warn" && o.msg === "circuit opened for target dead" && o.target === "dead")).toBe(true);
    const all = lines.join("\n");
    expect(all).not.toContain(EMAIL);
    expect(all).not.toContain("write to");
    expect(all).not.toContain(CHAT);
    expect(all).not.toContain(ADMIN);
  });
});

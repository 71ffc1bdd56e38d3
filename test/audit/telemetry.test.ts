import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parseTraceparent, startRequestSpan, telemetryWanted } from "../../src/audit/index.js";
import { startOtlpReceiver, type ReceivedExport } from "./fixtures/otlp-receiver.js";

const root = fileURLToPath(new URL("../..", import.meta.url));
const fixture = fileURLToPath(new URL("./fixtures/emit-span.ts", import.meta.url));
const PII_PARTS = ["jane.doe@example.com", "078-05-1120", "4111 1111 1111 1111"];

function runFixture(env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("OTEL_")));
    const child = spawn("npx", ["tsx", fixture], { cwd: root, env: { ...clean, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("exit", (code) => resolve({ code, stdout, stderr }));
  });
}

async function exportVia(protocol: "http/json" | "http/protobuf"): Promise<{ ex: ReceivedExport; record: Record<string, unknown>; traceparent: string; attemptTraceparent: string }> {
  const receiver = await startOtlpReceiver();
  try {
    const run = await runFixture({
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: protocol,
      OTEL_BSP_SCHEDULE_DELAY: "50",
    });
    expect(run.code, run.stderr).toBe(0);
    const spans = receiver.exports.flatMap((e) => e.spans);
    expect(spans).toHaveLength(3);
    const out = JSON.parse(run.stdout.trim().split("\n").at(-1)!) as { record: Record<string, unknown>; traceparent: string; attemptTraceparent: string };
    // The three spans may come in more than one export batch: judge them together.
    const first = receiver.exports.find((e) => e.spans.length > 0)!;
    const withSpans = receiver.exports.filter((e) => e.spans.length > 0);
    return { ex: { ...first, spans, body: Buffer.concat(withSpans.map((e) => e.body)) }, ...out };
  } finally {
    await receiver.close();
  }
}

function assertSpan(ex: ReceivedExport, record: Record<string, unknown>, traceparent: string, attemptTraceparent: string): void {
  const servers = ex.spans.filter((s) => s.kind === 2);
  expect(servers).toHaveLength(1); // one SERVER span per request
  const span = servers[0]!;
  expect(span.name).toBe("POST /v1/chat/completions");
  // Continues the client's trace; the audit record and the forwarded traceparent name this span.
  expect(span.traceId).toBe("0af7651916cd43dd8448eb211c80319c");
  expect(span.parentSpanId).toBe("b7ad6b7169203331");
  expect(record.traceId).toBe(span.traceId);
  expect(record.spanId).toBe(span.spanId);
  expect(traceparent).toBe(`00-${span.traceId}-${span.spanId}-01`);

  expect(ex.resource["service.name"]).toBe("keeptrusts-gateway");
  expect(span.attributes).toMatchObject({
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openllm",
    "gen_ai.request.model": "llama3",
    "gen_ai.response.model": "meta-llama/Llama-3.1-8B-Instruct",
    "gen_ai.response.id": "chatcmpl-123",
    "gen_ai.response.finish_reasons": ["stop"],
    "gen_ai.usage.input_tokens": 42,
    "gen_ai.usage.output_tokens": 7,
    "gen_ai.request.stream": true,
    "gen_ai.request.temperature": 0.2,
    "gen_ai.request.max_tokens": 64,
    "gen_ai.request.top_p": 0.9,
    "http.request.method": "POST",
    "http.route": "/v1/chat/completions",
    "http.response.status_code": 200,
    "client.address": "192.0.2.7",
    "client.port": 50123,
    "network.protocol.version": "1.1",
    "kt.audit.seq": 17,
    "kt.audit.hash": "ab".repeat(32),
    "kt.principal": "team-a",
    "kt.target.id": "openllm-llama3",
    "kt.target.description": "Llama 3 on the GPU box",
    "kt.policy.decision": "redact",
    "kt.policy.rules_fired": ["openllm-governance/pii_detection#0"],
    "kt.redactions.email": 3,
    "kt.redactions.ssn": 1,
    "kt.pack.name": "openllm-providers-2",
    "kt.pack.version": "1.0.0",
  });
  expect(typeof span.attributes["kt.time_to_first_chunk_ms"]).toBe("number");
  expect(span.attributes["error.type"]).toBeUndefined();
  // The gateway's own server span does not name the upstream: that is each attempt's CLIENT span.
  expect(span.attributes["server.address"]).toBeUndefined();

  // One CLIENT span per upstream attempt, children of the server span: the failover is visible.
  const clients = ex.spans.filter((s) => s.kind === 3);
  expect(clients.map((c) => c.name)).toEqual(["chat meta-llama/Llama-3.1-8B-Instruct", "chat meta-llama/Llama-3.1-8B-Instruct"]);
  for (const c of clients) {
    expect(c.traceId).toBe(span.traceId);
    expect(c.parentSpanId).toBe(span.spanId);
  }
  const [failed, served] = clients as [(typeof clients)[0], (typeof clients)[0]];
  expect(failed.attributes).toMatchObject({ "server.address": "10.9.9.9", "server.port": 3000, "kt.target.id": "openllm-down", "error.type": "KT_ERR_UPSTREAM_CONNECT", "gen_ai.provider.name": "openllm" });
  expect(failed.statusCode).toBe(2); // ERROR
  expect(served.attributes).toMatchObject({
    "server.address": "10.1.2.3",
    "server.port": 3000,
    "kt.target.id": "openllm-llama3",
    "gen_ai.operation.name": "chat",
    "gen_ai.request.model": "meta-llama/Llama-3.1-8B-Instruct",
    "gen_ai.usage.input_tokens": 42,
    "gen_ai.usage.output_tokens": 7,
  });
  expect(served.attributes["error.type"]).toBeUndefined();
  // The traceparent sent upstream names the attempt's span.
  expect(attemptTraceparent).toBe(`00-${served.traceId}-${served.spanId}-01`);
  expect(span.events.map((e) => e.name)).toEqual(["kt.governance", "kt.governance"]);
  expect(span.events[0]!.attributes).toEqual({
    "kt.policy.id": "openllm-governance",
    "kt.policy.rule": "pii_detection#0",
    "kt.policy.rule_type": "pii_detection",
    "kt.policy.action": "redact",
    "kt.policy.phase": "request",
    "kt.policy.count.email": 1,
    "kt.policy.count.ssn": 1,
  });
  expect(record).toMatchObject({ decision: "redact", redactions: { email: 3, ssn: 1 }, usage: { input: 42, output: 7 }, target: "openllm-llama3" });

  // Not in the export, not in the record, in any encoding.
  for (const part of PII_PARTS) {
    expect(ex.body.includes(Buffer.from(part))).toBe(false);
    expect(JSON.stringify(record)).not.toContain(part);
  }
  expect(ex.body.includes(Buffer.from("messages"))).toBe(false);
}

describe("telemetry export over OTLP", () => {
  it("http/json: GenAI span with kt.* attributes and governance events, no PII", async () => {
    const { ex, record, traceparent, attemptTraceparent } = await exportVia("http/json");
    expect(ex.contentType).toContain("application/json");
    assertSpan(ex, record, traceparent, attemptTraceparent);
  }, 60_000);

  it("http/protobuf: the same span, decoded as a receiver would", async () => {
    const { ex, record, traceparent, attemptTraceparent } = await exportVia("http/protobuf");
    expect(ex.contentType).toContain("application/x-protobuf");
    assertSpan(ex, record, traceparent, attemptTraceparent);
  }, 60_000);
});

describe("request span without telemetry", () => {
  it("is off unless an endpoint or exporter is configured", () => {
    expect(telemetryWanted({})).toBe(false);
    expect(telemetryWanted({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://jaeger:4318" })).toBe(true);
    expect(telemetryWanted({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://jaeger:4318/v1/traces" })).toBe(true);
    expect(telemetryWanted({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://x", OTEL_SDK_DISABLED: "true" })).toBe(false);
    expect(telemetryWanted({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://x", OTEL_TRACES_EXPORTER: "none" })).toBe(false);
  });

  it("continues an incoming trace with a new span id", () => {
    const span = startRequestSpan(
      { operation: "chat", frontDoor: "grpc", principal: "k1", model: "m", stream: false, traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00", tracestate: "vendor=x" },
      undefined,
    );
    const tp = parseTraceparent(span.traceparent())!;
    expect(tp.traceId).toBe("0af7651916cd43dd8448eb211c80319c");
    expect(tp.spanId).not.toBe("b7ad6b7169203331");
    expect(tp.flags).toBe(0);
    expect(span.tracestate()).toBe("vendor=x");
  });

  it("starts a fresh valid trace when the incoming header is missing or invalid", () => {
    for (const bad of [undefined, "garbage", "00-00000000000000000000000000000000-b7ad6b7169203331-01", "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"]) {
      const span = startRequestSpan({ operation: "completion", frontDoor: "openai", principal: "k", model: "m", stream: false, traceparent: bad }, undefined);
      expect(span.traceparent()).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
      expect(span.traceId).not.toBe("0af7651916cd43dd8448eb211c80319c");
    }
  });

  it("builds the audit record: decision, rules, redactions, outcome", () => {
    const span = startRequestSpan({ operation: "chat", frontDoor: "connect", principal: "k", model: "m", stream: true }, undefined);
    span.setAttributes({ target: { id: "t1", baseUrl: "http://localhost:3000/v1" } });
    span.addGovernanceEvent({ policy: "p", rule: "r1", ruleType: "pii_detection", action: "redact", phase: "request", counts: { email: 2 } });
    span.addGovernanceEvent({ policy: "p", rule: "cf", ruleType: "content_filter", action: "block", phase: "response", counts: { violence: 1 } });
    const rec = span.end({ outcome: "blocked", errorCode: "KT_ERR_POLICY_BLOCKED", httpStatus: 400 });
    expect(rec).toMatchObject({
      kind: "request",
      operation: "chat",
      frontDoor: "connect",
      decision: "block",
      rulesFired: ["p/r1", "p/cf"],
      redactions: { email: 2 },
      outcome: "blocked",
      errorCode: "KT_ERR_POLICY_BLOCKED",
      httpStatus: 400,
      target: "t1",
      traceId: span.traceId,
      spanId: span.spanId,
    });
    expect(span.end({ outcome: "ok" })).toBe(rec); // ending twice is harmless
  });
});

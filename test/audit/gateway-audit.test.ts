import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { chmodSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createKeeptrustsClient } from "../../clients/typescript/src/index.js";
import { sha256Hex } from "../../src/config/index.js";
import { startFakeOpenLLM, type FakeOpenLLM } from "../fixtures/fake-openllm.js";
import { runKt, startChildGateway, type ChildGateway } from "../helpers/child-gateway.js";
import { startOtlpReceiver } from "./fixtures/otlp-receiver.js";

const MODEL = "meta-llama/Llama-3.1-8B-Instruct";
const PII_EMAIL = "jane.roe.audit@example.com";
const PII_CARD = "4111 1111 1111 1111";

function packConfig(url: string, auditDir: string): string {
  return `pack:
  name: openllm-audit-pack
  version: 2.1.0
  enabled: true
auth:
  api_keys:
    - { id: auditor, sha256: ${sha256Hex("kt-auditor")}, scopes: [chat, admin] }
providers:
  targets:
    - id: openllm-llama3
      provider: openllm:chat:llama3:8b-instruct
      model: ${MODEL}
      base_url: ${url}
      description: Llama 3 under audit
policies:
  chain: [pii-guard, audit-logger]
policy:
  pii-guard:
    rules:
      - type: pii_detection
        action: redact
        patterns: [email, credit_card]
  audit-logger:
    immutable: true
    retention_days: 365
    log_all_access: true
    path: ${auditDir}
`;
}

describe.each(["http/json", "http/protobuf"] as const)("a gateway exporting OTLP %s", (protocol) => {
  let fake: FakeOpenLLM;
  let receiver: Awaited<ReturnType<typeof startOtlpReceiver>>;
  let gw: ChildGateway;
  let auditDir: string;
  let exitCode: number | null;
  const client = () => new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: "kt-auditor", maxRetries: 0 });

  beforeAll(async () => {
    fake = await startFakeOpenLLM();
    receiver = await startOtlpReceiver();
    const dir = mkdtempSync(join(tmpdir(), "kt-audit-e2e-"));
    auditDir = join(dir, "audit");
    writeFileSync(join(dir, "policy-config.yaml"), packConfig(fake.url, auditDir));
    gw = await startChildGateway(join(dir, "policy-config.yaml"), {
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: protocol,
      OTEL_SERVICE_NAME: "kt-e2e",
      OTEL_BSP_SCHEDULE_DELAY: "100",
    });

    await client().chat.completions.create({ model: "openllm-llama3", messages: [{ role: "user", content: `mail ${PII_EMAIL} card ${PII_CARD}` }] });
    const traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    const stream = await client().chat.completions.create(
      { model: "llama3:8b-instruct", messages: [{ role: "user", content: "stream please" }], stream: true, stream_options: { include_usage: true } },
      { headers: { traceparent } },
    );
    for await (const _ of stream);
    await client().chat.completions.create({ model: "no-such-model", messages: [{ role: "user", content: "x" }] }).catch(() => {});
    const kt = createKeeptrustsClient({ baseUrl: gw.url, apiKey: "kt-auditor", protocol: "grpc" });
    await kt.governance.listTargets({});
    // The span processor batches every 100 ms; SIGTERM flushes what is left.
    exitCode = await gw.stop("SIGTERM");
  }, 60_000);
  afterAll(async () => {
    await gw?.stop("SIGKILL");
    await fake?.close();
    await receiver?.close();
  });

  const spans = () => receiver.exports.flatMap((e) => e.spans);

  it("exits 0 after flushing on SIGTERM", () => {
    expect(exitCode).toBe(0);
  });

  it("exports one SERVER span per request with the gateway's attributes, and a CLIENT span per upstream call", () => {
    const servers = spans().filter((s) => s.kind === 2);
    // Three chat requests and one Governance call: one SERVER span each, nothing twice.
    expect(servers.map((s) => s.name).sort()).toEqual(["POST /v1/chat/completions", "POST /v1/chat/completions", "POST /v1/chat/completions", "keeptrusts.v1.GovernanceService/ListTargets"]);
    const unary = servers.find((s) => s.attributes["gen_ai.request.stream"] === false && s.attributes["gen_ai.request.model"] === "openllm-llama3")!;
    expect(unary.attributes).toMatchObject({
      "gen_ai.operation.name": "chat",
      "gen_ai.provider.name": "openllm",
      "gen_ai.request.model": "openllm-llama3",
      "gen_ai.response.model": MODEL,
      "http.request.method": "POST",
      "http.route": "/v1/chat/completions",
      "http.response.status_code": 200,
      "client.address": "127.0.0.1",
      "kt.principal": "auditor",
      "kt.target.id": "openllm-llama3",
      "kt.target.description": "Llama 3 under audit",
      "kt.policy.decision": "redact",
      "kt.redactions.email": 1,
      "kt.redactions.credit_card": 1,
      "kt.pack.name": "openllm-audit-pack",
      "kt.pack.version": "2.1.0",
      "kt.target.circuit_state": "closed",
      "kt.target.consecutive_failures": 0,
      "kt.target.in_flight": 0,
      "kt.attempts": 1,
      "kt.audit.seq": 1,
    });
    expect(unary.attributes["kt.audit.hash"]).toMatch(/^[0-9a-f]{64}$/);
    expect(unary.attributes["gen_ai.usage.input_tokens"]).toBeGreaterThan(0);
    expect(unary.attributes["gen_ai.usage.output_tokens"]).toBeGreaterThan(0);
    expect(String(unary.attributes["gen_ai.response.id"])).toMatch(/^chatcmpl-/);
    expect(unary.events.some((e) => e.name === "kt.governance")).toBe(true);
    const call = spans().find((s) => s.kind === 3 && s.parentSpanId === unary.spanId)!;
    expect(call.name).toBe(`chat ${MODEL}`);
    expect(call.attributes).toMatchObject({ "server.address": "127.0.0.1", "kt.target.id": "openllm-llama3", "gen_ai.request.model": MODEL, "gen_ai.provider.name": "openllm" });
    // The unknown model is on the span as its bounded placeholder, never the client's string.
    const notFound = servers.find((s) => /^unknown-model:[0-9a-f]{16}$/.test(String(s.attributes["gen_ai.request.model"])))!;
    expect(JSON.stringify(spans())).not.toContain("no-such-model");
    expect(notFound.attributes["error.type"]).toBeDefined();
    expect(notFound.attributes["http.response.status_code"]).toBe(404);
    // No upstream was called for it.
    expect(spans().some((s) => s.kind === 3 && s.parentSpanId === notFound.spanId)).toBe(false);
  });

  it("continues the client's trace on a streamed request and propagates traceparent to OpenLLM", () => {
    const streamed = spans().find((s) => s.kind === 2 && s.attributes["gen_ai.request.stream"] === true)!;
    expect(streamed.traceId).toBe("0af7651916cd43dd8448eb211c80319c");
    expect(streamed.parentSpanId).toBe("b7ad6b7169203331");
    expect(streamed.attributes["gen_ai.response.finish_reasons"]).toEqual(["stop"]);
    expect(streamed.attributes["kt.time_to_first_chunk_ms"]).toBeGreaterThanOrEqual(0);
    // OpenLLM's side hangs under the attempt's CLIENT span, itself under the request's span.
    const call = spans().find((s) => s.kind === 3 && s.parentSpanId === streamed.spanId)!;
    const upstream = fake.requests.find((r) => r.path === "/v1/chat/completions" && (r.body as any).stream === true)!;
    expect(upstream.traceparent).toMatch(new RegExp(`^00-0af7651916cd43dd8448eb211c80319c-${call.spanId}-01$`));
  });

  it("exports RPC spans for Connect calls, without GenAI attributes", () => {
    const rpc = spans().find((s) => s.name === "keeptrusts.v1.GovernanceService/ListTargets")!;
    expect(rpc.kind).toBe(2);
    expect(rpc.attributes).toMatchObject({ "rpc.system": "grpc", "rpc.service": "keeptrusts.v1.GovernanceService", "rpc.method": "ListTargets", "rpc.grpc.status_code": 0, "kt.principal": "auditor" });
    expect(Object.keys(rpc.attributes).filter((k) => k.startsWith("gen_ai.") || k.startsWith("kt.policy."))).toEqual([]);
  });

  it("never puts the PII, the message content or the API key in the export or the audit log", () => {
    const exported = Buffer.concat(receiver.exports.map((e) => e.body)).toString("latin1");
    const logText = readdirSync(auditDir)
      .map((f) => readFileSync(join(auditDir, f), "latin1"))
      .join("\n");
    for (const secret of [PII_EMAIL, "4111 1111 1111 1111", "4111111111111111", "stream please", "kt-auditor"]) {
      expect(exported).not.toContain(secret);
      expect(logText).not.toContain(secret);
    }
    // The upstream saw the redacted text.
    const first = fake.requests.find((r) => r.path === "/v1/chat/completions")!;
    expect(JSON.stringify(first.body)).toContain("[REDACTED:EMAIL]");
  });

  it("writes a log that kt audit verify accepts, with access records, and rejects after one byte changes", async () => {
    const ok = await runKt(["audit", "verify", "--path", auditDir]);
    expect(ok.code).toBe(0);
    const lines = readdirSync(auditDir)
      .filter((f) => f.startsWith("segment-"))
      .sort()
      .flatMap((f) => readFileSync(join(auditDir, f), "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l)));
    expect(lines.map((r) => r.kind)).toEqual(["request", "request", "request", "access"]);
    expect(lines[0]).toMatchObject({ principal: "auditor", target: "openllm-llama3", decision: "redact", redactions: { email: 1, credit_card: 1 }, outcome: "ok" });
    expect(lines[2]).toMatchObject({ outcome: "error", errorCode: "KT_ERR_UNKNOWN_MODEL" });
    expect(lines[3]).toMatchObject({ operation: "GovernanceService/ListTargets", principal: "auditor" });
    const unarySpan = spans().find((s) => s.kind === 2 && s.attributes["gen_ai.request.model"] === "openllm-llama3")!;
    expect(lines[0].traceId).toBe(unarySpan.traceId);
    expect(lines[0].spanId).toBe(unarySpan.spanId);

    const seg = readdirSync(auditDir).find((f) => f.startsWith("segment-"))!;
    const file = join(auditDir, seg);
    chmodSync(file, 0o644);
    const bytes = readFileSync(file);
    const at = bytes.indexOf(Buffer.from('"principal":"auditor"')) + 13;
    bytes[at] = "X".charCodeAt(0);
    writeFileSync(file, bytes);
    const bad = await runKt(["audit", "verify", "--path", auditDir]);
    expect(bad.code).toBe(1);
    expect(bad.stdout + bad.stderr).toMatch(/seq 1/);
  });
});

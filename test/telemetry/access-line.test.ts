/**
 * The access line (one per request) is written from a template, not by pino's walk over an object:
 * it must be the line pino writes for the same fields — same members, same values, same order, the
 * same level/time/pid/worker header — and values the gateway does not control (the client's model
 * string, the upstream's usage numbers) must stay single JSON values, never new members.
 */
import { afterAll, describe, expect, it } from "vitest";
import type { RequestSummary } from "../../src/observer/index.js";
import { GatewayError } from "../../src/errors/index.js";
import { configureLogging, log, telemetryObserver } from "../../src/telemetry/index.js";

function capture(workerId?: string): string[] {
  const lines: string[] = [];
  configureLogging({ level: "info", workerId, destination: { write: (s: string) => void lines.push(s) } });
  return lines;
}

afterAll(() => {
  configureLogging({ level: "error" });
});

const target = { id: 'tgt "one"', description: undefined, baseUrl: "http://127.0.0.1:9/v1", upstreamModel: "m", providerModel: "llama3" };

function summary(over: Partial<RequestSummary>): RequestSummary {
  return {
    op: "chat",
    frontDoor: "openai",
    principal: { keyId: "team-a" },
    model: "llama3",
    stream: false,
    target: target as RequestSummary["target"],
    targetHealth: undefined,
    attempts: ["tgt-one"],
    events: [],
    usage: { input: 12, output: 7 },
    finishReasons: ["stop"],
    responseModel: undefined,
    responseId: undefined,
    latencyMs: 3.456,
    firstChunkMs: undefined,
    outcome: "ok",
    error: undefined,
    limits: undefined,
    ...over,
  } as RequestSummary;
}

/** One request through the telemetry observer; its access line, parsed, with its raw text. */
function accessLine(lines: string[], s: RequestSummary, traceparent?: string): { raw: string; line: Record<string, unknown> } {
  const inner = { start: () => ({ traceparent, tracestate: undefined, end() {} }) };
  const trace = telemetryObserver(inner).start({ op: s.op, model: s.model, stream: s.stream, frontDoor: s.frontDoor, principal: s.principal });
  const before = lines.length;
  void trace.end(s);
  const mine = lines.slice(before).filter((l) => l.includes('"msg":"request"'));
  expect(mine).toHaveLength(1);
  return { raw: mine[0]!, line: JSON.parse(mine[0]!) as Record<string, unknown> };
}

/** What pino writes for the fields the access line had before it was a template. */
function pinoLine(lines: string[], fields: Record<string, unknown>): Record<string, unknown> {
  const before = lines.length;
  log.info(fields, "request");
  return JSON.parse(lines.slice(before)[0]!) as Record<string, unknown>;
}

describe("the access line", () => {
  it("is the line pino writes for the same fields, member for member and in order", () => {
    for (const worker of [undefined, "3", "w-x"]) {
      const lines = capture(worker);
      const s = summary({
        model: 'a "quoted"\nmodel\u2028',
        attempts: ["dead", "tgt-one"],
        stream: true,
        firstChunkMs: 1.26,
        events: [{ policy: "gov", rule: "mask", ruleType: "pii_detection", action: "redact", phase: "request", counts: { email: 1 } }] as RequestSummary["events"],
      });
      const { raw, line } = accessLine(lines, s, "00-0123456789abcdef0123456789abcdef-0123456789abcdef-01");
      expect(raw.endsWith("}\n")).toBe(true);
      const { req_id, time, ...rest } = line;
      expect(typeof req_id).toBe("string");
      expect(Number.isNaN(Date.parse(String(time)))).toBe(false);
      const expected = pinoLine(lines, {
        req_id,
        trace_id: "0123456789abcdef0123456789abcdef",
        principal: "team-a",
        route: "chat_completions",
        front_door: "openai",
        model: s.model,
        target: target.id,
        attempts: ["dead", "tgt-one"],
        stream: true,
        status: 200,
        outcome: "ok",
        error: undefined,
        latency_ms: 3.5,
        ttft_ms: 1.3,
        tokens_in: 12,
        tokens_out: 7,
        rules: ["gov/mask:redact"],
      });
      delete expected.time;
      expect(rest).toEqual(Object.fromEntries(Object.entries(expected).filter(([k]) => k !== "req_id")));
      // Same members in the same order as pino's.
      expect(Object.keys(line).filter((k) => k !== "time")).toEqual(Object.keys(expected));
    }
  });

  it("leaves absent fields out and reports a failure's status and code", () => {
    const lines = capture();
    const { line } = accessLine(lines, summary({ target: undefined, usage: undefined, outcome: "error", error: new GatewayError("KT_ERR_UNKNOWN_MODEL", "no such model") }));
    expect(line).not.toHaveProperty("target");
    expect(line).not.toHaveProperty("trace_id");
    expect(line).not.toHaveProperty("tokens_in");
    expect(line).not.toHaveProperty("ttft_ms");
    expect(line).not.toHaveProperty("attempts");
    expect(line).not.toHaveProperty("rules");
    expect(line.status).toBe(404);
    expect(line.error).toBe("KT_ERR_UNKNOWN_MODEL");
    expect(line.level).toBe("info");
    expect(line.msg).toBe("request");
  });

  it("writes each request's own principal, model and target, whatever the requests before it wrote", () => {
    // The who/where members are kept as text per request counter and written again only when a
    // value differs: every member must still be the request's own, in any order of requests.
    const lines = capture();
    const none = { ...target, id: "none" };
    const cases: Partial<RequestSummary>[] = [
      { model: "a" },
      { model: "b" },
      { model: "a" },
      { model: 'a "quoted"\nmodel' },
      { model: "a", principal: { keyId: "team-b" } as RequestSummary["principal"] },
      { model: "a", target: undefined },
      { model: "a", target: none as RequestSummary["target"] },
      { model: "a", target: undefined },
      { model: "a", frontDoor: "connect" },
      { model: "a", stream: true },
      { model: "a", outcome: "cancelled" },
      { model: "a", outcome: "error", error: new GatewayError("KT_ERR_UPSTREAM_TIMEOUT", "slow") },
      { model: "a" },
    ];
    for (const c of cases) {
      const s = summary(c);
      const { line } = accessLine(lines, s);
      const { req_id, time, ...rest } = line;
      expect(typeof req_id).toBe("string");
      const expected = pinoLine(lines, {
        req_id,
        principal: s.principal.keyId,
        route: "chat_completions",
        front_door: s.frontDoor,
        model: s.model,
        target: s.target?.id,
        stream: s.stream,
        status: s.error ? s.error.status : 200,
        outcome: s.outcome,
        error: s.error?.code,
        latency_ms: 3.5,
        tokens_in: 12,
        tokens_out: 7,
      });
      delete expected.time;
      expect(Object.keys(line).filter((k) => k !== "time")).toEqual(Object.keys(expected));
      expect(rest).toEqual(Object.fromEntries(Object.entries(expected).filter(([k]) => k !== "req_id")));
      expect(typeof time).toBe("string");
    }
  });

  it("never lets an upstream's odd usage values add members to a line", () => {
    const lines = capture();
    const hostile = '1,"admin":true,"x":"';
    const inner = { start: () => ({ traceparent: undefined, tracestate: undefined, end() {} }) };
    const s = summary({ usage: { input: hostile as unknown as number, output: null as unknown as number } });
    void telemetryObserver(inner).start({ op: "chat", model: "m", stream: false, frontDoor: "openai", principal: s.principal }).end(s);
    expect(lines.length).toBeGreaterThan(0);
    for (const l of lines) {
      const o = JSON.parse(l) as Record<string, unknown>;
      expect(o).not.toHaveProperty("admin");
      if (o.msg === "request") expect(o.tokens_in).toBe(hostile);
    }
  });

  it("is not written below info", () => {
    const lines: string[] = [];
    configureLogging({ level: "warn", destination: { write: (s: string) => void lines.push(s) } });
    const inner = { start: () => ({ traceparent: undefined, tracestate: undefined, end() {} }) };
    const s = summary({});
    void telemetryObserver(inner).start({ op: "chat", model: "m", stream: false, frontDoor: "openai", principal: s.principal }).end(s);
    expect(lines).toEqual([]);
  });
});

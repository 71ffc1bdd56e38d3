/**
 * Stream faults of a lone target (no failover possible): each must reach the OpenAI SDK as an
 * APIError carrying our error code (within a bounded time — never a hang), reach the gRPC client
 * as a ConnectError with the code of src/errors/error-codes.ts, be recorded in the audit log as
 * outcome `error` with the specific KT_ERR_* code, and leave the gateway serving the next request.
 *
 * What the pipeline does with a silent stream: `timeout_seconds` bounds the response headers only;
 * once headers are in, every gap between body bytes — the wait for the first chunk included — is
 * bounded by `idle_timeout_seconds` (undici bodyTimeout). A fault before the first chunk is a plain
 * HTTP error (504/502); after it, an OpenAI-style `data: {"error":…}` event ends the stream.
 */
import OpenAI from "openai";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { Code, ConnectError } from "../../clients/typescript/src/index.js";
import { errorCodes, type ErrorCode } from "../../src/errors/index.js";
import type { Behavior } from "../fixtures/fake-openllm.js";
import { ktStreamText, MODEL, packConfig, rawSse, settle, startRig, within, type Rig } from "./rig.js";

interface Case {
  name: string;
  behavior: Behavior;
  target: "t" | "total";
  code: ErrorCode;
  /** Whether the fault comes after the first chunk reached the client (SSE error event) or before it (HTTP error). */
  midStream: boolean;
  message?: RegExp;
}

const cases: Case[] = [
  { name: "reset-mid-stream", behavior: "reset-mid-stream", target: "t", code: "KT_ERR_UPSTREAM_FAILED", midStream: true },
  { name: "garbage-sse", behavior: "garbage-sse", target: "t", code: "KT_ERR_UPSTREAM_PROTOCOL", midStream: false, message: /not JSON/ },
  { name: "no-done", behavior: "no-done", target: "t", code: "KT_ERR_UPSTREAM_PROTOCOL", midStream: true, message: /without \[DONE\]/ },
  { name: "mid-stream-error", behavior: "mid-stream-error", target: "t", code: "KT_ERR_UPSTREAM_FAILED", midStream: true, message: /boom/ },
  { name: "hang-after-headers", behavior: "hang-after-headers", target: "t", code: "KT_ERR_UPSTREAM_IDLE_TIMEOUT", midStream: false, message: /idle_timeout_seconds/ },
  { name: "drip slower than idle_timeout_seconds", behavior: { kind: "drip", intervalMs: 1500, chunks: 5 }, target: "t", code: "KT_ERR_UPSTREAM_IDLE_TIMEOUT", midStream: true, message: /idle_timeout_seconds/ },
  { name: "drip past total_timeout_seconds", behavior: { kind: "drip", intervalMs: 150, chunks: 100 }, target: "total", code: "KT_ERR_UPSTREAM_TOTAL_TIMEOUT", midStream: true, message: /total_timeout_seconds/ },
];

/** Longest any faulty call may take: the timeouts are 0.5 s (idle) and 1 s (total). */
const BOUND_MS = 4000;

describe("stream faults of a single target", () => {
  let rig: Rig;
  beforeAll(async () => {
    rig = await startRig((urls, auditDir) =>
      packConfig(auditDir, [
        `{ id: t, provider: "openllm:chat:llama3:8b-instruct", model: "${MODEL}", base_url: "${urls[0]}", timeout_seconds: 1, idle_timeout_seconds: 0.5 }`,
        `{ id: total, provider: "openllm:chat:llama3:8b-instruct", model: "${MODEL}", base_url: "${urls[0]}", timeout_seconds: 1, idle_timeout_seconds: 5, total_timeout_seconds: 1 }`,
        `{ id: total-json, provider: "openllm:chat:llama3:8b-instruct", model: "${MODEL}", base_url: "${urls[0]}", timeout_seconds: 3, total_timeout_seconds: 0.5 }`,
      ]),
    );
  });
  afterAll(() => rig.close());
  beforeEach(() => rig.fakes[0]!.setBehavior("normal"));

  const servedNormally = async (target: string) => {
    rig.fakes[0]!.setBehavior("normal");
    const ok = await within(3000, rig.openai().chat.completions.create({ model: target, messages: [{ role: "user", content: "still there" }] }));
    expect(ok.choices[0]!.message.content).toBe("You said: still there");
    let text = "";
    for await (const c of await rig.openai().chat.completions.create({ model: target, messages: [{ role: "user", content: "still streaming" }], stream: true }))
      text += c.choices[0]?.delta?.content ?? "";
    expect(text).toBe("You said: still streaming");
  };

  describe.each(cases)("$name", (c) => {
    const wire = errorCodes[c.code];

    it("OpenAI SDK: an APIError with our code and message, in bounded time; audited; next request served", async () => {
      rig.fakes[0]!.setBehavior(c.behavior);
      const before = (await rig.audit()).length;
      const t0 = Date.now();
      const got: string[] = [];
      const outcome = await within(
        BOUND_MS,
        settle(
          (async () => {
            const s = await rig.openai().chat.completions.create({ model: c.target, messages: [{ role: "user", content: "one two three four five" }], stream: true });
            for await (const chunk of s) got.push(chunk.choices[0]?.delta?.content ?? "");
          })(),
        ),
        `${c.name} over the SDK`,
      );
      expect(outcome.ok).toBe(false);
      const err = (outcome as { error: any }).error;
      expect(err).toBeInstanceOf(OpenAI.APIError);
      expect(err.code).toBe(wire.code);
      expect(typeof err.message).toBe("string");
      if (c.message) expect(err.message).toMatch(c.message);
      if (c.midStream) {
        // The error arrived as an SSE error event after data: status 200, no HTTP status on the error.
        expect(got.length).toBeGreaterThan(0);
        expect(err.status).toBeUndefined();
      } else {
        expect(got).toEqual([]);
        expect(err.status).toBe(wire.status);
      }
      expect(Date.now() - t0).toBeLessThan(BOUND_MS);

      const rec = await rig.nextAudit(before);
      expect(rec).toMatchObject({ outcome: "error", errorCode: c.code, stream: true, target: c.target, frontDoor: "openai" });
      await servedNormally(c.target);
    });

    it("raw SSE: a mid-stream fault is one OpenAI error event followed by [DONE]", async () => {
      rig.fakes[0]!.setBehavior(c.behavior);
      const r = await within(BOUND_MS, rawSse(`${rig.url}/v1/chat/completions`, { model: c.target, messages: [{ role: "user", content: "one two three" }], stream: true }));
      if (!c.midStream) {
        expect(r.status).toBe(wire.status);
        return;
      }
      expect(r.status).toBe(200);
      expect(r.data.at(-1)).toBe("[DONE]");
      const errorEvent = JSON.parse(r.data.at(-2)!);
      expect(errorEvent.error).toMatchObject({ code: wire.code, type: wire.type, message: expect.any(String) });
      // Nothing after the error but [DONE]; everything before it is a well-formed chunk.
      for (const d of r.data.slice(0, -2)) expect(JSON.parse(d).object).toBe("chat.completion.chunk");
    });

    it("gRPC: a ConnectError with the mapped code, in bounded time; audited; next request served", async () => {
      rig.fakes[0]!.setBehavior(c.behavior);
      const before = (await rig.audit()).length;
      const t0 = Date.now();
      const outcome = await within(BOUND_MS, settle(ktStreamText(rig.kt("grpc"), c.target, "one two three four five")), `${c.name} over gRPC`);
      expect(outcome.ok).toBe(false);
      const err = (outcome as { error: any }).error;
      expect(err).toBeInstanceOf(ConnectError);
      expect(err.code).toBe(wire.grpc);
      if (c.message) expect(err.rawMessage).toMatch(c.message);
      expect(Date.now() - t0).toBeLessThan(BOUND_MS);
      const rec = await rig.nextAudit(before);
      expect(rec).toMatchObject({ outcome: "error", errorCode: c.code, stream: true, target: c.target, frontDoor: "grpc" });
      await servedNormally(c.target);
    });
  });

  /** One non-streamed call against a misbehaving fake: the SDK's error, how long it took, and its audit record. */
  const nonStreamed = async (behavior: Behavior, model: string) => {
    rig.fakes[0]!.setBehavior(behavior);
    const before = (await rig.audit()).length;
    const t0 = Date.now();
    const r = await within(BOUND_MS, settle(rig.openai().chat.completions.create({ model, messages: [{ role: "user", content: "x" }] })));
    const err = (r as { error: any }).error;
    expect(err).toBeInstanceOf(OpenAI.APIError);
    return { err, ms: Date.now() - t0, rec: await rig.nextAudit(before) };
  };

  it("non-streamed: headers then silence is bounded by timeout_seconds (the whole answer), 504 upstream_timeout", async () => {
    const { err, ms, rec } = await nonStreamed("hang-after-headers", "t");
    expect(err.status).toBe(504);
    expect(err.code).toBe("upstream_timeout");
    expect(ms).toBeGreaterThanOrEqual(900);
    expect(rec).toMatchObject({ outcome: "error", errorCode: "KT_ERR_UPSTREAM_TIMEOUT", stream: false });
    const grpc = await within(BOUND_MS, settle(rig.kt("grpc").chat.createChatCompletion({ model: "t", messages: [{ role: "user", content: "x" }] })));
    expect((grpc as { error: any }).error.code).toBe(Code.DeadlineExceeded);
    await servedNormally("t");
  });

  it("non-streamed: a body trickled past timeout_seconds is cut off at the deadline, 504 upstream_timeout", async () => {
    // Each piece arrives well within undici's between-chunk timer; only the whole-answer deadline catches it.
    const { err, ms, rec } = await nonStreamed({ kind: "trickle-body", intervalMs: 300 }, "t");
    expect(err.status).toBe(504);
    expect(err.code).toBe("upstream_timeout");
    expect(err.message).toMatch(/did not finish its answer within timeout_seconds/);
    expect(ms).toBeLessThan(2000);
    expect(rec).toMatchObject({ outcome: "error", errorCode: "KT_ERR_UPSTREAM_TIMEOUT", stream: false, target: "t" });
    await servedNormally("t");
  });

  it("non-streamed: total_timeout_seconds bounds a call before timeout_seconds does, 504 with its own code", async () => {
    const { err, ms, rec } = await nonStreamed("hang", "total-json");
    expect(err.status).toBe(errorCodes.KT_ERR_UPSTREAM_TOTAL_TIMEOUT.status);
    expect(err.code).toBe(errorCodes.KT_ERR_UPSTREAM_TOTAL_TIMEOUT.code);
    expect(err.message).toMatch(/total_timeout_seconds/);
    expect(ms).toBeLessThan(2500);
    expect(rec).toMatchObject({ outcome: "error", errorCode: "KT_ERR_UPSTREAM_TOTAL_TIMEOUT", stream: false, target: "total-json" });
    await servedNormally("total-json");
  });

  it("failed streams release their slots and upstream dispatches; repeated faults open the circuit", async () => {
    await servedNormally("t"); // a success: the circuit starts from zero consecutive failures
    rig.fakes[0]!.reset();
    rig.fakes[0]!.setBehavior("reset-mid-stream");
    for (let i = 0; i < 20; i++) await within(BOUND_MS, settle(ktStreamText(rig.kt("connect"), "t", "x y z")));
    rig.fakes[0]!.setBehavior("normal");
    expect(rig.services.gateway.pipeline.streams.open).toBe(0);
    const t = rig.services.gateway.runtime().registry.get("t")!;
    expect(t.inFlight).toBe(0);
    // Five consecutive mid-stream faults are target faults: the circuit opened and the rest were refused fast.
    expect(t.circuit.state).toBe("open");
    expect(rig.fakes[0]!.requests.filter((r) => r.method === "POST" && r.behavior === "reset-mid-stream")).toHaveLength(5);
    const refused = await settle(rig.openai().chat.completions.create({ model: "t", messages: [{ role: "user", content: "x" }] }));
    const err = (refused as { error: any }).error;
    expect(err.status).toBe(503);
    expect(err.code).toBe("no_healthy_target");
    expect(err.headers.get("retry-after")).toBe("5");
  });
});

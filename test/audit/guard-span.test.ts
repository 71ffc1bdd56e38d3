/**
 * What a guard-model rule puts on the request's span, exported over OTLP by a real gateway
 * process: the engine, a fail-open (`kt.policy.failed_open`) and, for a stream judged in windows,
 * the leak bound (`kt.policy.stream_leak_bound_chars`).
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GUARD_MODELS, startFakeGuardServer } from "../fixtures/fake-guard-model.js";
import { startFakeOpenLLM, type FakeOpenLLM } from "../fixtures/fake-openllm.js";
import { startChildGateway, type ChildGateway } from "../helpers/child-gateway.js";
import { MODEL } from "../helpers/harness.js";
import { startOtlpReceiver } from "./fixtures/otlp-receiver.js";

describe("a guard model's decisions on the span", () => {
  let fake: FakeOpenLLM;
  let guard: FakeOpenLLM;
  let receiver: Awaited<ReturnType<typeof startOtlpReceiver>>;
  let gw: ChildGateway;

  beforeAll(async () => {
    fake = await startFakeOpenLLM();
    // The guard model is down (503): both rules fail open.
    guard = await startFakeGuardServer("llama_guard", () => false, { behavior: "status-503" });
    receiver = await startOtlpReceiver();
    const dir = mkdtempSync(join(tmpdir(), "kt-guard-span-"));
    writeFileSync(
      join(dir, "policy-config.yaml"),
      `providers:
  targets:
    - { id: t, provider: "openllm:chat:llama3:8b-instruct", model: ${MODEL}, base_url: "${fake.url}" }
    - { id: guard, provider: "openllm:chat:guard", model: ${GUARD_MODELS.llama_guard}, base_url: "${guard.url}" }
streaming: { mode: incremental }
policies:
  - id: safety
    rules:
      - { type: content_filter, id: ask, engine: llama_guard, target: guard, categories: [violence], apply_to: request, fail_open: true }
      - { type: content_filter, id: answer, engine: llama_guard, target: guard, categories: [violence], apply_to: response, fail_open: true, stream_window_tokens: 4 }
`,
    );
    gw = await startChildGateway(join(dir, "policy-config.yaml"), { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_BSP_SCHEDULE_DELAY: "100" });
    const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: "kt-test", maxRetries: 0 });
    const s = await client.chat.completions.create({ model: "t", stream: true, messages: [{ role: "user", content: "tell me about the weather in spring" }] });
    let text = "";
    for await (const c of s) text += c.choices[0]?.delta?.content ?? "";
    expect(text).toBe("You said: tell me about the weather in spring");
    await gw.stop("SIGTERM");
  }, 60_000);
  afterAll(async () => {
    await gw?.stop("SIGKILL");
    await fake?.close();
    await guard?.close();
    await receiver?.close();
  });

  it("records each fail-open, and the leak bound of the windowed stream", () => {
    const server = receiver.exports.flatMap((e) => e.spans).find((s) => s.kind === 2 && s.attributes["gen_ai.request.stream"] === true)!;
    expect(server).toBeDefined();
    const governance = server.events.filter((e) => e.name === "kt.governance").map((e) => e.attributes);
    const ask = governance.find((a) => a["kt.policy.rule"] === "ask")!;
    const answer = governance.find((a) => a["kt.policy.rule"] === "answer")!;
    expect(ask).toMatchObject({ "kt.policy.engine": "llama_guard", "kt.policy.failed_open": true, "kt.policy.phase": "request" });
    expect(ask["kt.policy.stream_leak_bound_chars"]).toBeUndefined();
    expect(answer).toMatchObject({ "kt.policy.engine": "llama_guard", "kt.policy.failed_open": true, "kt.policy.phase": "response", "kt.policy.stream_leak_bound_chars": 0 });
    // The guard model was asked (and failed) for the request and for the answer's windows.
    expect(guard.requests.filter((r) => r.method === "POST").length).toBeGreaterThanOrEqual(2);
  });
});

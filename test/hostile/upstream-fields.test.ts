import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { queryAuditLog, type StoredAuditRecord } from "../../src/audit/index.js";
import { sha256Hex } from "../../src/config/index.js";
import { MAX_RECORDED_CHOICES } from "../../src/wire/index.js";
import { MODEL, startStack, type Stack } from "../helpers/harness.js";
import { warmScanPool } from "../helpers/scan-pool.js";

// What the record takes from an upstream's answer is bounded and never the upstream's text:
// token counts are numbers (a string there was recorded verbatim, PII included, and reached the
// client unscanned: `usage` was skipped by the response rules), finish reasons are known words or
// `other`, and at most MAX_RECORDED_CHOICES of them (100,000 choices made a summary whose copy
// and record held the event loop 530 ms). Both the small-answer path and the held one (from
// 256 KiB, parsed by a pool worker). Found by the round-12 review.

let stack: Stack;
let auditDir = "";
beforeAll(async () => {
  stack = await startStack((url, dir) => {
    auditDir = `${dir}/audit`;
    return `auth:
  api_keys:
    - { id: app, sha256: ${sha256Hex("kt-app")}, scopes: [chat] }
providers:
  targets:
    - { id: llama, provider: "openllm:chat:llama3:8b-instruct", model: ${MODEL}, base_url: "${url}" }
policies:
  chain: [pii, audit-logger]
policy:
  pii:
    rules:
      - { type: pii_detection, action: redact, patterns: [email, credit_card] }
  audit-logger: { path: ${auditDir} }
`;
  });
  await warmScanPool();
}, 120_000);
afterAll(() => stack?.close());

const VICTIM = "victim.person@example.com";

async function ask(json: object, request: object = {}): Promise<{ status: number; body: string; record: StoredAuditRecord }> {
  stack.fake.setBehavior({ kind: "scripted", json, chunks: [] } as never);
  try {
    const r = await fetch(`${stack.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: "Bearer kt-app", "content-type": "application/json" },
      body: JSON.stringify({ model: "llama", messages: [{ role: "user", content: "hi" }], ...request }),
    });
    const body = await r.text();
    return { status: r.status, body, record: (await queryAuditLog(auditDir, { pageSize: 1000 })).events.at(-1)! };
  } finally {
    stack.fake.setBehavior("normal");
  }
}

const answer = (content: string, extra: object = {}, choices = [{ index: 0, message: { role: "assistant", content }, finish_reason: "stop" }]) => ({
  id: "x",
  object: "chat.completion",
  model: MODEL,
  choices,
  ...extra,
});

describe.each([
  ["small", 0],
  ["held (300 KiB)", 300 * 1024],
])("an upstream's answer, %s", (_name, pad) => {
  const content = "ok " + "y".repeat(pad);

  it("a string in usage: redacted for the client, never in the record", async () => {
    const r = await ask(answer(content, { usage: { prompt_tokens: VICTIM, completion_tokens: 3, total_tokens: { x: 1 } } }));
    expect(r.status).toBe(200);
    expect(r.body).not.toContain(VICTIM);
    expect(JSON.parse(r.body).usage.completion_tokens).toBe(3);
    expect(JSON.stringify(r.record)).not.toContain(VICTIM);
    expect(r.record.usage).toEqual({ input: 0, output: 3 });
  });

  // The client gets the field as the engine set it (an enum the model cannot write, like `id`:
  // body-texts.ts SKIPPED_KEYS); the record never takes an unknown one verbatim.
  it("a finish reason that is not one: `other` in the record", async () => {
    const r = await ask(answer(content, {}, [{ index: 0, message: { role: "assistant", content }, finish_reason: `stop ${VICTIM}` } as never]));
    expect(r.status).toBe(200);
    expect(JSON.stringify(r.record)).not.toContain(VICTIM);
    expect(r.record.finishReasons).toEqual(["other"]);
  });

  it(`many choices: at most ${MAX_RECORDED_CHOICES} finish reasons recorded, every choice to the client`, async () => {
    const choices = Array.from({ length: 2000 }, (_, i) => ({ index: i, message: { role: "assistant", content: i === 0 ? content : "c" }, finish_reason: i % 2 ? "length" : "stop" }));
    const r = await ask(answer(content, {}, choices));
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body).choices).toHaveLength(2000);
    expect(r.record.finishReasons).toHaveLength(MAX_RECORDED_CHOICES);
    expect(r.record.finishReasons!.slice(0, 3)).toEqual(["stop", "length", "stop"]);
  });
});

describe("an upstream's stream", () => {
  it.each(["buffered", "incremental"])("a string in the usage chunk (%s): redacted for the client, never in the record; finish reasons capped", async (mode) => {
    let dir = "";
    const own = await startStack((url, d) => {
      dir = `${d}/audit`;
      return `providers:
  targets:
    - { id: llama, provider: "openllm:chat:llama3:8b-instruct", model: ${MODEL}, base_url: "${url}" }
streaming: { mode: ${mode} }
policies:
  chain: [pii, audit-logger]
policy:
  pii:
    rules:
      - { type: pii_detection, action: redact, patterns: [email, credit_card] }
  audit-logger: { path: ${dir} }
`;
    });
    try {
      const chunk = (choices: object[], extra: object = {}) => ({ id: "s", object: "chat.completion.chunk", created: 1, model: MODEL, choices, ...extra });
      const choices = Array.from({ length: 300 }, (_, i) => ({ index: i, delta: { content: "c" }, finish_reason: "stop" }));
      own.fake.setBehavior({
        kind: "scripted",
        json: {},
        chunks: [chunk([{ index: 0, delta: { role: "assistant", content: "" }, finish_reason: null }]), chunk(choices), chunk([], { usage: { prompt_tokens: VICTIM, completion_tokens: 3 } })],
      } as never);
      const r = await fetch(`${own.url}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model: "llama", stream: true, stream_options: { include_usage: true }, messages: [{ role: "user", content: "hi" }] }),
      });
      const text = await r.text();
      expect(r.status).toBe(200);
      expect(text).toContain('"completion_tokens":3');
      expect(text).not.toContain(VICTIM);
      const record = (await queryAuditLog(dir, { pageSize: 1000 })).events.at(-1)!;
      expect(JSON.stringify(record)).not.toContain(VICTIM);
      expect(record.usage).toEqual({ input: 0, output: 3 });
      expect(record.finishReasons).toHaveLength(MAX_RECORDED_CHOICES);
    } finally {
      await own.close();
    }
  });
});

describe("n and best_of", () => {
  it.each([["n", 129], ["n", 0], ["n", 1.5], ["best_of", 100000], ["n", "2"]])("%s = %j is refused with 400 before any upstream call", async (k, v) => {
    stack.fake.reset();
    const r = await fetch(`${stack.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: "Bearer kt-app", "content-type": "application/json" },
      body: JSON.stringify({ model: "llama", messages: [{ role: "user", content: "hi" }], [k]: v }),
    });
    expect(r.status).toBe(400);
    expect(((await r.json()) as { error: unknown }).error).toMatchObject({ type: "invalid_request_error", param: k });
    expect(stack.fake.requests.length).toBe(0);
  });

  it("n = 128 passes", async () => {
    stack.fake.reset();
    const r = await fetch(`${stack.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: "Bearer kt-app", "content-type": "application/json" },
      body: JSON.stringify({ model: "llama", messages: [{ role: "user", content: "hi" }], n: 128 }),
    });
    expect(r.status).toBe(200);
    expect((stack.fake.requests.at(-1)!.body as { n?: number }).n).toBe(128);
  });
});

describe("a held answer's summary", () => {
  it(`carries at most ${MAX_RECORDED_CHOICES} choices whatever the answer has (100,000 here)`, async () => {
    const { parseHeldAnswer } = await import("../../src/policy/index.js");
    const { releaseHeldAnswer } = await import("../../src/wire/index.js");
    const choices = Array.from({ length: 100_000 }, (_, i) => ({ index: i, message: { role: "assistant", content: "x" }, finish_reason: "length" }));
    const text = JSON.stringify({ id: "many", model: MODEL, choices, usage: { prompt_tokens: 5, completion_tokens: 100_000 } });
    const bytes = new SharedArrayBuffer(Buffer.byteLength(text));
    Buffer.from(bytes).write(text);
    const summary = await parseHeldAnswer(bytes, bytes.byteLength, "llama");
    try {
      expect(summary.choices).toHaveLength(MAX_RECORDED_CHOICES);
      expect(summary.usage).toEqual({ prompt_tokens: 5, completion_tokens: 100_000 });
    } finally {
      releaseHeldAnswer(summary);
    }
  }, 60_000);
});

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createKeeptrustsClient, Direction } from "../../clients/typescript/src/index.js";
import { ScanPool, scanPool } from "../../src/policy/pool/index.js";
import { sharedMemoryStats } from "../../src/server/index.js";

/** Buffers handed out for bodies: made (and faulted in) by the helper thread, or reused zeroed. */
const bodyMemoryMade = () => sharedMemoryStats().made + sharedMemoryStats().reused;
import { request as httpRequest } from "node:http";
import type { JsonObject } from "../../src/wire/index.js";
import type { FakeOpenLLM } from "../fixtures/fake-openllm.js";
import { GUARD_MODELS, startFakeGuardServer } from "../fixtures/fake-guard-model.js";
import { MODEL, startStack, type Stack } from "../helpers/harness.js";
import { inlineRequestBody, startLargeBodyStack } from "../helpers/scan-pool.js";

// A body from 256 KiB on is never parsed, walked, redacted or serialised on the main thread: a pool
// worker reads it from shared memory, runs the request rules over it and writes the upstream body.
// These tests check that structurally (the pool's job counts) and that the result is exactly the
// inline chain's. How long /healthz waits meanwhile is measured by bench/hostile.ts, not here.

const rules = [
  { type: "pii_detection", action: "redact", patterns: ["email", "credit_card", "secret", "ssn"] },
  { type: "content_filter", action: "log", categories: ["violence", "self_harm"] },
];

let stack: Stack;
beforeAll(async () => {
  // These bodies (PII rule, then the classifier, ≥ 128 KiB) take the classifier-beside-the-scan path
  // whenever two workers are free, not only on machines with a core to spare for it (held-chain.ts):
  // its answers must equal the inline chain's here too.
  process.env.KT_SCAN_FOLLOW = "on";
  stack = await startLargeBodyStack(`      - { type: pii_detection, action: redact, patterns: [email, credit_card, secret, ssn] }
      - { type: content_filter, action: log, categories: [violence, self_harm] }
`);
}, 120_000);
afterAll(() => stack?.close());

/** What the inline chain (on this thread, no pool) makes of a request body. */
const inlineResult = (body: JsonObject) => inlineRequestBody(rules, body);

function bigBody(): JsonObject {
  const line = (i: number) => `row ${i}: mail user${i}@example.com card 4111 1111 1111 1111 ssn 123-45-6789 and some prose about the weather.\n`;
  let big = "";
  for (let i = 0; i < 4000; i++) big += i % 50 === 0 ? "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n" : line(i);
  return {
    model: MODEL,
    messages: [
      { role: "system", content: "You are terse." },
      { role: "user", content: big },
      // An address split over two content parts: each piece is redacted in its own part.
      { role: "user", content: [{ type: "text", text: `${big}write to carol.jones@exam` }, { type: "text", text: "ple.org today" }] },
    ],
    // Unknown fields are read too, held or not.
    tools: [{ type: "function", function: { name: "notify", description: `escalate to ops@example.net ${"x".repeat(400)}`, parameters: { type: "object" } } }],
    temperature: 0.2,
  };
}

describe("large bodies in the policy pool", { timeout: 120_000 }, () => {
  it("an OpenAI request from 256 KiB is parsed, checked and written by workers, with the inline chain's exact redactions", async () => {
    const pool = scanPool();
    const before = { ...pool.completedByKind };
    const madeBefore = bodyMemoryMade();
    const body = bigBody();
    expect(JSON.stringify(body).length).toBeGreaterThan(256 * 1024);
    const r = await stack.openai().chat.completions.create(body as never);
    expect(r.choices[0]!.message.content).toBe("fine");
    const grew = (k: "parse-body" | "body-chain" | "serialise-body") => (pool.completedByKind[k] ?? 0) - (before[k] ?? 0);
    expect(grew("parse-body")).toBeGreaterThanOrEqual(1);
    expect(grew("body-chain")).toBeGreaterThanOrEqual(1);
    // The worker wrote the redacted body from its skeleton; nothing changed that skeleton after
    // (the model is the target's own), so those bytes went upstream as they were: no third job.
    expect(grew("serialise-body")).toBe(0);
    // Its shared memory was made (and faulted in) by the helper thread or reused, never made on the event loop.
    expect(bodyMemoryMade() - madeBefore).toBeGreaterThanOrEqual(1);

    const request = stack.fake.requests.filter((q) => q.path === "/v1/chat/completions").at(-1)!;
    const sent = request.body as JsonObject;
    const expected = await inlineResult(body);
    // Byte for byte what JSON.stringify makes of the inline chain's body (booleans: no megabyte diffs).
    expect(request.rawBody === JSON.stringify(expected)).toBe(true);
    expect(sent.messages).toEqual(expected.messages);
    expect(sent.tools).toEqual(expected.tools);
    expect(sent.temperature).toBe(0.2);
    const text = JSON.stringify(sent);
    for (const raw of ["@example.com", "4111 1111 1111 1111", "123-45-6789", "BEGIN PRIVATE KEY", "ops@example.net", "carol.jones"]) expect(text).not.toContain(raw);
    const parts = (sent.messages as { content: { text: string }[] }[])[2]!.content;
    expect(parts[0]!.text.endsWith("write to [REDACTED:EMAIL]")).toBe(true);
    expect(parts[1]!.text).toBe("[REDACTED:EMAIL] today");
  });

  it("a large body whose skeleton changes after the rules (the target's upstream model) is written again by a worker, byte for byte", async () => {
    const pool = scanPool();
    const before = { ...pool.completedByKind };
    // Asked by the target's id: the upstream gets the target's model name instead.
    const body = { ...bigBody(), model: "openllm-llama3" };
    const r = await stack.openai().chat.completions.create(body as never);
    expect(r.choices[0]!.message.content).toBe("fine");
    const grew = (k: "body-chain" | "serialise-body") => (pool.completedByKind[k] ?? 0) - (before[k] ?? 0);
    expect(grew("body-chain")).toBeGreaterThanOrEqual(1);
    expect(grew("serialise-body")).toBe(1);
    const request = stack.fake.requests.filter((q) => q.path === "/v1/chat/completions").at(-1)!;
    const expected = { ...(await inlineResult(body)), model: MODEL };
    expect(request.rawBody === JSON.stringify(expected)).toBe(true);
    expect(request.rawBody).not.toContain("openllm-llama3");
  });

  it("a large body without Content-Length (chunked, growing past each buffer) arrives whole", async () => {
    const madeBefore = bodyMemoryMade();
    // 1.5 MiB of distinct lines sent in 16 KiB pieces: the buffer is made at 256 KiB, then doubled
    // (512 KiB, 1 MiB, 2 MiB) while the request is paused each time.
    let content = "";
    for (let i = 0; content.length < 1.5 * 1024 * 1024; i++) content += `line ${i} of a long prompt that says nothing in particular.\n`;
    const raw = Buffer.from(JSON.stringify({ model: MODEL, messages: [{ role: "user", content }] }));
    const status = await new Promise<number>((resolve, reject) => {
      const u = new URL(`${stack.url}/v1/chat/completions`);
      const req = httpRequest({ host: u.hostname, port: u.port, path: u.pathname, method: "POST", headers: { "content-type": "application/json", "transfer-encoding": "chunked" } }, (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      });
      req.on("error", reject);
      let at = 0;
      const pump = () => {
        while (at < raw.length) {
          const piece = raw.subarray(at, at + 16 * 1024);
          at += piece.length;
          if (!req.write(piece)) return void req.once("drain", pump);
        }
        req.end();
      };
      pump();
    });
    expect(status).toBe(200);
    expect(bodyMemoryMade() - madeBefore).toBeGreaterThanOrEqual(3);
    const sent = stack.fake.requests.filter((q) => q.path === "/v1/chat/completions").at(-1)!.body as { messages: { content: string }[] };
    expect(sent.messages[0]!.content).toBe(content);
  });

  // ChatService: the front door reads the body and a worker decodes and converts it; Connect on the
  // event loop only decodes a message carrying the model (see src/server/connect/held-rpc.ts).
  it.each([
    ["grpc", true],
    ["connect", true],
    ["connect", false],
    ["grpc-web", true],
  ] as const)("a large ChatService request over %s (binary %s) is decoded in the pool and checked as the OpenAI body would be", async (protocol, binary) => {
    const pool = scanPool();
    const before = { ...pool.completedByKind };
    const body = bigBody();
    const messages = (body.messages as { role: string; content: unknown }[]).map((m) =>
      typeof m.content === "string" ? { role: m.role, content: m.content } : { role: m.role, contentParts: m.content as never },
    );
    const kt = createKeeptrustsClient({ baseUrl: stack.url, protocol, useBinaryFormat: binary });
    const r = await kt.chat.createChatCompletion({ model: MODEL, messages, temperature: 0.2 });
    expect(r.choices[0]!.message!.content).toBe("fine");
    const grew = (k: "module" | "body-chain" | "serialise-body") => (pool.completedByKind[k] ?? 0) - (before[k] ?? 0);
    expect(grew("module")).toBe(1);
    expect(grew("body-chain")).toBeGreaterThanOrEqual(1);
    // The rewrite, written by the worker from the skeleton the front door made, goes as it is.
    expect(grew("serialise-body")).toBe(0);
    const request = stack.fake.requests.filter((q) => q.path === "/v1/chat/completions").at(-1)!;
    expect(request.rawBody === JSON.stringify(JSON.parse(request.rawBody))).toBe(true);
    const sent = request.body as JsonObject;
    const expected = await inlineResult({ model: MODEL, messages: body.messages, temperature: 0.2 });
    expect(sent.messages).toEqual(expected.messages);
    expect(sent.temperature).toBe(0.2);

    // Streamed too, with the same held body.
    let text = "";
    for await (const c of kt.chat.streamChatCompletion({ model: MODEL, messages })) text += c.choices[0]?.delta?.content ?? "";
    expect(text).toBe("fine");
    expect(grew("module")).toBe(2);
    // The streamed request's body (`stream: true` from the front door) is its rewrite too.
    expect(grew("serialise-body")).toBe(0);
    const streamedRequest = stack.fake.requests.filter((q) => q.path === "/v1/chat/completions").at(-1)!;
    expect(streamedRequest.rawBody === JSON.stringify(JSON.parse(streamedRequest.rawBody))).toBe(true);
    const streamed = streamedRequest.body as JsonObject;
    expect(streamed.messages).toEqual(expected.messages);
    expect(streamed.stream).toBe(true);
  });

  it("a large ChatService message that cannot be decoded is refused with INVALID_ARGUMENT", async () => {
    // A gRPC-Web frame of 300 KiB that is not a ChatCompletionRequest (field 1 as a varint run).
    const payload = Buffer.alloc(300 * 1024, 0xff);
    const framed = Buffer.concat([Buffer.from([0, 0, 0, 0, 0]), payload]);
    framed.writeUInt32BE(payload.length, 1);
    const r = await fetch(`${stack.url}/keeptrusts.v1.ChatService/CreateChatCompletion`, {
      method: "POST",
      headers: { "content-type": "application/grpc-web+proto", "x-grpc-web": "1" },
      body: framed,
    });
    expect(r.status).toBe(200);
    const tail = Buffer.from(await r.arrayBuffer()).toString("latin1");
    expect(tail).toMatch(/grpc-status: ?3\r\n/);
    expect(decodeURIComponent(tail.slice(tail.indexOf("grpc-message")))).toContain("the request message is not a valid keeptrusts.v1.ChatCompletionRequest in protobuf binary");
  });

  it("a large body's faults are worded as a small body's", async () => {
    const pad = "a".repeat(300 * 1024);
    const post = (raw: string | Buffer) =>
      fetch(`${stack.url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: raw }).then(async (r) => ({
        status: r.status,
        error: ((await r.json()) as { error: { message: string } }).error.message,
      }));
    expect(await post(`{"model":"${MODEL}","messages":[{"role":"user","content":"${pad}"}]`)).toMatchObject({ status: 400, error: expect.stringMatching(/^the request body is not valid JSON/) });
    expect(await post(Buffer.concat([Buffer.from(`{"model":"${MODEL}","x":"${pad}`), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]))).toEqual({
      status: 400,
      error: "the request body is not valid UTF-8",
    });
    expect(await post(`{"model":"${MODEL}","x":"${pad}","y":${"[".repeat(100)}${"]".repeat(100)}}`)).toEqual({ status: 400, error: "the request body nests deeper than 64 levels" });
    // Parsed fine by the worker, refused by the pipeline as a small body would be.
    expect(await post(`{"model":"${MODEL}","messages":"${pad}"}`)).toMatchObject({ status: 400, error: expect.stringContaining("`messages` is required") });
  });

  it("EvaluatePolicy runs a large text's chain in the pool and lists the first 1,000 findings, counting all", async () => {
    const pool = scanPool();
    const before = pool.completedByKind.chain ?? 0;
    const kt = createKeeptrustsClient({ baseUrl: stack.url, protocol: "grpc" });
    const text = "mail bob@example.com now. ".repeat(3000);
    const r = await kt.governance.evaluatePolicy({ text, direction: Direction.REQUEST });
    expect((pool.completedByKind.chain ?? 0) - before).toBeGreaterThanOrEqual(1);
    expect(r.decision).toBe("redact");
    expect(r.findingsTotal).toBe(3000);
    expect(r.findings).toHaveLength(1000);
    expect(r.findings[0]).toMatchObject({ type: "email", start: 5, end: 20 });
    expect(r.findings[999]).toMatchObject({ start: 999 * 26 + 5, end: 999 * 26 + 20 });
    expect(r.redactedText).toBe("mail [REDACTED:EMAIL] now. ".repeat(3000));
  });

  it.each([
    ["grpc", true],
    ["connect", true],
    ["connect", false],
    ["grpc-web", true],
    ["grpc-web", false],
  ] as const)("EvaluatePolicy of a held text over %s (binary %s): decoded, checked and answered by workers, the same answer", async (protocol, binary) => {
    const pool = scanPool();
    const before = pool.completedByKind.module ?? 0;
    const kt = createKeeptrustsClient({ baseUrl: stack.url, protocol, useBinaryFormat: binary });
    // 312,000 characters: held (from 256 KiB), where the test above's text is not.
    const text = "mail bob@example.com now. ".repeat(12000);
    const r = await kt.governance.evaluatePolicy({ text, direction: Direction.REQUEST });
    // One job decodes the message at the front door, one runs the chain and encodes the answer.
    expect((pool.completedByKind.module ?? 0) - before).toBe(2);
    expect(r.decision).toBe("redact");
    expect(r.findingsTotal).toBe(12000);
    expect(r.findings).toHaveLength(1000);
    expect(r.findings[0]).toMatchObject({ policy: "guard", type: "email", start: 5, end: 20, action: "redact" });
    expect(r.findings[999]).toMatchObject({ start: 999 * 26 + 5, end: 999 * 26 + 20 });
    expect(r.redactedText === "mail [REDACTED:EMAIL] now. ".repeat(12000)).toBe(true);
    // An unknown policy is still Connect's NOT_FOUND, and a clean text is allowed unchanged.
    await expect(kt.governance.evaluatePolicy({ text, direction: Direction.REQUEST, policyId: "nope" })).rejects.toMatchObject({ code: 5 });
    const clean = "nothing to see here. ".repeat(15000);
    const c = await kt.governance.evaluatePolicy({ text: clean, direction: Direction.RESPONSE });
    expect([c.decision, c.findingsTotal, c.findings.length, c.redactedText === clean]).toEqual(["allow", 0, 0, true]);
  });

  it("the pool's queue is bounded: past it a job is refused at once with a 503 the client can retry", async () => {
    const pool = new ScanPool({ size: 1, maxQueued: 1 });
    try {
      const job = { kind: "pii" as const, key: "e", spec: { patterns: ["email"], regions: undefined, obfuscated: undefined }, texts: ["a@b.co ".repeat(50_000)], json: [false] };
      const running = pool.run(job);
      const waiting = pool.run(job);
      const refused = pool.run(job);
      // Work a request is committed to (a large RPC answer whose record says answered) still waits.
      const committed = pool.run({ kind: "module", url: "node:path", name: "parse", input: "/a/b.txt", chars: 1, committed: true });
      // So does an upstream's answer: generated already, refusing its parse would only throw the
      // generation away (a retry would pay for it again).
      const text = JSON.stringify({ id: "a", model: "m", choices: [{ index: 0, message: { role: "assistant", content: "x".repeat(1000) }, finish_reason: "stop" }] });
      const bytes = new SharedArrayBuffer(Buffer.byteLength(text));
      Buffer.from(bytes).write(text);
      const answer = pool.run({ kind: "parse-answer", answer: { bytes, length: bytes.byteLength, nonce: "n-queue", version: 1 } });
      await expect(refused).rejects.toMatchObject({ code: "KT_ERR_OVERLOADED", status: 503 });
      expect(pool.refused).toBe(1);
      expect(await committed).toMatchObject({ base: "b.txt" });
      expect(await answer).toMatchObject({ summary: { id: "a", choices: [{ finish_reason: "stop" }] } });
      expect((await running)[0]!.found.length).toBe(3 * 50_000);
      expect((await waiting)[0]!.found.length).toBe(3 * 50_000);
    } finally {
      await pool.close();
    }
  });
});

describe("a large body with a guard-model rule", { timeout: 120_000 }, () => {
  let guard: FakeOpenLLM;
  let gstack: Stack;
  beforeAll(async () => {
    guard = await startFakeGuardServer("llama_guard", (t) => /\bbomb\b/i.test(t), { maxModelLen: 1e9 });
    gstack = await startStack(
      (url) => `providers:
  targets:
    - { id: t, provider: "openllm:chat:llama3:8b-instruct", model: ${MODEL}, base_url: "${url}" }
    - { id: guard, provider: "openllm:chat:guard", model: ${GUARD_MODELS.llama_guard}, base_url: "${guard.url}", timeout_seconds: 30 }
policies:
  - id: safety
    rules:
      - { type: pii_detection, action: redact, patterns: [email] }
      - { type: content_filter, id: guard-model, engine: llama_guard, target: guard, categories: [violence], apply_to: request }
`,
      { fake: { maxModelLen: 1e9 } },
    );
    gstack.fake.setReply("fine");
  }, 120_000);
  afterAll(async () => {
    await gstack?.close();
    await guard?.close();
  });

  it("the guard model judges the held body's texts after the rules before it, and its block stands", async () => {
    const big = "a quiet note for dana@example.com about the garden. ".repeat(6000);
    const ok = await gstack.openai().chat.completions.create({ model: MODEL, messages: [{ role: "user", content: big }] });
    expect(ok.choices[0]!.message.content).toBe("fine");
    const judged = JSON.stringify(guard.requests.filter((q) => q.method === "POST").at(-1)!.body);
    expect(judged).toContain("[REDACTED:EMAIL]");
    expect(judged).not.toContain("dana@example.com");
    const sent = JSON.stringify(gstack.fake.requests.filter((q) => q.path === "/v1/chat/completions").at(-1)!.body);
    expect(sent).not.toContain("dana@example.com");

    const bad = await gstack
      .openai()
      .chat.completions.create({ model: MODEL, messages: [{ role: "user", content: `${big} how to build a bomb` }] })
      .then(
        () => undefined,
        (e: { status?: number; code?: string }) => e,
      );
    expect(bad).toMatchObject({ status: 400, code: "content_blocked" });
  });
});

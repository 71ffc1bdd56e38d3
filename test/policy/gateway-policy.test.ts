import OpenAI from "openai";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { Code, ConnectError, createKeeptrustsClient, Direction } from "../../clients/typescript/src/index.js";
import { runKt } from "../helpers/child-gateway.js";
import { MODEL, startStack, type Stack } from "../helpers/harness.js";
import { card, ibanFor, luhnComplete, rng } from "./helpers.js";

function config(mode: "buffered" | "incremental") {
  return (url: string) => `providers:
  targets:
    - id: openllm-llama3
      provider: openllm:chat:llama3:8b-instruct
      model: ${MODEL}
      base_url: ${url}
policies:
  - id: openllm-governance
    description: Enforce data governance for OpenLLM traffic
    rules:
      - type: pii_detection
        action: redact
        patterns: [ssn, credit_card, email, phone, iban, ip_address]
        apply_to: both
      - type: content_filter
        action: block
        categories: [violence, self_harm]
streaming:
  mode: ${mode}
`;
}

const r = rng(20261124);
function pick<T>(xs: T[]): T {
  return xs[Math.floor(r() * xs.length)]!;
}
const users = ["alice", "bob.smith", "c.d+tag", "eve_99", "mallory"];
const domains = ["example.com", "mail.example.org", "corp.example.net"];
/** A valid value of each seed-level type, fresh each call. */
const generators: Record<string, () => string> = {
  email: () => `${pick(users)}${Math.floor(r() * 1000)}@${pick(domains)}`,
  credit_card: () => pick([card(r, "4", 16), card(r, "51", 16), card(r, "2221", 16), card(r, "37", 15), card(r, "6011", 16)]),
  ssn: () => `${100 + Math.floor(r() * 500)}-${10 + Math.floor(r() * 89)}-${1000 + Math.floor(r() * 8999)}`,
  phone: () => `(${200 + Math.floor(r() * 700)}) ${200 + Math.floor(r() * 700)}-${1000 + Math.floor(r() * 8999)}`,
  iban: () => pick([ibanFor(r, "DE", 22), ibanFor(r, "GB", 22), ibanFor(r, "FR", 27), ibanFor(r, "NL", 18)]),
  ip_address: () => pick([`10.${Math.floor(r() * 255)}.${Math.floor(r() * 255)}.${1 + Math.floor(r() * 254)}`, "2001:db8:85a3::8a2e:370:7334"]),
};
const templates = [
  (v: string) => `Please update my record: ${v}. Thanks!`,
  (v: string) => `The value ${v} belongs to the customer`,
  (v: string) => `${v}`,
  (v: string) => `Can you check "${v}" against the database?`,
];

describe.each(["buffered", "incremental"] as const)("policies through the gateway, %s streaming", (mode) => {
  let stack: Stack;
  let client: OpenAI;
  beforeAll(async () => {
    stack = await startStack(config(mode));
    client = stack.openai();
  });
  afterAll(() => stack.close());
  beforeEach(() => {
    stack.fake.reset();
    stack.fake.setReply(null);
    stack.fake.setBehavior("normal");
  });

  it("redacts every seed-level PII type in requests before the upstream sees it (recall)", async () => {
    let n = 0;
    for (const [type, gen] of Object.entries(generators)) {
      for (let i = 0; i < 8; i++) {
        const value = gen();
        const text = pick(templates)(value);
        const res = await client.chat.completions.create({ model: "openllm-llama3", messages: [{ role: "user", content: text }] });
        const sent = JSON.stringify(stack.fake.requests.at(-1)!.body);
        expect(sent, `${type}: ${value}`).not.toContain(value);
        expect(sent).toContain(`[REDACTED:${type.toUpperCase()}]`);
        expect(res.choices[0]!.message.content).not.toContain(value);
        n++;
      }
    }
    expect(n).toBe(48);
  });

  it("lets numbers that only look like PII through unchanged", async () => {
    const badLuhn = (() => {
      const good = luhnComplete("411111111111111");
      return good.slice(0, -1) + String((Number(good.at(-1)) + 1) % 10);
    })();
    const lookalikes = ["order #123456789", "on 2024-01-15", "costs $1,234.56", "version 1.2.3", `card ${badLuhn}`, "SSN 000-12-3456", "build 10.0.19045", "ticket 555-0100"];
    for (const text of lookalikes) {
      await client.chat.completions.create({ model: "openllm-llama3", messages: [{ role: "user", content: text }] });
      const sent = (stack.fake.requests.at(-1)!.body as any).messages[0].content;
      expect(sent, text).toBe(text);
    }
  });

  it("redacts the model's answer in every streamed chunk", async () => {
    const email = "leak.me@example.com";
    const cardNo = "4111 1111 1111 1111";
    stack.fake.setReply(`Sure, the customer email is ${email} and the card is ${cardNo} as requested.`);
    const stream = await client.chat.completions.create({ model: "openllm-llama3", messages: [{ role: "user", content: "who?" }], stream: true, stream_options: { include_usage: true } });
    const parts: string[] = [];
    let usage = false;
    let finish: string | null = null;
    for await (const c of stream) {
      const t = c.choices[0]?.delta?.content ?? "";
      parts.push(t);
      for (const piece of ["leak.me", "@example.com", "4111", "1111 1111"]) expect(t).not.toContain(piece);
      if (c.usage) usage = true;
      if (c.choices[0]?.finish_reason) finish = c.choices[0].finish_reason;
    }
    expect(parts.join("")).toBe("Sure, the customer email is [REDACTED:EMAIL] and the card is [REDACTED:CREDIT_CARD] as requested.");
    expect(usage).toBe(true);
    expect(finish).toBe("stop");
  });

  it("blocks violence and self-harm requests with 400 content_blocked, without reaching the upstream", async () => {
    for (const text of ["How do I kill myself without it hurting?", "I want to hurt someone really badly."]) {
      const err = await client.chat.completions.create({ model: "openllm-llama3", messages: [{ role: "user", content: text }] }).catch((e) => e);
      expect(err).toBeInstanceOf(OpenAI.BadRequestError);
      expect(err.error).toMatchObject({ type: "policy_violation", code: "content_blocked" });
      expect(err.message).toContain("openllm-governance");
      expect(err.message).not.toContain(text);
      expect(err.headers.get("x-should-retry")).toBe("false");
    }
    expect(stack.fake.requests.filter((q) => q.method === "POST")).toHaveLength(0);
  });

  it("maps a block to PERMISSION_DENIED over gRPC", async () => {
    const kt = createKeeptrustsClient({ baseUrl: stack.url, protocol: "grpc" });
    const err = await kt.chat.createChatCompletion({ model: "openllm-llama3", messages: [{ role: "user", content: "I want to kill myself tonight." }] }).catch((e) => e);
    expect(err).toBeInstanceOf(ConnectError);
    expect(err.code).toBe(Code.PermissionDenied);
    expect(err.rawMessage).toContain("openllm-governance");
  });

  it("ends a stream whose answer turns harmful with an error event and no harmful text", async () => {
    stack.fake.setReply("Here is the plan. First, I want to hurt someone really badly, then more words follow here.");
    let text = "";
    const err = await (async () => {
      const stream = await client.chat.completions.create({ model: "openllm-llama3", messages: [{ role: "user", content: "plan?" }], stream: true });
      for await (const c of stream) text += c.choices[0]?.delta?.content ?? "";
    })().catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect(String(err.message)).toContain("blocked by policy 'openllm-governance'");
    expect(text).not.toContain("hurt someone");
    // Buffered: the block comes before any byte, as a plain 400; incremental: as an error event.
    if (mode === "buffered") {
      expect(err.status).toBe(400);
      expect(text).toBe("");
    }
  });

  it("answers EvaluatePolicy with findings and offsets", async () => {
    const kt = createKeeptrustsClient({ baseUrl: stack.url, protocol: "connect" });
    const res = await kt.governance.evaluatePolicy({ text: "mail bob@example.com now", direction: Direction.REQUEST });
    expect(res.decision).toBe("redact");
    expect(res.redactedText).toBe("mail [REDACTED:EMAIL] now");
    expect(res.findings).toHaveLength(1);
    expect(res.findings[0]).toMatchObject({ type: "email", start: 5, end: 20, policy: "openllm-governance" });
  });
});

describe("incremental streaming", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack(config("incremental"), { fake: { chunkDelayMs: 10 } });
  });
  afterAll(() => stack.close());

  it("delivers its first text long before the last", async () => {
    const words = Array.from({ length: 120 }, (_, i) => `word${i}`).join(" ");
    stack.fake.setReply(words);
    const t0 = performance.now();
    const stream = await stack.openai().chat.completions.create({ model: "openllm-llama3", messages: [{ role: "user", content: "go" }], stream: true });
    let first = 0;
    let text = "";
    for await (const c of stream) {
      const t = c.choices[0]?.delta?.content ?? "";
      if (t && !first) first = performance.now() - t0;
      text += t;
    }
    const total = performance.now() - t0;
    expect(text).toBe(words);
    // 120 chunks 10 ms apart: the whole answer takes over a second; the first text must come in the first half.
    expect(total).toBeGreaterThan(1000);
    expect(first).toBeLessThan(total / 2);
  });
});

describe("kt policy test", () => {
  it("prints the decision and the redacted text, exit 3 on a block", async () => {
    const { mkdtempSync, writeFileSync } = await import("node:fs");
    const { join } = await import("node:path");
    const { tmpdir } = await import("node:os");
    const dir = mkdtempSync(join(tmpdir(), "kt-policy-cli-"));
    const file = join(dir, "policy-config.yaml");
    writeFileSync(file, config("buffered")("http://127.0.0.1:3000/v1"));
    const ok = await runKt(["policy", "test", "call 555-867-5309 or mail jo@example.com", "--policy-config", file]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain("decision: redact");
    expect(ok.stdout).toContain("text: call [REDACTED:PHONE] or mail [REDACTED:EMAIL]");
    expect(ok.stdout).not.toMatch(/jo@example\.com/);
    const blocked = await runKt(["policy", "test", "I want to kill myself tonight.", "--policy-config", file]);
    expect(blocked.code).toBe(3);
    expect(blocked.stdout).toContain("decision: block");
  });
});

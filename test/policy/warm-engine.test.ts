import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { queryAuditLog } from "../../src/audit/index.js";
import { compilePolicyEngine, warmPolicyEngine } from "../../src/policy/index.js";
import { startFakeOpenLLM, type FakeOpenLLM } from "../fixtures/fake-openllm.js";
import { startChildGateway, type ChildGateway } from "../helpers/child-gateway.js";
import { configWith } from "./helpers.js";

// `kt gateway` runs its compiled chain on made-up traffic before the listener opens
// (src/policy/warm-engine.ts). The warm-up must stay inside the process: never a guard-model call,
// never a record, never an upstream request. Whether it makes the first requests faster is
// measured by bench/quick.ts (BENCH_QUICK_COLD=1), not here.

const full = [
  { type: "pii_detection", action: "redact", patterns: ["email", "credit_card", "phone", "person", "location", "street_address", "iban", "secret"] },
  { type: "pii_detection", action: "block", patterns: ["ssn"], apply_to: "request" },
  { type: "content_filter", action: "block", categories: ["violence", "self_harm"] },
];

describe("warmPolicyEngine", () => {
  it("runs every round on a chain of PII rules and the built-in classifier, both streaming modes, without a guard call", async () => {
    let asked = 0;
    const engine = compilePolicyEngine(configWith([{ id: "p", rules: full }]), { askGuard: async () => (asked++, "safe") });
    let turns = 0;
    for (const mode of ["incremental", "buffered"] as const) {
      const rounds = await warmPolicyEngine(engine, mode, { rounds: 12, turn: async () => void turns++ });
      expect(rounds).toBe(12);
    }
    expect(turns).toBe(24);
    expect(asked).toBe(0);
  });

  it("does not warm a chain with a guard-model rule (its checks would call the model)", async () => {
    let asked = 0;
    const guarded = [...full, { type: "content_filter", action: "block", engine: "llama_guard", target: "guard", categories: ["violence"] }];
    const engine = compilePolicyEngine(configWith([{ id: "p", rules: guarded }]), { askGuard: async () => (asked++, "safe") });
    expect(await warmPolicyEngine(engine, "incremental", { rounds: 5 })).toBe(0);
    expect(asked).toBe(0);
  });

  it("does nothing for a chain without rules", async () => {
    const engine = compilePolicyEngine(configWith([]));
    expect(await warmPolicyEngine(engine, "incremental", { rounds: 5 })).toBe(0);
  });
});

describe("kt gateway warms its chain before listening", { timeout: 60_000 }, () => {
  let fake: FakeOpenLLM;
  let gw: ChildGateway;
  let auditDir: string;
  beforeAll(async () => {
    fake = await startFakeOpenLLM();
    const dir = mkdtempSync(join(tmpdir(), "kt-warm-"));
    auditDir = join(dir, "audit");
    const config = join(dir, "config.yaml");
    writeFileSync(
      config,
      `providers:
  targets:
    - { id: t, provider: "openllm:chat:llama3:8b-instruct", model: ${fake.models[0]}, base_url: "${fake.url}" }
streaming:
  mode: incremental
policies:
  chain: [p, audit-logger]
policy:
  p:
    rules:
      - { type: pii_detection, action: redact, patterns: [email, credit_card, person] }
      - { type: content_filter, action: block, categories: [violence] }
  audit-logger: { path: "${auditDir}" }
`,
    );
    gw = await startChildGateway(config, { KT_LOG_LEVEL: "debug" });
  });
  afterAll(async () => {
    await gw?.stop();
    await fake?.close();
  });

  it("says so in its log, and leaves no record and no upstream request behind", async () => {
    const line = gw
      .stderr()
      .split("\n")
      .find((l) => l.includes("warmed the policy chain"));
    expect(line).toBeDefined();
    expect(JSON.parse(line!).rounds).toBeGreaterThan(0);
    expect(fake.requests.length).toBe(0);
    const res = await fetch(`${gw.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: fake.models[0], messages: [{ role: "user", content: "hello" }] }),
    });
    expect(res.status).toBe(200);
    await res.text();
    // The one request made is the one record (the warm-up wrote none) and the one upstream call.
    for (let i = 0; i < 100 && (await queryAuditLog(auditDir, { pageSize: 100 })).events.length < 1; i++) await new Promise((r) => setTimeout(r, 50));
    const events = (await queryAuditLog(auditDir, { pageSize: 100 })).events;
    expect(events.length).toBe(1);
    expect(fake.requests.length).toBe(1);
  });
});

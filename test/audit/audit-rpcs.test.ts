import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createKeeptrustsClient, timestampFromDate } from "../../clients/typescript/src/index.js";
import { sha256Hex } from "../../src/config/index.js";
import { runKt } from "../helpers/child-gateway.js";
import { MODEL, startStack, type Stack } from "../helpers/harness.js";

const PII = "secret.person@example.com";

describe("GovernanceService audit RPCs", () => {
  let stack: Stack;
  const gov = (key = "kt-admin") => createKeeptrustsClient({ baseUrl: stack.url, apiKey: key, protocol: "grpc" }).governance;
  beforeAll(async () => {
    stack = await startStack(
      (url, dir) => `pack: { name: rpcs, version: 1.0.0 }
auth:
  api_keys:
    - { id: app, sha256: ${sha256Hex("kt-app")} }
    - { id: admin, sha256: ${sha256Hex("kt-admin")}, scopes: [chat, admin] }
providers:
  targets:
    - { id: t1, provider: "openllm:chat:llama3:8b-instruct", model: ${MODEL}, base_url: "${url}" }
policies:
  chain: [pii, audit-logger]
policy:
  pii:
    rules:
      - { type: pii_detection, patterns: [email] }
  audit-logger: { path: "${dir}/audit", log_all_access: false }
`,
    );
    const app = stack.openai({ apiKey: "kt-app" });
    for (let i = 0; i < 5; i++) await app.chat.completions.create({ model: "t1", messages: [{ role: "user", content: `hello ${PII} #${i}` }] });
    await app.chat.completions.create({ model: "nope", messages: [{ role: "user", content: "x" }] }).catch(() => {});
  });
  afterAll(() => stack.close());

  it("lists events with filters and pages, each with its trace id, and never the PII", async () => {
    const all = await gov().listAuditEvents({});
    expect(all.events).toHaveLength(6);
    expect(all.events.every((e) => /^[0-9a-f]{32}$/.test(e.traceId))).toBe(true);
    expect(JSON.stringify(all.events, (_k, v) => (typeof v === "bigint" ? String(v) : v))).not.toContain(PII);
    expect(all.events[0]).toMatchObject({ principal: "app", target: "t1", decision: "redact", outcome: "ok" });
    expect(all.events[0]!.redactions.email).toBe(1n);

    const page1 = await gov().listAuditEvents({ pageSize: 4 });
    expect(page1.events).toHaveLength(4);
    expect(page1.nextPageToken).not.toBe("");
    const page2 = await gov().listAuditEvents({ pageSize: 4, pageToken: page1.nextPageToken });
    expect(page2.events.map((e) => e.seq)).toEqual([5n, 6n]);

    expect((await gov().listAuditEvents({ decision: "allow" })).events.map((e) => e.outcome)).toEqual(["error"]);
    const byTrace = await gov().listAuditEvents({ traceId: all.events[2]!.traceId });
    expect(byTrace.events.map((e) => e.seq)).toEqual([3n]);
    expect((await gov().listAuditEvents({ principal: "someone-else" })).events).toHaveLength(0);
    expect((await gov().listAuditEvents({ endTime: timestampFromDate(new Date(0)) })).events).toHaveLength(0);
  });

  it("streams live events to a watcher", async () => {
    const ac = new AbortController();
    const seen: string[] = [];
    const watching = (async () => {
      for await (const r of gov().watchAuditEvents({ principal: "app" }, { signal: ac.signal })) {
        seen.push(r.event!.model);
        if (seen.length === 2) ac.abort();
      }
    })().catch(() => {});
    await new Promise((r) => setTimeout(r, 200));
    const app = stack.openai({ apiKey: "kt-app" });
    await app.chat.completions.create({ model: "t1", messages: [{ role: "user", content: "live one" }] });
    await app.chat.completions.create({ model: "llama3:8b-instruct", messages: [{ role: "user", content: "live two" }] });
    await watching;
    expect(seen).toEqual(["t1", "llama3:8b-instruct"]);
  });

  it("verifies the log, and is refused to a key without the admin scope", async () => {
    const v = await gov().verifyAuditLog({});
    expect(v.ok).toBe(true);
    expect(v.records).toBeGreaterThanOrEqual(6n);
    const denied = await gov("kt-app").verifyAuditLog({}).catch((e) => e);
    expect(denied.code).toBe(7); // PERMISSION_DENIED
  });

  it("kt targets shows each target's health and circuit from the running gateway", async () => {
    const r = await runKt(["targets", "--url", stack.url, "--api-key", "kt-admin"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^TARGET\s+MODEL\s+HEALTHY\s+CIRCUIT/m);
    expect(r.stdout).toMatch(/^t1\s+meta-llama\/Llama-3\.1-8B-Instruct\s+yes\s+closed/m);
  });
});

/**
 * Exact across replicas: two gateways (the same composition `kt gateway run` uses, each with its
 * own Redis connection) share one real redis-server. A key's requests_per_minute holds for both
 * together, a token budget is never passed by concurrent streams and settlement gives back what
 * was reserved and not used; when Redis dies, each replica applies its configured failure mode
 * at once, records it, and no request hangs.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createKeeptrustsClient } from "../../clients/typescript/src/index.js";
import { queryAuditLog } from "../../src/audit/index.js";
import { createGatewayServices, type GatewayServices } from "../../src/cli/compose.js";
import { sha256Hex } from "../../src/config/index.js";
import { startFakeOpenLLM, type FakeOpenLLM } from "../fixtures/fake-openllm.js";
import { startRedis, type RedisProcess } from "../helpers/redis-server.js";
import { MODEL } from "../helpers/harness.js";

const KEY_RPM = "kt-rpm-key";
const KEY_BUDGET = "kt-budget-key";
const KEY_ADMIN = "kt-admin-key";
const KEY_FAIL = "kt-fail-key";

function config(fakeUrl: string, audit: string, onFailure: "deny" | "allow"): string {
  return `pack: { name: replicas, version: 1.0.0 }
auth:
  api_keys:
    - { id: rpm, sha256: ${sha256Hex(KEY_RPM)}, limits: { requests_per_minute: 60 } }
    - { id: budget, sha256: ${sha256Hex(KEY_BUDGET)}, limits: { token_budget: { tokens: 10000, period: month } } }
    - { id: fail, sha256: ${sha256Hex(KEY_FAIL)}, limits: { requests_per_minute: 1000 } }
    - { id: admin, sha256: ${sha256Hex(KEY_ADMIN)}, scopes: [chat, admin] }
providers:
  targets:
    - { id: t, provider: "openllm:chat:llama3:8b-instruct", model: "${MODEL}", base_url: "${fakeUrl}" }
limits:
  store: { redis: { url_ref: { env: KT_TEST_REDIS_URL }, key_prefix: "kt-replicas-${process.pid}", timeout_ms: 5000 } }
  on_store_failure: ${onFailure}
policies:
  chain: [audit-logger]
policy:
  audit-logger: { path: "${audit}" }
`;
}

describe("two replicas sharing one Redis", () => {
  let redis: RedisProcess;
  let fake: FakeOpenLLM;
  const replicas: { services: GatewayServices; url: string; audit: string }[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    fake = await startFakeOpenLLM();
    const dir = mkdtempSync(join(tmpdir(), "kt-replicas-"));
    // Two replicas that deny when Redis is away, and a third that allows (only the outage test uses it).
    for (const [i, mode] of (["deny", "deny", "allow"] as const).entries()) {
      const audit = join(dir, `audit-${i}`);
      const path = join(dir, `policy-config-${i}.yaml`);
      writeFileSync(path, config(fake.url, audit, mode));
      const services = await createGatewayServices({
        listen: "127.0.0.1:0",
        configPath: path,
        env: { ...process.env, KT_TEST_REDIS_URL: redis.url },
        telemetry: null,
      });
      replicas.push({ services, url: services.gateway.url, audit });
    }
  });
  afterAll(async () => {
    for (const r of replicas) await r.services.close({ drainMs: 1000 });
    await fake?.close();
    await redis?.kill();
  });

  const client = (i: number, apiKey: string) => new OpenAI({ baseURL: `${replicas[i]!.url}/v1`, apiKey, maxRetries: 0, timeout: 20_000 });
  const governance = (i = 0) => createKeeptrustsClient({ baseUrl: replicas[i]!.url, apiKey: KEY_ADMIN, protocol: "connect", httpVersion: "1.1" }).governance;

  it("a key limited to 60 requests per minute gets 60 successes across both replicas, then 429s", async () => {
    let ok = 0;
    let limited = 0;
    const other: unknown[] = [];
    // 90 requests, 6 at a time, alternating replicas.
    for (let round = 0; round < 15; round++) {
      await Promise.all(
        Array.from({ length: 6 }, (_, j) =>
          client(j % 2, KEY_RPM)
            .chat.completions.create({ model: "t", messages: [{ role: "user", content: `r${round}-${j}` }] })
            .then(
              () => ok++,
              (e) => {
                if (e instanceof OpenAI.RateLimitError && (e.error as { code?: string })?.code === "rate_limit_exceeded") limited++;
                else other.push(e);
              },
            ),
        ),
      );
    }
    expect(other).toEqual([]);
    expect(ok).toBe(60);
    expect(limited).toBe(30);
    const usage = await governance(1).getUsage({ keyId: "rpm" });
    expect(usage.store).toBe("redis");
    expect(usage.subjects[0]!.rates[0]).toMatchObject({ name: "requests_per_minute", limit: 60n, used: 60n, remaining: 0n });
  });

  it("a 10,000-token budget is never passed by concurrent streams; settlement returns what was reserved and not used", async () => {
    // Every stream could generate 200 tokens (max_tokens); the fake's reply is longer.
    fake.setReply(Array.from({ length: 300 }, (_, i) => `w${i}`).join(" "));
    let charged = 0;
    let completed = 0;
    let refused = 0;
    const other: unknown[] = [];
    const one = async (i: number) => {
      try {
        const s = await client(i % 2, KEY_BUDGET).chat.completions.create({
          model: "t",
          messages: [{ role: "user", content: "go" }],
          max_tokens: 200,
          stream: true,
          stream_options: { include_usage: true },
        });
        let finish: string | null = null;
        for await (const c of s) {
          if (c.choices[0]?.finish_reason) finish = c.choices[0].finish_reason;
          if (c.usage) charged += c.usage.prompt_tokens + c.usage.completion_tokens;
        }
        // An admitted stream is never cut off: it runs to its natural end.
        expect(finish).toBe("length");
        completed++;
      } catch (e) {
        if (e instanceof OpenAI.RateLimitError && (e.error as { code?: string })?.code === "insufficient_quota") refused++;
        else other.push(e);
      }
    };
    // Waves of 16 concurrent streams until the budget refuses a whole wave.
    for (let wave = 0; wave < 10; wave++) {
      const before = refused;
      await Promise.all(Array.from({ length: 16 }, (_, i) => one(wave * 16 + i)));
      if (refused - before === 16) break;
    }
    fake.setReply(null);
    expect(other).toEqual([]);
    expect(completed).toBeGreaterThan(30);
    expect(refused).toBeGreaterThan(0);
    expect(charged).toBeLessThanOrEqual(10_000);
    const b = (await governance(0).getUsage({ keyId: "budget" })).subjects[0]!;
    expect(b.budget).toMatchObject({ limit: 10000n, used: BigInt(charged), reserved: 0n });
    expect(b.inFlightRequests).toBe(0);
    // Each stream reserved its prompt estimate plus 200 and was charged 1 + 200: the rest came back.
    expect(completed * 201).toBe(charged);

    // A short answer returns nearly all of its reservation.
    fake.setReply("ok");
    const before = b.budget!.used;
    await client(1, KEY_BUDGET).chat.completions.create({ model: "t", messages: [{ role: "user", content: "go" }], max_tokens: 5 });
    fake.setReply(null);
    const after = (await governance(1).getUsage({ keyId: "budget" })).subjects[0]!.budget!;
    expect(after.used - before).toBe(2n);
    expect(after.reserved).toBe(0n);
  });

  it("Redis killed mid-run: deny answers 503 at once, allow serves unmetered; both recorded; nothing hangs", async () => {
    fake.setBehavior({ kind: "drip", intervalMs: 50, chunks: 20 });
    const streams = await Promise.all([0, 2].map((i) => client(i, KEY_FAIL).chat.completions.create({ model: "t", messages: [{ role: "user", content: "x" }], stream: true })));
    const its = streams.map((s) => s[Symbol.asyncIterator]());
    await Promise.all(its.map((it) => it.next()));
    await redis.kill();
    // The streams admitted before the outage finish normally; their settlement waits for Redis.
    for (const it of its) for (let n = await it.next(); !n.done; n = await it.next());
    fake.setBehavior("normal");

    for (let i = 0; i < 5; i++) {
      const denied = await client(0, KEY_FAIL).chat.completions.create({ model: "t", messages: [{ role: "user", content: "d" }] }).catch((e) => e);
      expect(denied).toBeInstanceOf(OpenAI.APIError);
      expect(denied.status).toBe(503);
      expect(denied.error).toMatchObject({ code: "limits_store_unavailable" });
      const allowed = await client(2, KEY_FAIL).chat.completions.create({ model: "t", messages: [{ role: "user", content: "a" }] });
      expect(allowed.choices[0]!.message.content).toBe("You said: a");
    }
    const usage = await governance(0).getUsage({ keyId: "fail" });
    expect(usage.storeAvailable).toBe(false);
    expect(usage.storeError).not.toBe("");

    const records = async (i: number) => {
      await replicas[i]!.services.auditLog()!.flush();
      return (await queryAuditLog(replicas[i]!.services.auditLog()!.path, { principal: "fail", pageSize: 1000 })).events;
    };
    const deny = (await records(0)).at(-1)!;
    expect(deny).toMatchObject({ outcome: "error", errorCode: "KT_ERR_LIMITS_UNAVAILABLE", httpStatus: 503, limits: { store: "redis", storeState: "unavailable" } });
    const allow = (await records(2)).at(-1)!;
    expect(allow).toMatchObject({ outcome: "ok", limits: { store: "redis", storeState: "unavailable" } });
  });
});

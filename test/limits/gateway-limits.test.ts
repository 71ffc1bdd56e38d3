/**
 * Usage limits through the real front doors: the openai SDK against the shim (and its retry
 * logic against our headers), gRPC for RESOURCE_EXHAUSTED, the Governance service's GetUsage, the
 * audit record of each request. Embedded store; the Redis and multi-replica cases are in
 * replicas.test.ts.
 */
import OpenAI from "openai";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { Code, ConnectError } from "../../clients/typescript/src/index.js";
import { sha256Hex } from "../../src/config/index.js";
import { UsageSubjectKind } from "../../gen/keeptrusts/v1/governance_pb.js";
import { countWords } from "../fixtures/fake-openllm.js";
import { MODEL, startRig, type Rig } from "../resilience/rig.js";

const KEYS = { rpm: "kt-rpm", budget: "kt-budget", team1: "kt-team-1", team2: "kt-team-2", conc: "kt-conc", admin: "kt-admin", plain: "kt-plain" };

describe("usage limits at the gateway (embedded store)", () => {
  let rig: Rig;
  beforeAll(async () => {
    rig = await startRig(
      ([url], audit) => `pack: { name: limits-test, version: 1.0.0 }
auth:
  api_keys:
    - { id: rpm, sha256: ${sha256Hex(KEYS.rpm)}, limits: { requests_per_minute: 3, tokens_per_minute: 100000 } }
    - { id: budget, sha256: ${sha256Hex(KEYS.budget)}, limits: { token_budget: { tokens: 400, period: day, time_zone: Europe/Berlin } } }
    - { id: team1, sha256: ${sha256Hex(KEYS.team1)}, team: search }
    - { id: team2, sha256: ${sha256Hex(KEYS.team2)}, team: search }
    - { id: conc, sha256: ${sha256Hex(KEYS.conc)}, limits: { max_concurrent_requests: 1 } }
    - { id: admin, sha256: ${sha256Hex(KEYS.admin)}, scopes: [chat, admin] }
    - { id: plain, sha256: ${sha256Hex(KEYS.plain)} }
providers:
  targets:
    - { id: t, provider: "openllm:chat:llama3:8b-instruct", model: "${MODEL}", base_url: "${url}" }
    - { id: small, provider: "openllm:chat:small-pool", model: "${MODEL}", base_url: "${url}", limits: { requests_per_minute: 2 } }
limits:
  default_max_tokens: 50
  default: { requests_per_minute: 1000 }
  teams:
    search: { requests_per_minute: 2 }
policies:
  chain: [audit-logger]
policy:
  audit-logger: { path: "${audit}" }
`,
    );
  });
  afterAll(() => rig.close());
  beforeEach(() => {
    rig.fakes[0]!.setBehavior("normal");
    rig.fakes[0]!.reset();
  });

  /** The real SDK, counting the HTTP requests it makes (its retries included). */
  const sdk = (key: string, maxRetries = 0) => {
    const calls = { n: 0 };
    const client = new OpenAI({
      baseURL: `${rig.url}/v1`,
      apiKey: key,
      maxRetries,
      fetch: (url, init) => {
        calls.n++;
        return fetch(url, init);
      },
    });
    return { client, calls };
  };
  const ask = (key: string, extra: Record<string, unknown> = {}, maxRetries = 0) =>
    sdk(key, maxRetries).client.chat.completions.create({ model: "t", messages: [{ role: "user", content: "hello there" }], ...extra }).withResponse();

  it("requests_per_minute: exactly the limit succeeds, then 429 rate_limit_exceeded with retry-after and x-ratelimit headers", async () => {
    const remaining: string[] = [];
    for (let i = 0; i < 3; i++) {
      const { response } = await ask(KEYS.rpm);
      expect(response.headers.get("x-ratelimit-limit-requests")).toBe("3");
      remaining.push(response.headers.get("x-ratelimit-remaining-requests")!);
      expect(response.headers.get("x-ratelimit-reset-requests")).toMatch(/^\d+(\.\d+)?(ms|s|m)|^\d+m\d+s$/);
      expect(response.headers.get("x-ratelimit-limit-tokens")).toBe("100000");
      expect(Number(response.headers.get("x-ratelimit-remaining-tokens"))).toBeLessThan(100000);
    }
    expect(remaining).toEqual(["2", "1", "0"]);
    const err = await ask(KEYS.rpm).catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    expect(err.status).toBe(429);
    expect(err.error).toMatchObject({ type: "rate_limit_exceeded", code: "rate_limit_exceeded", message: expect.stringMatching(/API key 'rpm'.*requests_per_minute: limit 3/) });
    const retryAfter = Number(err.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThanOrEqual(59);
    expect(retryAfter).toBeLessThanOrEqual(61);
    expect(err.headers.get("x-ratelimit-remaining-requests")).toBe("0");
    expect(err.headers.get("x-should-retry")).toBeNull();
    expect(rig.fakes[0]!.requests.filter((r) => r.path === "/v1/chat/completions")).toHaveLength(3);
    const rec = await rig.nextAudit((await rig.audit()).length - 1);
    expect(rec).toMatchObject({ principal: "rpm", errorCode: "KT_ERR_RATE_LIMIT_EXCEEDED", httpStatus: 429, limits: { store: "embedded", refusedBy: "key:rpm requests_per_minute" } });
  });

  it("gRPC: RESOURCE_EXHAUSTED with the same details in the trailers", async () => {
    const err = await rig
      .kt("grpc", KEYS.rpm)
      .chat.createChatCompletion({ model: "t", messages: [{ role: "user", content: "x" }] })
      .catch((e) => e);
    expect(err).toBeInstanceOf(ConnectError);
    expect(err.code).toBe(Code.ResourceExhausted);
    expect(err.metadata.get("x-kt-error-code")).toBe("rate_limit_exceeded");
    expect(err.metadata.get("x-ratelimit-limit-requests")).toBe("3");
    expect(err.metadata.get("x-ratelimit-remaining-requests")).toBe("0");
    expect(Number(err.metadata.get("retry-after"))).toBeGreaterThan(0);
  });

  it("a team's limit is shared by its keys", async () => {
    await ask(KEYS.team1);
    await ask(KEYS.team2);
    const err = await ask(KEYS.team1).catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    expect(err.error.message).toMatch(/team 'search'/);
  });

  it("token budget: reserved before the call, settled to real usage, then insufficient_quota that the SDK never retries", async () => {
    const governance = rig.kt("connect", KEYS.admin).governance;
    // 11 bytes of prompt + template allowance, plus max_tokens 100, reserved; the fake charges words.
    const { data, response } = await ask(KEYS.budget, { max_tokens: 100 });
    expect(response.headers.get("x-ratelimit-limit-requests")).toBeNull();
    const charged = data.usage!.prompt_tokens + data.usage!.completion_tokens;
    expect(charged).toBe(countWords("hello there") + countWords("You said: hello there"));
    let usage = await governance.getUsage({ keyId: "budget" });
    expect(usage.subjects).toHaveLength(1);
    const s = usage.subjects[0]!;
    expect(s.kind).toBe(UsageSubjectKind.KEY);
    expect(s.budget).toMatchObject({ limit: 400n, period: "day", timeZone: "Europe/Berlin", used: BigInt(charged), reserved: 0n, remaining: BigInt(400 - charged) });
    expect(s.inFlightRequests).toBe(0);
    expect(s.reservedTokens).toBe(0n);
    const rec = (await rig.audit()).at(-1)!;
    expect(rec.principal).toBe("budget");
    expect(rec.limits).toMatchObject({ store: "embedded", storeState: "ok", chargedTokens: charged });
    expect(rec.limits!.reservedTokens).toBeGreaterThan(100);

    // A request whose reservation would pass the budget is not started: no upstream call, no retry.
    const before = rig.fakes[0]!.requests.length;
    const { client, calls } = sdk(KEYS.budget, 3);
    const err = await client.chat.completions.create({ model: "t", messages: [{ role: "user", content: "hello there" }], max_tokens: 390 }).catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    expect(err.error).toMatchObject({ type: "insufficient_quota", code: "insufficient_quota" });
    expect(err.headers.get("x-should-retry")).toBe("false");
    expect(calls.n).toBe(1);
    expect(rig.fakes[0]!.requests.length).toBe(before);
    usage = await governance.getUsage({ keyId: "budget" });
    expect(usage.subjects[0]!.budget!.used).toBe(BigInt(charged));
  });

  it("a cancelled stream settles what was generated and returns the rest of its reservation", async () => {
    const governance = rig.kt("connect", KEYS.admin).governance;
    const before = (await governance.getUsage({ keyId: "budget" })).subjects[0]!.budget!;
    rig.fakes[0]!.setBehavior({ kind: "drip", intervalMs: 100, chunks: 40 });
    const ac = new AbortController();
    const s = await sdk(KEYS.budget).client.chat.completions.create({ model: "t", messages: [{ role: "user", content: "long" }], stream: true, max_tokens: 40 }, { signal: ac.signal });
    let seen = 0;
    for await (const c of s) {
      if (c.choices[0]?.delta?.content) seen++;
      if (seen === 3) ac.abort();
    }
    rig.fakes[0]!.setBehavior("normal");
    // The record is written when the gateway sees the cancel; wait for it, then read the budget.
    let rec = (await rig.audit()).at(-1)!;
    for (let i = 0; i < 100 && rec.outcome !== "cancelled"; i++) {
      await new Promise((r) => setTimeout(r, 50));
      rec = (await rig.audit()).at(-1)!;
    }
    expect(rec).toMatchObject({ principal: "budget", outcome: "cancelled" });
    // The prompt estimate (4 bytes + 16 template tokens) plus one token per content chunk generated, not the 40 reserved.
    const input = 4 + 16;
    expect(rec.limits!.reservedTokens).toBe(input + 40);
    expect(rec.limits!.chargedTokens).toBeGreaterThanOrEqual(input + 3);
    expect(rec.limits!.chargedTokens).toBeLessThan(input + 40);
    const after = (await governance.getUsage({ keyId: "budget" })).subjects[0]!.budget!;
    expect(after.reserved).toBe(0n);
    expect(after.used - before.used).toBe(BigInt(rec.limits!.chargedTokens!));
  });

  it("the SDK retries a rate-limit 429 after retry-after and succeeds", async () => {
    rig.fakes[0]!.setBehavior({ kind: "drip", intervalMs: 100, chunks: 5 });
    const first = sdk(KEYS.conc).client.chat.completions.create({ model: "t", messages: [{ role: "user", content: "slow" }], stream: true });
    const stream = await first;
    const it = stream[Symbol.asyncIterator]();
    await it.next();
    rig.fakes[0]!.setBehavior("normal");
    const { client, calls } = sdk(KEYS.conc, 3);
    const second = client.chat.completions.create({ model: "t", messages: [{ role: "user", content: "after" }] });
    // Drain the first stream so its slot frees; the SDK's retry (after retry-after: 1) then gets in.
    for (let n = await it.next(); !n.done; n = await it.next());
    const r = await second;
    expect(r.choices[0]!.message.content).toBe("You said: after");
    expect(calls.n).toBeGreaterThanOrEqual(2);
  });

  it("streams: the gateway asks upstream for usage and strips the usage chunk unless the client asked for it", async () => {
    const client = sdk(KEYS.budget.replace("budget", "plain")).client;
    // `plain` has only the default (requests) limits: its body goes upstream untouched.
    const plainStream = await client.chat.completions.create({ model: "t", messages: [{ role: "user", content: "a b" }], stream: true });
    for await (const _ of plainStream);
    expect((rig.fakes[0]!.requests.at(-1)!.body as Record<string, unknown>).stream_options).toBeUndefined();

    const budget = sdk(KEYS.budget).client;
    const chunks: any[] = [];
    const { data: s1, response } = await budget.chat.completions.create({ model: "t", messages: [{ role: "user", content: "one two" }], stream: true }).withResponse();
    for await (const c of s1) chunks.push(c);
    expect(response.headers.get("content-type")).toMatch(/event-stream/);
    const up = rig.fakes[0]!.requests.at(-1)!.body as Record<string, any>;
    expect(up.stream_options).toEqual({ include_usage: true });
    // The client set no max_tokens: the configured default cap is reserved and sent upstream.
    expect(up.max_tokens).toBe(50);
    expect(chunks.some((c) => c.usage)).toBe(false);
    expect(chunks.map((c) => c.choices[0]?.delta?.content ?? "").join("")).toBe("You said: one two");

    const withUsage: any[] = [];
    const s2 = await budget.chat.completions.create({ model: "t", messages: [{ role: "user", content: "x" }], stream: true, stream_options: { include_usage: true }, max_tokens: 10 });
    for await (const c of s2) withUsage.push(c);
    expect(withUsage.at(-1)).toMatchObject({ choices: [], usage: { prompt_tokens: 1, completion_tokens: 3 } });
  });

  it("a target's limits hold for all keys together (a small GPU pool)", async () => {
    const to = (key: string) => sdk(key).client.chat.completions.create({ model: "small", messages: [{ role: "user", content: "x" }] });
    await to(KEYS.plain);
    await to(KEYS.admin);
    const err = await to(KEYS.conc).catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    expect(err.error.message).toMatch(/target 'small'.*requests_per_minute: limit 2/);
    const usage = await rig.kt("connect", KEYS.admin).governance.getUsage({ targetId: "small" });
    expect(usage.subjects.map((s) => [UsageSubjectKind[s.kind], s.id, s.rates[0]!.used])).toEqual([["TARGET", "small", 2n]]);
  });

  it("/metrics counts reserved and charged tokens and refusals by key and limit", async () => {
    const r = await fetch(`${rig.url}/metrics`, { headers: { authorization: `Bearer ${KEYS.admin}` } });
    expect(r.status).toBe(200);
    const text = await r.text();
    expect(text).toMatch(/^kt_limits_rejected_total\{key_id="rpm",subject="key",limit="requests_per_minute"\} [1-9]/m);
    expect(text).toMatch(/^kt_limits_rejected_total\{key_id="budget",subject="key",limit="token_budget"\} [1-9]/m);
    expect(text).toMatch(/^kt_limits_rejected_total\{key_id="conc",subject="target",limit="requests_per_minute"\} 1/m);
    expect(text).toMatch(/^kt_limits_tokens_reserved_total\{key_id="budget"\} [1-9]/m);
    expect(text).toMatch(/^kt_limits_tokens_charged_total\{key_id="budget"\} [1-9]/m);
    expect(text).toMatch(/^kt_limits_store_up 1$/m);
  });

  it("GetUsage lists keys, teams and their windows", async () => {
    const usage = await rig.kt("connect", KEYS.admin).governance.getUsage({});
    expect(usage.store).toBe("embedded");
    expect(usage.storeAvailable).toBe(true);
    const ids = usage.subjects.map((s) => `${UsageSubjectKind[s.kind]}:${s.id}`);
    expect(ids).toEqual(["KEY:rpm", "KEY:budget", "KEY:team1", "KEY:team2", "KEY:conc", "KEY:admin", "KEY:plain", "TEAM:search", "TARGET:small"]);
    const rpm = usage.subjects[0]!;
    expect(rpm.rates.map((r) => [r.name, r.limit, r.used])).toEqual([
      ["requests_per_minute", 3n, 3n],
      ["tokens_per_minute", 100000n, expect.any(BigInt)],
    ]);
    expect(rpm.rates[0]!.remaining).toBe(0n);
    expect(rpm.rates[0]!.resetSeconds).toBeGreaterThan(50);
    const team = usage.subjects.at(-2)!;
    expect(team.rates[0]).toMatchObject({ name: "requests_per_minute", limit: 2n, used: 2n });
    const chatOnly = await rig.kt("connect", KEYS.plain).governance.getUsage({}).catch((e) => e);
    expect(chatOnly.code).toBe(Code.PermissionDenied);
  });
});

import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "../../src/config/index.js";
import { budgetPeriod, estimateTokens } from "../../src/limits/index.js";

const BASE = `providers:
  targets:
    - id: t
      provider: openllm:chat:llama3:8b-instruct
`;

function issuesOf(text: string, env: Record<string, string> = {}): string[] {
  try {
    parseConfig(text, "policy-config.yaml", env);
    return [];
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    return e.issues.map((i) => `${i.line}:${i.col} ${i.field}: ${i.message}`);
  }
}

describe("limits: configuration", () => {
  it("normalises keys, teams, the default, targets and the Redis store", () => {
    const c = parseConfig(
      `auth:
  api_keys:
    - id: a
      sha256: ${"a".repeat(64)}
      team: search
      limits: { requests_per_minute: 60, tokens_per_minute: 10000, max_concurrent_requests: 4, token_budget: { tokens: 1000000, period: month } }
    - { id: b, sha256: ${"b".repeat(64)} }
providers:
  targets:
    - id: t
      provider: openllm:chat:llama3:8b-instruct
      limits: { requests_per_minute: 600, output_tokens_per_minute: 50000 }
limits:
  store: { redis: { url_ref: { env: REDIS_URL } } }
  on_store_failure: allow
  time_zone: Europe/Berlin
  default: { requests_per_minute: 10, token_budget: { tokens: 5000, period: day, time_zone: America/New_York } }
  teams:
    search: { tokens_per_minute: 100000 }
`,
      "policy-config.yaml",
      { REDIS_URL: "redis://:secret@127.0.0.1:6379/0" },
    );
    expect(c.apiKeys[0]).toMatchObject({
      id: "a",
      team: "search",
      limits: { requestsPerMinute: 60, tokensPerMinute: 10000, maxConcurrentRequests: 4, tokenBudget: { tokens: 1000000, period: "month", timeZone: "Europe/Berlin" } },
    });
    expect(c.apiKeys[1]).toMatchObject({ id: "b", team: undefined, limits: undefined });
    expect(c.targets[0]!.limits).toEqual({ requestsPerMinute: 600, outputTokensPerMinute: 50000 });
    expect(c.limits).toMatchObject({
      store: { kind: "redis", url: "redis://:secret@127.0.0.1:6379/0", urlEnv: "REDIS_URL", keyPrefix: "kt", timeoutMs: 500 },
      onStoreFailure: "allow",
      defaultMaxTokens: 1024,
      bytesPerToken: 1,
      default: { requestsPerMinute: 10, tokenBudget: { tokens: 5000, period: "day", timeZone: "America/New_York" } },
      teams: { search: { tokensPerMinute: 100000 } },
    });
    expect(parseConfig(BASE, "p.yaml").limits).toMatchObject({ store: { kind: "embedded" }, onStoreFailure: "deny", default: {}, teams: {} });
  });

  it("reports every mistake with its line", () => {
    const issues = issuesOf(`auth:
  api_keys:
    - id: a
      sha256: ${"a".repeat(64)}
      team: nosuch
      limits: { requests_per_minute: 0, tokens_per_mintue: 5 }
providers:
  targets:
    - id: t
      provider: openllm:chat:llama3:8b-instruct
      limits: { token_budget: { tokens: 10, period: year } }
limits:
  store: { redis: { url_ref: { env: NOT_SET } } }
  on_store_failure: maybe
  default: { token_budget: { tokens: 10, period: day, time_zone: Mars/Olympus } }
`);
    expect(issues).toEqual([
      "5:13 auth.api_keys[0].team: team 'nosuch' has no limits under limits.teams",
      "6:38 auth.api_keys[0].limits.requests_per_minute: Too small: expected number to be >0",
      "6:41 auth.api_keys[0].limits.tokens_per_mintue: unknown key",
      "11:53 providers.targets[0].limits.token_budget.period: must be one of: day, week, month",
      "13:37 limits.store.redis.url_ref.env: environment variable NOT_SET is not set",
      "14:21 limits.on_store_failure: must be one of: deny, allow",
      "15:66 limits.default.token_budget.time_zone: unknown time zone: use an IANA name such as UTC or Europe/Berlin",
    ]);
  });

  it("the Redis URL must be a redis:// URL", () => {
    expect(issuesOf(`${BASE}limits:\n  store: { redis: { url_ref: { env: R } } }\n`, { R: "http://x" })).toEqual([
      "6:37 limits.store.redis.url_ref.env: environment variable R must hold a redis:// or rediss:// URL",
    ]);
  });
});

describe("limits: token estimate", () => {
  it("never under-counts a byte-level tokenizer: bytes of every text plus a template allowance; output is max_tokens or the default cap", () => {
    const e = estimateTokens(
      { messages: [{ role: "system", content: "Be brief." }, { role: "user", content: [{ type: "text", text: "héllo" }] }], max_tokens: 7, n: 2 },
      "chat",
      1,
      1024,
    );
    expect(e).toEqual({ input: 8 + 2 * 8 + 9 + 6, output: 14, injectMaxTokens: undefined });
    expect(estimateTokens({ messages: [{ role: "user", content: "abcd" }] }, "chat", 4, 300)).toEqual({ input: 8 + 8 + 1, output: 300, injectMaxTokens: 300 });
    expect(estimateTokens({ prompt: [[1, 2, 3], [4]] }, "completion", 1, 300)).toEqual({ input: 8 + 4, output: 32, injectMaxTokens: undefined });
  });
});

describe("limits: budget periods", () => {
  it("calendar periods in the budget's time zone, across a DST change", () => {
    const t = Date.parse("2026-03-29T12:00:00Z"); // Europe/Berlin springs forward that night
    const day = budgetPeriod({ tokens: 1, period: "day", timeZone: "Europe/Berlin" }, t);
    expect(new Date(day.start).toISOString()).toBe("2026-03-28T23:00:00.000Z");
    expect(new Date(day.end).toISOString()).toBe("2026-03-29T22:00:00.000Z");
    expect(day.name).toBe("day-2026-03-29");
    const week = budgetPeriod({ tokens: 1, period: "week", timeZone: "UTC" }, Date.parse("2026-12-02T10:00:00Z"));
    expect(week).toMatchObject({ name: "week-2026-11-30", start: Date.parse("2026-11-30T00:00:00Z"), end: Date.parse("2026-12-07T00:00:00Z") });
    const month = budgetPeriod({ tokens: 1, period: "month", timeZone: "America/New_York" }, Date.parse("2026-12-31T23:30:00Z"));
    expect(month).toMatchObject({ name: "month-2026-12", start: Date.parse("2026-12-01T05:00:00Z"), end: Date.parse("2027-01-01T05:00:00Z") });
  });
});

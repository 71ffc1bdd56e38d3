import { describe, expect, it } from "vitest";
import { ConfigError, MAX_CONFIG_TOKENS, parseConfig, parseProviderString, sha256Hex } from "../../src/config/index.js";

const PLAIN = `providers:
  targets:
    - id: openllm-llama3
      provider: openllm:chat:llama3:8b-instruct
      base_url: http://localhost:3000/v1
    - id: openllm-cloud-mistral
      provider: openllm:chat:mistral:7b-instruct
      base_url: https://your-openllm-deployment.bentoml.com/v1
      secret_key_ref:
        env: OPENLLM_API_KEY
policies:
  - id: openllm-governance
    description: Enforce data governance for OpenLLM traffic
    rules:
      - type: pii_detection
        action: redact
        patterns: [ssn, credit_card, email]
      - type: content_filter
        action: block
        categories: [violence, self_harm]
`;

const PACK = `pack:
  name: openllm-providers-2
  version: 1.0.0
  enabled: true
providers:
  targets:
    - id: openllm-llama3
      provider: openllm:chat:llama3:8b-instruct
      base_url: http://localhost:3000/v1
    - id: openllm-mistral
      provider: openllm:chat:mistral:7b-instruct
      base_url: http://localhost:3001/v1
policies:
  chain:
    - audit-logger
policy:
  audit-logger:
    immutable: true
    retention_days: 365
    log_all_access: true
`;

function issuesOf(text: string, env: Record<string, string> = {}): string[] {
  try {
    parseConfig(text, "policy-config.yaml", env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).message.split("\n");
  }
  throw new Error("expected the config to be rejected");
}

describe("config loading", () => {
  it("normalises the plain form with every target default from the spec's table", () => {
    const c = parseConfig(PLAIN, "f.yaml", { OPENLLM_API_KEY: "sk-cloud" });
    expect(c.targets[0]).toMatchObject({
      id: "openllm-llama3",
      kind: "chat",
      upstreamModel: "llama3:8b-instruct",
      baseUrl: "http://localhost:3000/v1",
      timeoutSeconds: 30,
      format: "openai",
      weight: 1,
      healthProbe: false,
      secret: undefined,
    });
    expect(c.targets[1]!.secret).toBe("sk-cloud");
    expect(c.policies).toHaveLength(1);
    expect(c.policies[0]!.rules[0]).toMatchObject({ type: "pii_detection", action: "redact", apply_to: "both", patterns: ["ssn", "credit_card", "email"] });
    expect(c.policies[0]!.rules[1]).toMatchObject({ type: "content_filter", action: "block", engine: "builtin", fail_open: false });
    expect(c.streaming.mode).toBe("buffered");
    expect(c.audit).toBeUndefined();
  });

  it("normalises the pack form with the audit-logger settings", () => {
    const c = parseConfig(PACK, "f.yaml", {});
    expect(c.pack).toEqual({ name: "openllm-providers-2", version: "1.0.0", enabled: true });
    expect(c.audit).toMatchObject({ immutable: true, retention_days: 365, log_all_access: true, path: "./audit-log" });
    expect(c.policies).toEqual([]);
  });

  it("defaults base_url and takes `model:` as the upstream name for bare openllm", () => {
    const c = parseConfig(`providers:\n  targets:\n    - id: a\n      provider: openllm\n      model: meta-llama/Llama-3.1-8B-Instruct\n`, "f", {});
    expect(c.targets[0]).toMatchObject({ kind: "any", upstreamModel: "meta-llama/Llama-3.1-8B-Instruct", baseUrl: "http://localhost:3000/v1" });
  });

  it("reports every problem as FILE:LINE:COL field: message", () => {
    const bad = `providers:
  targets:
    - id: a
      provider: openllm:chat:llama3:8b-instruct
      wieght: 2
    - id: a
      provider: vllm:chat:x
      base_url: http://localhost:3001
      timeout_seconds: "30"
      secret_key_ref:
        env: KT_TEST_UNSET_VAR
`;
    expect(issuesOf(bad)).toEqual([
      "policy-config.yaml:5:7 providers.targets[0].wieght: unknown key",
      "policy-config.yaml:6:11 providers.targets[1].id: duplicate target id 'a' (first at targets[0])",
      "policy-config.yaml:7:17 providers.targets[1].provider: unknown provider string: use openllm, openllm:chat:<model> or openllm:completion:<model>",
      "policy-config.yaml:8:17 providers.targets[1].base_url: must include the /v1 path (OpenLLM serves its OpenAI API under /v1)",
      "policy-config.yaml:9:24 providers.targets[1].timeout_seconds: expected number, received string",
      "policy-config.yaml:11:14 providers.targets[1].secret_key_ref.env: environment variable KT_TEST_UNSET_VAR is not set",
    ]);
  });

  it("locates errors inside policies of both forms", () => {
    const plain = PLAIN.replace("[violence, self_harm]", "[violence, gore]").replace("action: redact", "action: shred");
    const lines = issuesOf(plain, { OPENLLM_API_KEY: "x" });
    expect(lines[0]).toMatch(/^policy-config\.yaml:16:17 policies\[0\]\.rules\[0\]\.action: /);
    expect(lines[1]).toMatch(/^policy-config\.yaml:20:32 policies\[0\]\.rules\[1\]\.categories\[1\]: /);
    const pack = PACK.replace("retention_days: 365", "retention_days: forever").replace("    - audit-logger", "    - audit-logger\n    - pii-guard");
    const packLines = issuesOf(pack);
    expect(packLines.some((l) => /policies\.chain\[1\]: policy 'pii-guard' is not defined/.test(l))).toBe(true);
    expect(packLines.some((l) => /policy\.audit-logger\.retention_days: /.test(l))).toBe(true);
  });

  // One API key may hold a quarter of limits.max_held_body_bytes, and a body of max_body_bytes is
  // held in a buffer of its size class (a power of two): a smaller bound refused such bodies
  // forever, each with a 503 that invited a retry (the round-12 review).
  it("refuses a max_held_body_bytes too small for one key to hold a body of max_body_bytes", () => {
    const target = "providers:\n  targets:\n    - { id: a, provider: openllm, model: m }\n";
    // The default max_body_bytes (16 MiB): at least 64 MiB.
    expect(issuesOf(`${target}limits:\n  max_held_body_bytes: 1048576\n`)).toEqual([
      "policy-config.yaml:5:24 limits.max_held_body_bytes: must be at least 67108864 (4 x the 16777216-byte buffer a 16777216-byte body, max_body_bytes' default, is held in: one API key may hold a quarter of the bound); lower max_body_bytes or raise this",
    ]);
    // 300 KiB bodies are held in 512 KiB buffers: 2 MiB is the least.
    expect(issuesOf(`${target}limits:\n  max_body_bytes: 307200\n  max_held_body_bytes: 1048576\n`)[0]).toMatch(/limits\.max_held_body_bytes: must be at least 2097152 \(4 x the 524288-byte buffer a 307200-byte body, max_body_bytes, is held in/);
    expect(parseConfig(`${target}limits:\n  max_body_bytes: 307200\n  max_held_body_bytes: 2097152\n`, "f", {}).limits.maxHeldBodyBytes).toBe(2097152);
    expect(parseConfig(`${target}limits:\n  max_held_body_bytes: 67108864\n`, "f", {}).limits.maxHeldBodyBytes).toBe(67108864);
    // Bodies under 256 KiB are never held: any bound will do.
    expect(parseConfig(`${target}limits:\n  max_body_bytes: 200000\n  max_held_body_bytes: 1\n`, "f", {}).limits.maxHeldBodyBytes).toBe(1);
  });

  it("rejects YAML syntax errors with their position, and an empty file", () => {
    expect(issuesOf("providers:\n  targets: [\n")[0]).toMatch(/^policy-config\.yaml:\d+:\d+ \(yaml\): /);
    expect(issuesOf("")[0]).toMatch(/providers: is required/);
  });

  it("hashes configured API keys and never keeps the plain key", () => {
    const c = parseConfig(`auth:\n  api_keys:\n    - id: team-a\n      secret_key_ref: { env: KEY_A }\n    - id: ops\n      sha256: ${sha256Hex("ops-key")}\n      scopes: [chat, admin]\n${PLAIN}`, "f", { KEY_A: "kt-a", OPENLLM_API_KEY: "x" });
    expect(c.apiKeys).toEqual([
      { id: "team-a", sha256: sha256Hex("kt-a"), scopes: ["chat"] },
      { id: "ops", sha256: sha256Hex("ops-key"), scopes: ["chat", "admin"] },
    ]);
    expect(JSON.stringify(c.apiKeys)).not.toContain("kt-a");
  });
});

// Round 14's outside battery: a 7 MB file of `kN: [1,1,...]` lines (under the 10 MB cap) froze a
// reload for minutes: the yaml package's uniqueKeys compared each key with every earlier one, and
// composing costs ~3 us a token. Duplicates are now found in one pass, and a file with more tokens
// than a config ever needs is refused before it is parsed.
describe("config size in YAML tokens", () => {
  const many = (lines: number, item: (i: number) => string) => `${PLAIN}extra:\n${Array.from({ length: lines }, (_, i) => `  ${item(i)}\n`).join("")}`;

  it("a file of more tokens than MAX_CONFIG_TOKENS is refused with the reason, before it is parsed", () => {
    const text = many(3000, (i) => `k${i}: [${Array(40).fill(1).join(",")}]`);
    expect(text.length).toBeLessThan(400 * 1024);
    expect(issuesOf(text, { OPENLLM_API_KEY: "x" })).toEqual([
      `policy-config.yaml:1:1 (file): has more than ${MAX_CONFIG_TOKENS} YAML tokens (keys, values, list items, punctuation), the most a config file may have; a gateway config needs a few thousand`,
    ]);
  });

  it("a map of 10,000 keys just under the bound loads as before: duplicates found where they are, block and flow", () => {
    const text = many(10_000, (i) => (i === 9_999 ? "k17: 2" : `k${i}: 1`)) + "streaming: { mode: buffered, mode: incremental }\n";
    expect(issuesOf(text, { OPENLLM_API_KEY: "x" })).toEqual([
      "policy-config.yaml:10021:3 (yaml): Map keys must be unique",
      "policy-config.yaml:10022:30 (yaml): Map keys must be unique",
    ]);
    // Unique keys, values that look alike but differ in type (1 and "1"), collection keys: no error.
    expect(issuesOf(many(10_000, (i) => `k${i}: 1`) + "more: { 1: a, \"1\": b, [x]: c, [x]: d }\n", { OPENLLM_API_KEY: "x" })).toEqual([
      "policy-config.yaml:21:1 extra: unknown key",
      "policy-config.yaml:10022:1 more: unknown key",
    ]);
  });
});

describe("provider strings", () => {
  it("keeps colons and slashes in the model part", () => {
    expect(parseProviderString("openllm:chat:llama3:8b-instruct")).toEqual({ runtime: "openllm", kind: "chat", model: "llama3:8b-instruct" });
    expect(parseProviderString("openllm:completion:meta-llama/Llama-3.1-8B")).toEqual({ runtime: "openllm", kind: "completion", model: "meta-llama/Llama-3.1-8B" });
    expect(parseProviderString("openllm")).toEqual({ runtime: "openllm", kind: "any", model: undefined });
    for (const bad of ["openllm:chat:", "openllm:embed:x", "vllm:chat:x", "", "openllm:chat"]) expect(parseProviderString(bad)).toBeUndefined();
  });
});

describe("policy rules in config", () => {
  it("rejects an unknown PII pattern name with its position", () => {
    const text = `providers:\n  targets:\n    - { id: a, provider: "openllm:chat:x" }\npolicies:\n  - id: p\n    rules:\n      - type: pii_detection\n        patterns: [email, social]\n`;
    let message = "";
    try {
      parseConfig(text, "c.yaml", {});
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/^c\.yaml:8:27 policies\[0\]\.rules\[0\]\.patterns\[1\]: unknown pattern: use one of /);
  });
});

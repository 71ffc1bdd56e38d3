/**
 * policy-config files for the benchmarks. JSON is valid YAML, so the configs are written as JSON.
 * The target's provider string carries the fake's served model id, so the very same request body
 * (model `meta-llama/Llama-3.1-8B-Instruct`) works direct, through nginx and through the gateway.
 *
 * "Full chain" is the chain as a user deploys it this round: PII with every built-in recogniser
 * (names, street addresses, postal codes, dates of birth and locations included) both ways, the
 * built-in content classifier on every category, usage limits (embedded store, or Redis) with a
 * default limit set that has every kind of limit, the audit log with signed checkpoints; the
 * gateway runs with its JSON access log at info and its metrics registry (both the defaults).
 */
import { generateKeyPairSync } from "node:crypto";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { builtinPiiTypes, contentCategories } from "../../src/config/index.js";

export const MODEL = "meta-llama/Llama-3.1-8B-Instruct";

export const PII_PATTERNS: string[] = [...builtinPiiTypes];
export const CONTENT_CATEGORIES: string[] = [...contentCategories];

/** The chat body of every throughput run: an email and a Luhn-valid card number in the prompt. */
export const CHAT_BODY = JSON.stringify({
  model: MODEL,
  messages: [
    { role: "system", content: "You are a helpful assistant." },
    { role: "user", content: "Please update the billing contact to jane.doe@example.com and charge card 4111 1111 1111 1111 for the renewal." },
  ],
  max_tokens: 64,
});

export type PolicySet = "off" | "full";

export interface GatewayConfigOptions {
  baseUrl: string;
  policies: PolicySet;
  /** Directory for the audit log (full chain only). */
  auditDir?: string;
  streaming?: "buffered" | "incremental";
  /** Usage limits store of the full chain: embedded (default) or Redis (KT_BENCH_REDIS_URL in the gateway's env). */
  limitsStore?: "embedded" | "redis";
  /** Streams in flight the process and the (loopback) key may hold: raise for the 10,000-stream run. */
  maxStreams?: number;
}

/** Env var names the full-chain config refers to (secret_key_ref / url_ref). */
export const SIGNING_KEY_ENV = "KT_BENCH_AUDIT_SIGNING_KEY";
export const REDIS_URL_ENV = "KT_BENCH_REDIS_URL";

let signingKey: string | undefined;
/** An Ed25519 key (PKCS#8 PEM) for the audit checkpoints, made once per bench process (what `kt audit keygen` writes). */
export function auditSigningKey(): string {
  signingKey ??= generateKeyPairSync("ed25519").privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  return signingKey;
}

/** The env a full-chain gateway needs: its checkpoint signing key, and the Redis URL when given. */
export function gatewayEnv(redisUrl?: string): Record<string, string> {
  return { [SIGNING_KEY_ENV]: auditSigningKey(), ...(redisUrl ? { [REDIS_URL_ENV]: redisUrl } : {}) };
}

/**
 * Loopback clients are charged to `limits.default`. Every kind of limit is set (so every window,
 * slot and budget is reserved and settled per request), high enough never to refuse bench traffic.
 */
function limitsSection(o: GatewayConfigOptions): Record<string, unknown> {
  const streams = o.maxStreams ?? 4096;
  return {
    max_concurrent_streams: streams,
    ...(o.limitsStore === "redis" ? { store: { redis: { url_ref: { env: REDIS_URL_ENV }, key_prefix: "ktbench" } } } : {}),
    default: {
      requests_per_minute: 100_000_000,
      tokens_per_minute: 1_000_000_000_000,
      input_tokens_per_minute: 1_000_000_000_000,
      output_tokens_per_minute: 1_000_000_000_000,
      max_concurrent_requests: Math.max(4096, streams),
      max_concurrent_streams: streams,
      token_budget: { tokens: 1_000_000_000_000_000 / 1000, period: "month" },
    },
  };
}

export function gatewayConfig(o: GatewayConfigOptions): Record<string, unknown> {
  const providers = {
    targets: [{ id: "bench-target", provider: `openllm:chat:${MODEL}`, base_url: o.baseUrl, timeout_seconds: 120 }],
  };
  const streaming = o.streaming ? { streaming: { mode: o.streaming } } : {};
  if (o.policies === "off") return { providers, ...streaming, ...(o.maxStreams ? { limits: { max_concurrent_streams: o.maxStreams, default: { max_concurrent_streams: o.maxStreams, max_concurrent_requests: o.maxStreams } } } : {}) };
  if (!o.auditDir) throw new Error("the full chain needs an audit directory");
  return {
    pack: { name: "bench-full-chain", version: "1.0.0" },
    providers,
    policies: { chain: ["pii", "content", "audit-logger"] },
    policy: {
      pii: { rules: [{ type: "pii_detection", action: "redact", patterns: PII_PATTERNS, apply_to: "both" }] },
      content: { rules: [{ type: "content_filter", action: "block", engine: "builtin", categories: CONTENT_CATEGORIES }] },
      "audit-logger": { immutable: true, retention_days: 365, log_all_access: false, path: o.auditDir, signing_key_ref: { env: SIGNING_KEY_ENV }, checkpoint_every: 1000 },
    },
    limits: limitsSection(o),
    ...streaming,
  };
}

export function writeGatewayConfig(dir: string, name: string, o: GatewayConfigOptions): string {
  const p = path.join(dir, `${name}.yaml`);
  writeFileSync(p, JSON.stringify(gatewayConfig(o), null, 2) + "\n");
  return p;
}

/** One line for reports: what "full chain" switched on. */
export function fullChainLine(): string {
  return `Full chain: PII redaction both ways with every built-in recogniser (${PII_PATTERNS.join(", ")}); the built-in content classifier on ${CONTENT_CATEGORIES.join(", ")}; usage limits (embedded store unless said otherwise) with every kind of limit in the loopback key's default set; the audit log with Ed25519-signed checkpoints every 1000 records; the JSON access log at info on stderr and the metrics registry (the gateway's defaults).`;
}

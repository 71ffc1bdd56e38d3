import type { Scope } from "../wire/index.js";
import type { AuditLoggerSettings, Rule } from "./schema.js";
import type { ProviderKind } from "./provider-string.js";

/** The normalised configuration both YAML forms turn into. */
export interface GatewayConfig {
  /** Path the config was loaded from (for messages and reloads). */
  source: string;
  pack: { name: string; version: string; enabled: boolean } | undefined;
  targets: Target[];
  /** Policies in chain order; each holds its rules in order. */
  policies: Policy[];
  /** Settings of the `audit-logger` policy; undefined when no audit-logger is configured. */
  audit: AuditLoggerSettings | undefined;
  streaming: { mode: "buffered" | "incremental" };
  apiKeys: ApiKey[];
  limits: {
    maxBodyBytes: number | undefined;
    /** Streams open at once across all clients; more get 429. */
    maxConcurrentStreams: number;
    /** Non-streamed requests in progress at once across all clients and front doors; more get 429. */
    maxConcurrentRequests: number;
    /** Streams open at once per API key; undefined for no per-key bound. */
    maxStreamsPerKey: number | undefined;
    /** Deepest JSON nesting a request body may have. */
    maxJsonDepth: number;
    /** Bytes of large request bodies (from 256 KiB) held at once, in every request; past it a new one gets 503. */
    maxHeldBodyBytes: number;
  } & UsageLimits;
}

/** Usage governance (`limits:`): rates, concurrency and token budgets, enforced by src/limits. */
export interface UsageLimits {
  /** Where counters live: this process (shared by --workers through the primary) or Redis. */
  store: LimitsStoreConfig;
  /** What a request gets when the store cannot be reached: refused (503) or let through unmetered. */
  onStoreFailure: "deny" | "allow";
  /** Output tokens reserved (and the `max_tokens` sent upstream) for a request that sets none. */
  defaultMaxTokens: number;
  /** UTF-8 bytes of prompt text reserved as one token; 1 never under-reserves a byte-level BPE model. */
  bytesPerToken: number;
  /** Time zone of budget periods that name none. */
  timeZone: string;
  /** Limits of keys that set none of their own (`limits.default`); empty when not configured. */
  default: LimitSet;
  /** Shared limits by team name (`limits.teams`). */
  teams: Record<string, LimitSet>;
}

export type LimitsStoreConfig =
  | { kind: "embedded" }
  | {
      kind: "redis";
      /** Resolved from `url_ref.env` at load time; never logged (it may carry a password). */
      url: string;
      urlEnv: string;
      /** Every key the gateway writes starts with `<keyPrefix>:`. */
      keyPrefix: string;
      /** A command slower than this counts as a store failure. */
      timeoutMs: number;
    };

/** One set of limits; an unset field is no limit. */
export interface LimitSet {
  requestsPerMinute?: number;
  tokensPerMinute?: number;
  inputTokensPerMinute?: number;
  outputTokensPerMinute?: number;
  /** Requests in flight at once (streamed or not), across all replicas. */
  maxConcurrentRequests?: number;
  /** Streams in flight at once, across all replicas. */
  maxConcurrentStreams?: number;
  tokenBudget?: TokenBudget;
}

export interface TokenBudget {
  tokens: number;
  /** Calendar period: a day, a week from Monday, or a month, in `timeZone`. */
  period: "day" | "week" | "month";
  timeZone: string;
}

export interface Target {
  id: string;
  provider: string;
  kind: ProviderKind;
  /** The model name sent upstream, verbatim: `model:` if set, else the provider string's model. */
  upstreamModel: string;
  /** The model named by the provider string (undefined for bare `openllm`). */
  providerModel: string | undefined;
  baseUrl: string;
  secretEnv: string | undefined;
  /** Bearer token resolved from `secret_key_ref` at load time; never logged or exposed. */
  secret: string | undefined;
  /** Time to the response headers (first byte); for a non-streamed call, to the whole answer. */
  timeoutSeconds: number;
  connectTimeoutSeconds: number;
  /** Longest gap between two chunks of a stream; defaults to max(timeout_seconds, 60). */
  idleTimeoutSeconds: number;
  /** Whole-request bound, streams included; undefined for none. */
  totalTimeoutSeconds: number | undefined;
  format: "openai";
  description: string | undefined;
  weight: number;
  healthProbe: boolean;
  /** Limits on all traffic to this target; undefined for none. */
  limits: LimitSet | undefined;
}

export interface Policy {
  id: string;
  description: string | undefined;
  rules: Rule[];
}


export interface ApiKey {
  id: string;
  /** sha256 of the key, lower-case hex: plain keys are hashed at load so only digests stay in memory. */
  sha256: string;
  scopes: Scope[];
  /** The team whose shared limits (`limits.teams`) this key counts against. */
  team: string | undefined;
  /** The key's own limits; undefined to use `limits.default`. */
  limits: LimitSet | undefined;
}

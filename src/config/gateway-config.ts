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
    /** Streams open at once per API key; undefined for no per-key bound. */
    maxStreamsPerKey: number | undefined;
    /** Deepest JSON nesting a request body may have. */
    maxJsonDepth: number;
  };
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
}

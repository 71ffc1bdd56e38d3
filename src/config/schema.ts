import { z } from "zod";
import { builtinPatternName, builtinPiiTypes } from "./pii-pattern-names.js";
import { parseProviderString } from "./provider-string.js";
import { customRegexProblem } from "./regex-cost.js";

/** zod schemas for policy-config.yaml: both the plain form and the `pack:` form. */

const secretKeyRef = z.strictObject({
  env: z.string().min(1, "must name an environment variable"),
});

/** A time zone the runtime knows (IANA name such as `Europe/Berlin`, or `UTC`). */
const timeZone = z.string().refine(
  (tz) => {
    try {
      new Intl.DateTimeFormat("en-US", { timeZone: tz });
      return true;
    } catch {
      return false;
    }
  },
  { message: "unknown time zone: use an IANA name such as UTC or Europe/Berlin" },
);

/** One set of usage limits: for a key, a team, a target, or the default of keys that set none. */
export const limitSetSchema = z.strictObject({
  requests_per_minute: z.int().positive().optional(),
  tokens_per_minute: z.int().positive().optional(),
  input_tokens_per_minute: z.int().positive().optional(),
  output_tokens_per_minute: z.int().positive().optional(),
  max_concurrent_requests: z.int().positive().optional(),
  max_concurrent_streams: z.int().positive().optional(),
  token_budget: z
    .strictObject({
      tokens: z.int().positive(),
      period: z.enum(["day", "week", "month"]),
      time_zone: timeZone.optional(),
    })
    .optional(),
});

export const targetSchema = z.strictObject({
  id: z.string().min(1, "must not be empty"),
  provider: z.string().refine((p) => parseProviderString(p) !== undefined, {
    message: "unknown provider string: use openllm, openllm:chat:<model> or openllm:completion:<model>",
  }),
  model: z.string().min(1).optional(),
  base_url: z
    .string()
    .default("http://localhost:3000/v1")
    .refine((u) => URL.canParse(u) && /^https?:$/.test(new URL(u).protocol), { message: "must be an http(s) URL" })
    .refine((u) => /\/v1\/?$/.test(u), { message: "must include the /v1 path (OpenLLM serves its OpenAI API under /v1)" }),
  secret_key_ref: secretKeyRef.optional(),
  timeout_seconds: z.number().positive().default(30),
  // Ours, beside the spec's table: each timeout is its own error and audit outcome.
  connect_timeout_seconds: z.number().positive().default(10),
  idle_timeout_seconds: z.number().positive().optional(),
  total_timeout_seconds: z.number().positive().optional(),
  format: z.literal("openai").default("openai"),
  description: z.string().optional(),
  weight: z.int().nonnegative().default(1),
  health_probe: z.boolean().default(false),
  // Limits on all traffic to this target together (a small GPU pool), whoever sends it.
  limits: limitSetSchema.optional(),
});

const customPattern = z.strictObject({
  name: z.string().regex(/^[a-z][a-z0-9_]*$/i, "must be a simple identifier"),
  // Custom patterns run on RE2 (linear time in the text, whatever the pattern): a pattern RE2
  // cannot run, such as one with lookaround or a backreference, is refused here with RE2's reason.
  regex: z.string().superRefine((r, ctx) => {
    const problem = customRegexProblem(r);
    if (problem === undefined) return;
    ctx.addIssue({
      code: "custom",
      message:
        "syntax" in problem
          ? `is not a regular expression the linear-time engine (RE2 syntax) can run: ${problem.syntax}; lookaround and backreferences are not supported`
          : problem.cost,
    });
  }),
});

export const applyTo = z.enum(["request", "response", "both"]).default("both");

export const piiRuleSchema = z.strictObject({
  type: z.literal("pii_detection"),
  id: z.string().optional(),
  action: z.enum(["redact", "mask", "block", "log"]).default("redact"),
  patterns: z
    .array(
      z.union([
        z.string().refine((n) => builtinPatternName(n) !== undefined, {
          message: `unknown pattern: use one of ${builtinPiiTypes.join(", ")}, or {name, regex} for a custom one`,
        }),
        customPattern,
      ]),
    )
    .min(1),
  apply_to: applyTo,
  replacement: z.string().optional(),
  /** National phone formats recognised (ISO 3166 alpha-2); `+CC` numbers are found whatever this says. */
  regions: z
    .array(z.string().regex(/^[A-Za-z]{2}$/, "a two-letter region code such as US, GB, DE"))
    .min(1)
    .optional(),
  /** Also find spelled-out email addresses: `jane [at] example [dot] com`. */
  obfuscated: z.boolean().optional(),
  /** Let token-id prompts through (recorded) instead of refusing them: no rule can read them. */
  allow_token_prompts: z.boolean().optional(),
});

export const contentCategories = ["violence", "self_harm", "hate", "sexual", "harassment", "illicit", "prompt_injection"] as const;

/** Guard-model engines: served by a configured target, each with its own prompt and verdict format. */
export const guardEngines = ["llama_guard", "shieldgemma", "granite_guardian"] as const;

const score = z.number().gt(0).lte(1);

export const contentFilterRuleSchema = z.strictObject({
  type: z.literal("content_filter"),
  id: z.string().optional(),
  action: z.enum(["block", "log"]).default("block"),
  categories: z.array(z.enum(contentCategories)).min(1),
  engine: z.enum(["builtin", ...guardEngines]).default("builtin"),
  target: z.string().optional(),
  fail_open: z.boolean().default(false),
  apply_to: applyTo,
  /** Built-in classifier: one score threshold (0-1] for every category; `thresholds` overrides per category. */
  threshold: score.optional(),
  thresholds: z.partialRecord(z.enum(contentCategories), score).optional(),
  /**
   * Guard engines: run the built-in classifier first and ask the guard model only when the
   * classifier's highest score lies in [low, high); below is allowed, at or above is decided by the
   * classifier.
   */
  classifier_band: z
    .tuple([z.number().min(0).max(1), z.number().min(0).max(1)])
    .refine(([lo, hi]) => lo < hi, { message: "needs low < high" })
    .optional(),
  /** Guard engines, incremental streaming: tokens (about 4 characters each) judged per window. */
  stream_window_tokens: z.int().positive().max(4096).default(64),
  /** Guard engines: verdicts kept by the hash of the judged text (0 turns the cache off). */
  verdict_cache: z.int().min(0).max(1_000_000).default(1024),
});

export const ruleSchema = z.discriminatedUnion("type", [piiRuleSchema, contentFilterRuleSchema]);

export const plainPolicySchema = z.strictObject({
  id: z.string().min(1),
  description: z.string().optional(),
  enabled: z.boolean().default(true),
  rules: z.array(ruleSchema).default([]),
});

export const auditLoggerSchema = z.strictObject({
  immutable: z.boolean().default(true),
  retention_days: z.int().positive().default(365),
  log_all_access: z.boolean().default(false),
  path: z.string().min(1).default("./audit-log"),
  segment_bytes: z.int().positive().default(64 * 1024 * 1024),
  /** `write`: an answer leaves once its record is written to the file; `fsync`: once it is on disk. */
  durability: z.enum(["write", "fsync"]).default("write"),
  /** An Ed25519 private key (PKCS#8 PEM) in this environment variable signs checkpoints of the chain. */
  signing_key_ref: secretKeyRef.optional(),
  /** A signed checkpoint every this many records (also at each segment seal and at shutdown). */
  checkpoint_every: z.int().positive().default(1000),
  /** Failed authentications per client address are aggregated into one record per window. */
  auth_failure_window_seconds: z.int().positive().default(60),
});

export const policyChainSchema = z.strictObject({ chain: z.array(z.string().min(1)) });

export const namedPolicySchema = z.strictObject({
  description: z.string().optional(),
  rules: z.array(ruleSchema).default([]),
});

const apiKeySchema = z
  .strictObject({
    id: z.string().min(1),
    secret_key_ref: secretKeyRef.optional(),
    sha256: z
      .string()
      .regex(/^[0-9a-f]{64}$/i, "must be 64 hex digits")
      .optional(),
    scopes: z.array(z.enum(["chat", "admin"])).default(["chat"]),
    // Keys of one team share `limits.teams.<team>` together, on top of their own limits.
    team: z.string().min(1).optional(),
    limits: limitSetSchema.optional(),
  })
  .refine((k) => (k.secret_key_ref === undefined) !== (k.sha256 === undefined), {
    message: "needs exactly one of secret_key_ref or sha256",
  });

export const configSchema = z.strictObject({
  pack: z
    .strictObject({
      name: z.string().min(1),
      version: z.string().min(1),
      enabled: z.boolean().default(true),
      description: z.string().optional(),
    })
    .optional(),
  auth: z.strictObject({ api_keys: z.array(apiKeySchema).default([]) }).optional(),
  providers: z.strictObject({ targets: z.array(targetSchema).min(1, "needs at least one target") }),
  // Validated by form (list or chain) in load-config, so errors point inside the policies.
  policies: z.unknown().optional(),
  policy: z.record(z.string(), z.unknown()).optional(),
  streaming: z.strictObject({ mode: z.enum(["buffered", "incremental"]).default("buffered") }).optional(),
  limits: z
    .strictObject({
      max_body_bytes: z.int().positive().optional(),
      max_concurrent_streams: z.int().positive().default(2000),
      max_concurrent_requests: z.int().positive().default(4000),
      max_streams_per_key: z.int().positive().optional(),
      max_json_depth: z.int().positive().default(64),
      max_held_body_bytes: z.int().positive().default(1024 * 1024 * 1024),
      // Usage governance (src/limits): where counters live and the limits of keys that set none.
      store: z
        .union([
          z.literal("embedded"),
          z.strictObject({
            redis: z.strictObject({
              url_ref: secretKeyRef,
              key_prefix: z.string().regex(/^[A-Za-z0-9_.:-]+$/, "letters, digits and _ . : - only").default("kt"),
              timeout_ms: z.int().positive().default(500),
            }),
          }),
        ])
        .default("embedded"),
      on_store_failure: z.enum(["deny", "allow"]).default("deny"),
      default_max_tokens: z.int().positive().default(1024),
      bytes_per_token: z.number().positive().max(16).default(1),
      time_zone: timeZone.default("UTC"),
      default: limitSetSchema.optional(),
      teams: z.record(z.string().min(1), limitSetSchema).optional(),
    })
    .optional(),
});

export type RawLimitSet = z.infer<typeof limitSetSchema>;
export type RawConfig = z.infer<typeof configSchema>;
export type RawTarget = z.infer<typeof targetSchema>;
export type Rule = z.infer<typeof ruleSchema>;
export type PiiRule = z.infer<typeof piiRuleSchema>;
export type ContentFilterRule = z.infer<typeof contentFilterRuleSchema>;
export type AuditLoggerSettings = z.infer<typeof auditLoggerSchema>;
export type ContentCategory = (typeof contentCategories)[number];
export type GuardEngine = (typeof guardEngines)[number];

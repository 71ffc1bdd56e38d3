import { createHash, createPrivateKey } from "node:crypto";
import { closeSync, openSync, readFileSync, readSync } from "node:fs";
import { isMap, isScalar, isSeq, Lexer, LineCounter, parseDocument, visit, type Document, type Node } from "yaml";
import type { z } from "zod";
import { ConfigError, type ConfigIssue } from "./config-error.js";
import type { ApiKey, GatewayConfig, LimitSet, LimitsStoreConfig, Policy, Target } from "./gateway-config.js";
import { minHeldBodyBound } from "../wire/index.js";
import { parseProviderString } from "./provider-string.js";
import {
  auditLoggerSchema,
  guardEngines,
  configSchema,
  namedPolicySchema,
  plainPolicySchema,
  policyChainSchema,
  type AuditLoggerSettings,
  type RawConfig,
  type RawLimitSet,
} from "./schema.js";

type Path = readonly (string | number)[];
type Env = Record<string, string | undefined>;

/** Reads, validates and normalises a policy-config.yaml; throws ConfigError listing every problem found. */
export function loadConfigFile(file: string, env: Env = process.env): GatewayConfig {
  let text: string;
  try {
    text = readCapped(file, MAX_CONFIG_BYTES);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    const reason = code === "ENOENT" ? "file not found" : code === "EISDIR" ? "is a directory, not a file" : `cannot be read (${code ?? "error"})`;
    throw new ConfigError([{ file, line: 1, col: 1, field: "(file)", message: reason }]);
  }
  return parseConfig(text, file, env);
}

/** A config file larger than this is refused (reading /dev/zero must not grow memory without bound). */
export const MAX_CONFIG_BYTES = 10 * 1024 * 1024;

/** Reads at most `cap` bytes, in pieces, so a device or a growing file cannot make it read forever. */
function readCapped(file: string, cap: number): string {
  const fd = openSync(file, "r");
  try {
    const buf = Buffer.allocUnsafe(cap + 1);
    let size = 0;
    for (;;) {
      const n = readSync(fd, buf, size, Math.min(64 * 1024, cap + 1 - size), null);
      if (n === 0) break;
      size += n;
      if (size > cap)
        throw new ConfigError([{ file, line: 1, col: 1, field: "(file)", message: `is larger than ${cap / (1024 * 1024)} MB, the most a config file may be` }]);
    }
    return buf.toString("utf8", 0, size);
  } finally {
    closeSync(fd);
  }
}

/**
 * A config with more YAML tokens than this is refused before it is parsed. The yaml package
 * spends ~3 us of CPU per token composing a document, on the main thread (a reload holds the
 * event loop for it): a real gateway config has a few thousand tokens (~2.3 bytes each), and
 * at this bound the parse holds ~0.3 s; the 10 MB size cap alone let a 7 MB file of flow lists
 * (3.3M tokens) hold it for minutes.
 */
export const MAX_CONFIG_TOKENS = 100_000;

/** Counts the lexer's tokens, stopping at the first past `cap` (a cheap pass: ~0.5 us a token). */
function tokenCountOver(text: string, cap: number): boolean {
  let n = 0;
  for (const _ of new Lexer().lex(text)) if (++n > cap) return true;
  return false;
}

export function parseConfig(text: string, file: string, env: Env = process.env): GatewayConfig {
  if (tokenCountOver(text, MAX_CONFIG_TOKENS))
    throw new ConfigError([
      { file, line: 1, col: 1, field: "(file)", message: `has more than ${MAX_CONFIG_TOKENS} YAML tokens (keys, values, list items, punctuation), the most a config file may have; a gateway config needs a few thousand` },
    ]);
  const lineCounter = new LineCounter();
  // Duplicate keys are found by duplicateKeys() below, not the parser's uniqueKeys, which compares
  // each key with every earlier key of its map (quadratic: 80,000 keys took over a minute).
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: false });
  const issues: ConfigIssue[] = [];
  const at = (path: Path, message: string, onKey = false) => {
    const offset = locate(doc, path, onKey);
    const pos = lineCounter.linePos(offset);
    issues.push({ file, line: pos.line, col: pos.col, field: formatPath(path), message });
  };

  for (const e of doc.errors) {
    const pos = lineCounter.linePos(e.pos[0]);
    issues.push({ file, line: pos.line, col: pos.col, field: "(yaml)", message: e.message.split("\n")[0]! });
  }
  for (const offset of duplicateKeys(doc)) {
    const pos = lineCounter.linePos(offset);
    issues.push({ file, line: pos.line, col: pos.col, field: "(yaml)", message: "Map keys must be unique" });
  }
  if (issues.length > 0) throw new ConfigError(issues);

  let raw: unknown;
  try {
    raw = doc.toJS() ?? {};
  } catch (err) {
    // Aliases are resolved here: an unresolved alias or an alias bomb throws a ReferenceError.
    throw new ConfigError([{ file, line: 1, col: 1, field: "(yaml)", message: (err as Error).message.split("\n")[0]! }]);
  }
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) reportZod(parsed.error.issues, [], at);

  // Cross-field checks run on the raw tree too, so one run reports every problem, not the first layer.
  const r = raw as Record<string, any>;
  const targets: any[] = Array.isArray(r?.providers?.targets) ? r.providers.targets : [];
  const seenTargets = new Map<string, number>();
  targets.forEach((t, i) => {
    if (typeof t?.id !== "string") return;
    if (seenTargets.has(t.id)) at(["providers", "targets", i, "id"], `duplicate target id '${t.id}' (first at targets[${seenTargets.get(t.id)}])`);
    else seenTargets.set(t.id, i);
    const envName = t?.secret_key_ref?.env;
    if (typeof envName === "string" && envName && env[envName] === undefined)
      at(["providers", "targets", i, "secret_key_ref", "env"], `environment variable ${envName} is not set`);
    if (t?.provider === "openllm" && typeof t?.model !== "string")
      at(["providers", "targets", i], "the bare `openllm` provider needs `model:` to name the upstream model");
  });

  const keys: any[] = Array.isArray(r?.auth?.api_keys) ? r.auth.api_keys : [];
  const seenKeys = new Set<string>();
  keys.forEach((k, i) => {
    if (typeof k?.id === "string") {
      if (seenKeys.has(k.id)) at(["auth", "api_keys", i, "id"], `duplicate api key id '${k.id}'`);
      seenKeys.add(k.id);
    }
    const envName = k?.secret_key_ref?.env;
    if (typeof envName === "string" && envName && env[envName] === undefined)
      at(["auth", "api_keys", i, "secret_key_ref", "env"], `environment variable ${envName} is not set`);
    const teams = r?.limits?.teams;
    if (typeof k?.team === "string" && !(teams && typeof teams === "object" && Object.hasOwn(teams, k.team)))
      at(["auth", "api_keys", i, "team"], `team '${k.team}' has no limits under limits.teams`);
  });
  const redisEnv = r?.limits?.store?.redis?.url_ref?.env;
  if (typeof redisEnv === "string" && redisEnv) {
    const url = env[redisEnv];
    if (url === undefined) at(["limits", "store", "redis", "url_ref", "env"], `environment variable ${redisEnv} is not set`);
    else if (!/^rediss?:\/\//.test(url)) at(["limits", "store", "redis", "url_ref", "env"], `environment variable ${redisEnv} must hold a redis:// or rediss:// URL`);
  }

  checkHeldBodyBound(r, at);

  const policies = collectPolicies(r, at);
  checkRuleTargets(policies.list, seenTargets, at);
  checkSigningKey(r, env, at);

  if (issues.length > 0 || !parsed.success) throw new ConfigError(issues.sort((a, b) => a.line - b.line || a.col - b.col));
  return normalise(parsed.data, policies.list, policies.audit, file, env);
}

/** max_body_bytes when the config sets none (src/server/gateway.ts DEFAULT_MAX_BODY_BYTES; `--max-body-bytes` wins over both). */
const DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024;

/**
 * limits.max_held_body_bytes must let one API key (a quarter of it) hold a body of max_body_bytes:
 * below that, every body in the top size classes would be refused, forever, with a 503 that
 * invites a retry (the front door's 413 for such a body is the guard when `--max-body-bytes`
 * raises the limit past what the config says).
 */
function checkHeldBodyBound(r: Record<string, any>, at: (p: Path, m: string) => void): void {
  const bound = r?.limits?.max_held_body_bytes;
  if (!Number.isInteger(bound) || bound <= 0) return;
  const set = r?.limits?.max_body_bytes;
  const body = Number.isInteger(set) && set > 0 ? (set as number) : DEFAULT_MAX_BODY_BYTES;
  const least = minHeldBodyBound(body);
  if (bound < least)
    at(
      ["limits", "max_held_body_bytes"],
      `must be at least ${least} (4 x the ${least / 4}-byte buffer a ${body}-byte body, max_body_bytes${Number.isInteger(set) ? "" : "' default"}, is held in: one API key may hold a quarter of the bound); lower max_body_bytes or raise this`,
    );
}

/** The audit-logger's signing key must be set and be an Ed25519 private key, found at start-up. */
function checkSigningKey(r: Record<string, any>, env: Record<string, string | undefined>, at: (p: Path, m: string) => void): void {
  const envName = r?.policy?.["audit-logger"]?.signing_key_ref?.env;
  if (typeof envName !== "string" || !envName) return;
  const path: Path = ["policy", "audit-logger", "signing_key_ref", "env"];
  const pem = env[envName];
  if (pem === undefined) return at(path, `environment variable ${envName} is not set`);
  try {
    const key = createPrivateKey(pem);
    if (key.asymmetricKeyType !== "ed25519") at(path, `${envName} holds a ${key.asymmetricKeyType ?? "non-asymmetric"} key; an Ed25519 private key (PKCS#8 PEM) is needed`);
  } catch {
    at(path, `${envName} is not a PEM private key (make one with \`kt audit keygen\`)`);
  }
}

interface PolicyPaths {
  list: { policy: Policy; path: Path }[];
  audit: AuditLoggerSettings | undefined;
}

function collectPolicies(r: Record<string, any>, at: (p: Path, m: string, k?: boolean) => void): PolicyPaths {
  const out: PolicyPaths = { list: [], audit: undefined };
  const named = r?.policy;
  if (Array.isArray(r?.policies)) {
    if (named !== undefined) at(["policy"], "`policy:` definitions are used with the pack form `policies: { chain: [...] }`", true);
    const seen = new Set<string>();
    r.policies.forEach((p: any, i: number) => {
      if (typeof p?.id === "string" && seen.has(p.id)) at(["policies", i, "id"], `duplicate policy id '${p.id}'`);
      seen.add(p?.id);
      const res = plainPolicySchema.safeParse(p);
      if (!res.success) reportZod(res.error.issues, ["policies", i], at);
      else if (res.data.enabled)
        out.list.push({ policy: { id: p.id, description: res.data.description, rules: res.data.rules }, path: ["policies", i] });
    });
    return out;
  }
  if (r?.policies === undefined || r.policies === null) {
    if (named !== undefined) at(["policy"], "`policy:` definitions need `policies: { chain: [...] }` to put them in order", true);
    return out;
  }
  const form = policyChainSchema.safeParse(r.policies);
  if (!form.success) {
    reportZod(form.error.issues, ["policies"], at);
    return out;
  }
  const chain = form.data.chain;
  chain.forEach((name, i) => {
    if (typeof name !== "string") return;
    const def = named?.[name];
    if (name === "audit-logger") {
      const res = auditLoggerSchema.safeParse(def ?? {});
      if (res.success) out.audit = res.data;
      else reportZod(res.error.issues, ["policy", name], at);
      return;
    }
    if (def === undefined) {
      at(["policies", "chain", i], `policy '${name}' is not defined under \`policy:\``);
      return;
    }
    const res = namedPolicySchema.safeParse(def);
    if (!res.success) reportZod(res.error.issues, ["policy", name], at);
    else out.list.push({ policy: { id: name, description: res.data.description, rules: res.data.rules }, path: ["policy", name] });
  });
  if (named && typeof named === "object")
    for (const name of Object.keys(named))
      if (!chain.includes(name)) at(["policy", name], `policy '${name}' is defined but not in policies.chain`, true);
  return out;
}

function checkRuleTargets(list: PolicyPaths["list"], targets: Map<string, number>, at: (p: Path, m: string) => void) {
  for (const { policy, path } of list)
    policy.rules.forEach((rule: any, i) => {
      if (rule?.type !== "content_filter" || !guardEngines.includes(rule.engine)) return;
      if (typeof rule.target !== "string") at([...path, "rules", i], `engine ${rule.engine} needs \`target:\` naming the guard model's target id`);
      else if (!targets.has(rule.target)) at([...path, "rules", i, "target"], `unknown target '${rule.target}'`);
    });
}

function reportZod(zodIssues: z.core.$ZodIssue[], prefix: Path, at: (p: Path, m: string, k?: boolean) => void) {
  for (const issue of zodIssues) {
    const path = [...prefix, ...(issue.path as (string | number)[])];
    if (issue.code === "unrecognized_keys") {
      for (const key of issue.keys) at([...path, key], "unknown key", true);
    } else if (issue.code === "invalid_value" && issue.values.length > 1) {
      at(path, `must be one of: ${issue.values.map(String).join(", ")}`);
    } else if (issue.code === "invalid_type" && /received undefined/.test(issue.message)) {
      at(path, "is required");
    } else {
      at(path, issue.message.replace(/^Invalid input: /, ""));
    }
  }
}

/**
 * Offsets of the keys that repeat an earlier key of the same map, in one pass over the document.
 * Same rule as the yaml package's uniqueKeys: scalar keys are equal when their values are (===);
 * other keys (collections, aliases) are never equal to one another.
 */
function duplicateKeys(doc: Document): number[] {
  const out: number[] = [];
  visit(doc, {
    Map(_, map) {
      const seen = new Set<unknown>();
      for (const pair of map.items) {
        const key = pair.key;
        if (!isScalar(key) || Number.isNaN(key.value)) continue;
        if (seen.has(key.value)) out.push(key.range?.[0] ?? 0);
        else seen.add(key.value);
      }
    },
  });
  return out.sort((a, b) => a - b);
}

/** Offset of the node at `path` (or of its key), falling back to the deepest node that exists. */
function locate(doc: Document, path: Path, onKey: boolean): number {
  let node: Node | null | undefined = doc.contents as Node | null;
  let offset = node?.range?.[0] ?? 0;
  for (let i = 0; i < path.length; i++) {
    const seg = path[i]!;
    if (isMap(node)) {
      const pair = node.items.find((p: any) => (p.key?.value ?? p.key) === seg);
      if (!pair) break;
      const keyNode = pair.key as Node | null;
      const last = i === path.length - 1;
      if (last && onKey && keyNode?.range) return keyNode.range[0];
      node = pair.value as Node | null;
      offset = node?.range?.[0] ?? keyNode?.range?.[0] ?? offset;
    } else if (isSeq(node) && typeof seg === "number") {
      node = node.items[seg] as Node | null;
      if (!node) break;
      offset = node.range?.[0] ?? offset;
    } else break;
  }
  return offset;
}

function formatPath(path: Path): string {
  let out = "";
  for (const seg of path) out += typeof seg === "number" ? `[${seg}]` : out ? `.${seg}` : seg;
  return out || "(root)";
}

function normalise(
  c: RawConfig,
  policies: PolicyPaths["list"],
  audit: AuditLoggerSettings | undefined,
  source: string,
  env: Env,
): GatewayConfig {
  const tz = c.limits?.time_zone ?? "UTC";
  const targets: Target[] = c.providers.targets.map((t) => {
    const p = parseProviderString(t.provider)!;
    return {
      id: t.id,
      provider: t.provider,
      kind: p.kind,
      upstreamModel: t.model ?? p.model!,
      providerModel: p.model,
      baseUrl: t.base_url.replace(/\/+$/, ""),
      secretEnv: t.secret_key_ref?.env,
      secret: t.secret_key_ref ? env[t.secret_key_ref.env] : undefined,
      timeoutSeconds: t.timeout_seconds,
      connectTimeoutSeconds: t.connect_timeout_seconds,
      idleTimeoutSeconds: t.idle_timeout_seconds ?? Math.max(t.timeout_seconds, 60),
      totalTimeoutSeconds: t.total_timeout_seconds,
      format: t.format,
      description: t.description,
      weight: t.weight,
      healthProbe: t.health_probe,
      limits: t.limits ? limitSet(t.limits, tz) : undefined,
    };
  });
  const apiKeys: ApiKey[] = (c.auth?.api_keys ?? []).map((k) => ({
    id: k.id,
    sha256: k.sha256 ? k.sha256.toLowerCase() : sha256Hex(env[k.secret_key_ref!.env]!),
    scopes: k.scopes,
    team: k.team,
    limits: k.limits ? limitSet(k.limits, tz) : undefined,
  }));
  const store = c.limits?.store;
  const storeConfig: LimitsStoreConfig =
    store === undefined || store === "embedded"
      ? { kind: "embedded" }
      : { kind: "redis", url: env[store.redis.url_ref.env]!, urlEnv: store.redis.url_ref.env, keyPrefix: store.redis.key_prefix, timeoutMs: store.redis.timeout_ms };
  return {
    source,
    pack: c.pack ? { name: c.pack.name, version: c.pack.version, enabled: c.pack.enabled } : undefined,
    targets,
    policies: policies.map((p) => p.policy),
    audit,
    streaming: { mode: c.streaming?.mode ?? "buffered" },
    apiKeys,
    limits: {
      maxBodyBytes: c.limits?.max_body_bytes,
      maxConcurrentStreams: c.limits?.max_concurrent_streams ?? 2000,
      maxConcurrentRequests: c.limits?.max_concurrent_requests ?? 4000,
      maxStreamsPerKey: c.limits?.max_streams_per_key,
      maxJsonDepth: c.limits?.max_json_depth ?? 64,
      maxHeldBodyBytes: c.limits?.max_held_body_bytes ?? 1024 * 1024 * 1024,
      store: storeConfig,
      onStoreFailure: c.limits?.on_store_failure ?? "deny",
      defaultMaxTokens: c.limits?.default_max_tokens ?? 1024,
      bytesPerToken: c.limits?.bytes_per_token ?? 1,
      timeZone: tz,
      default: c.limits?.default ? limitSet(c.limits.default, tz) : {},
      teams: Object.fromEntries(Object.entries(c.limits?.teams ?? {}).map(([name, set]) => [name, limitSet(set, tz)])),
    },
  };
}

function limitSet(s: RawLimitSet, timeZone: string): LimitSet {
  const out: LimitSet = {};
  if (s.requests_per_minute !== undefined) out.requestsPerMinute = s.requests_per_minute;
  if (s.tokens_per_minute !== undefined) out.tokensPerMinute = s.tokens_per_minute;
  if (s.input_tokens_per_minute !== undefined) out.inputTokensPerMinute = s.input_tokens_per_minute;
  if (s.output_tokens_per_minute !== undefined) out.outputTokensPerMinute = s.output_tokens_per_minute;
  if (s.max_concurrent_requests !== undefined) out.maxConcurrentRequests = s.max_concurrent_requests;
  if (s.max_concurrent_streams !== undefined) out.maxConcurrentStreams = s.max_concurrent_streams;
  if (s.token_budget) out.tokenBudget = { tokens: s.token_budget.tokens, period: s.token_budget.period, timeZone: s.token_budget.time_zone ?? timeZone };
  return out;
}

export function sha256Hex(value: string): string {
  return createHash("sha256").update(value).digest("hex");
}

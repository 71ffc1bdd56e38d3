export { ConfigError, formatConfigIssue, type ConfigIssue } from "./config-error.js";
export type { ApiKey, GatewayConfig, LimitSet, LimitsStoreConfig, Policy, Target, TokenBudget, UsageLimits } from "./gateway-config.js";
export type { Scope } from "../wire/index.js";
export { loadConfigFile, MAX_CONFIG_BYTES, MAX_CONFIG_TOKENS, parseConfig, sha256Hex } from "./load-config.js";
export { parseProviderString, type ProviderKind, type ProviderString } from "./provider-string.js";
export type { AuditLoggerSettings, ContentCategory, ContentFilterRule, GuardEngine, PiiRule, Rule } from "./schema.js";
export { contentCategories, guardEngines } from "./schema.js";
export { builtinPatternName, builtinPiiTypes, type BuiltinPiiType } from "./pii-pattern-names.js";

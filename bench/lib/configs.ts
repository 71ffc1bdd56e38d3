/**
 * policy-config files for the benchmarks. JSON is valid YAML, so the configs are written as JSON.
 * The target's provider string carries the fake's served model id, so the very same request body
 * (model `meta-llama/Llama-3.1-8B-Instruct`) works direct, through nginx and through the gateway.
 */
import { writeFileSync } from "node:fs";
import path from "node:path";

export const MODEL = "meta-llama/Llama-3.1-8B-Instruct";

export const PII_PATTERNS = ["ssn", "credit_card", "email", "phone", "iban", "ip_address", "us_passport", "uk_nhs", "crypto_wallet", "secret"];
export const CONTENT_CATEGORIES = ["violence", "self_harm", "hate", "sexual", "harassment", "illicit"];

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
}

export function gatewayConfig(o: GatewayConfigOptions): Record<string, unknown> {
  const providers = {
    targets: [{ id: "bench-target", provider: `openllm:chat:${MODEL}`, base_url: o.baseUrl, timeout_seconds: 120 }],
  };
  const streaming = o.streaming ? { streaming: { mode: o.streaming } } : {};
  if (o.policies === "off") return { providers, ...streaming };
  if (!o.auditDir) throw new Error("the full chain needs an audit directory");
  return {
    pack: { name: "bench-full-chain", version: "1.0.0" },
    providers,
    policies: { chain: ["pii", "content", "audit-logger"] },
    policy: {
      pii: { rules: [{ type: "pii_detection", action: "redact", patterns: PII_PATTERNS, apply_to: "both" }] },
      content: { rules: [{ type: "content_filter", action: "block", categories: CONTENT_CATEGORIES }] },
      "audit-logger": { immutable: true, retention_days: 365, log_all_access: false, path: o.auditDir },
    },
    ...streaming,
  };
}

export function writeGatewayConfig(dir: string, name: string, o: GatewayConfigOptions): string {
  const p = path.join(dir, `${name}.yaml`);
  writeFileSync(p, JSON.stringify(gatewayConfig(o), null, 2) + "\n");
  return p;
}

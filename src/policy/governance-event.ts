/**
 * What the policy engine tells the audit side about one rule that fired. It carries types and
 * counts only: no matched value ever leaves the engine.
 */
export interface GovernanceEvent {
  policy: string;
  /** The rule's `id`, or `<type>#<index in policy>` when it has none. */
  rule: string;
  ruleType: "pii_detection" | "content_filter";
  action: "redact" | "mask" | "block" | "log";
  phase: "request" | "response";
  /** Findings by type: PII types (`email`, `credit_card`, custom names) or content categories. */
  counts: Record<string, number>;
  /** For content_filter: which engine decided, and whether it failed open. */
  engine?: "builtin" | "llama_guard" | "shieldgemma" | "granite_guardian";
  failedOpen?: boolean;
  /**
   * For content_filter: the deciding category, its score (classifier: 0-1; a guard model's unsafe
   * verdict: 1) and the threshold it was held to. A score, never the text.
   */
  verdict?: { category: string; score: number; threshold: number };
  /** For a guard model in incremental streaming: characters a client may hold before the window that blocks (0: none). */
  leakBoundChars?: number;
}

export type PolicyDecision = "allow" | "redact" | "block" | "log";

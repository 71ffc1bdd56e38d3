import { GatewayError, type ErrorCode } from "../errors/index.js";
import type { GovernanceEvent } from "./governance-event.js";

/**
 * A block or a failed guard engine. Carries the governance events recorded up to that point so the
 * audit record of a refused request still says which rules fired. The message names the policy and
 * rule and never a matched value.
 */
export class PolicyError extends GatewayError {
  readonly events: readonly GovernanceEvent[];
  readonly policy: string;
  readonly rule: string;

  constructor(
    code: Extract<ErrorCode, "KT_ERR_POLICY_BLOCKED" | "KT_ERR_POLICY_ENGINE_UNAVAILABLE">,
    message: string,
    where: { policy: string; rule: string },
    events: readonly GovernanceEvent[],
    cause?: unknown,
  ) {
    super(code, message, cause === undefined ? {} : { cause });
    this.name = "PolicyError";
    this.policy = where.policy;
    this.rule = where.rule;
    this.events = events;
  }
}

export function blockedMessage(phase: "request" | "response", policy: string, rule: string, what: readonly string[]): string {
  const noun = phase === "request" ? "Request" : "Response";
  return `${noun} blocked by policy '${policy}' rule '${rule}': ${what.length > 0 ? what.join(", ") : "content"} detected`;
}

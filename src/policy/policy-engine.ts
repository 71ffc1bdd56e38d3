import { hashedPlaceholder, heldAnswerOf, heldBodyOf, type Chunk, type JsonObject, type Operation } from "../wire/index.js";
import type { GatewayConfig } from "../config/index.js";
import { GatewayError } from "../errors/index.js";
import { hasTokenPrompt, refuseTokenPrompt, requestSegments, responseSegments, withTexts, type TextSegment } from "./body-texts.js";
import { withoutLeakedLogprobs } from "./logprobs.js";
import { firstFindings, requestConversations, responseConversations, settleDeferred, type ChainFinding, type ChainResult } from "./chain-runner.js";
import { runChain } from "./chain-offload.js";
import { checkHeldRequest } from "./held-chain.js";
import { checkHeldResponse } from "./held-answer.js";
import { compileRules, type CompiledRule, type RuleSource } from "./compiled-rule.js";
import { guardConversation, warmUpClassifier, type AskGuard } from "./content/index.js";
import type { GovernanceEvent, PolicyDecision } from "./governance-event.js";
import { scanSource } from "./scan/index.js";
import { guardChunks } from "./stream-guard.js";
import { applyRedactions, replacementFor } from "./redaction.js";

export interface PolicyEngineDeps {
  askGuard?: AskGuard;
}

export interface PolicyEngine {
  /** False when there are no rules at all (the pipeline then skips all policy work). */
  readonly enabled: boolean;
  readonly hasResponseRules: boolean;
  /** True when a rule calls a guard model, the only policy work a cancellation signal can stop. */
  readonly usesSignal: boolean;
  /** True when a response rule calls a guard model: a stream's guard may then end the upstream call itself (guardStream's `cancelUpstream`). */
  readonly judgesStreamsByModel: boolean;
  /**
   * A text the upstream wrote that is not the answer (an error message, which may quote the
   * prompt) through the response-phase PII rules, before a client or ListTargets sees it: every
   * finding is replaced (masked for `mask` rules; a block or log rule cannot stop an error, so its
   * findings are redacted too). Synchronous and bounded: error texts are short.
   */
  scrubText(text: string): string;
  /**
   * Request phase over the canonical OpenAI body. Returns a new body with redactions applied (the
   * input is not mutated) and the events. Throws PolicyError (a GatewayError) with
   * KT_ERR_POLICY_BLOCKED on a block, or KT_ERR_POLICY_ENGINE_UNAVAILABLE when a guard model fails
   * closed; its `events` hold what fired up to then.
   */
  checkRequest(body: JsonObject, op: Operation, signal?: AbortSignal): Promise<{ body: JsonObject; events: GovernanceEvent[] }>;
  /**
   * As checkRequest, but guard-model rules are only started: the body and the events of every
   * other rule come back at once, and `verdict` (when a guard model was asked) settles with the
   * guard rules' events, or rejects with the PolicyError of the first one to block or fail
   * closed. The caller starts the upstream call meanwhile and holds its answer until `verdict`
   * has settled: a safe request then costs max(guard, model), not the sum.
   */
  startRequest(
    body: JsonObject,
    op: Operation,
    signal?: AbortSignal,
  ):
    | { body: JsonObject; events: GovernanceEvent[]; verdict: Promise<GovernanceEvent[]> | undefined }
    | Promise<{ body: JsonObject; events: GovernanceEvent[]; verdict: Promise<GovernanceEvent[]> | undefined }>;
  /**
   * Response phase over a non-streamed response body. Same contract.
   *
   * startRequest and checkResponse answer synchronously when no rule waits (PII rules and the
   * built-in classifier on a body judged on this thread: no promise per request), and may then
   * throw their PolicyError synchronously: callers `await` them, which treats both forms alike.
   */
  checkResponse(body: JsonObject, op: Operation, signal?: AbortSignal): { body: JsonObject; events: GovernanceEvent[] } | Promise<{ body: JsonObject; events: GovernanceEvent[] }>;
  /**
   * Response phase over a stream of chunks. `buffered`: nothing goes out before the whole response
   * passed. `incremental`: text goes out as soon as no rule can still change it; the concatenated
   * output equals the buffered result for every chunking. On a block the iterator throws a
   * PolicyError after `onEvent` has received the events.
   */
  guardStream(
    chunks: AsyncIterable<Chunk>,
    op: Operation,
    mode: "buffered" | "incremental",
    onEvent: (e: GovernanceEvent) => void,
    signal?: AbortSignal,
    /** Aborts the upstream call: a block that comes while a read is pending ends it without waiting for the model's next token. */
    cancelUpstream?: () => void,
  ): AsyncIterable<Chunk>;
  /**
   * For GovernanceService.EvaluatePolicy and `kt policy test`: never throws on a block, reports it.
   * `maxFindings` keeps the first findings in text order; `findingsTotal` counts them all.
   */
  /**
   * The rules evaluateText would run, as sources a pool worker compiles (a held EvaluatePolicy
   * text is evaluated wholly in a worker); undefined when one calls a guard model (a network call
   * the main thread makes). Throws as evaluateText does for an unknown policy.
   */
  evaluationRules(direction: "request" | "response", policyId?: string): RuleSource[] | undefined;
  evaluateText(
    text: string,
    direction: "request" | "response",
    policyId?: string,
    signal?: AbortSignal,
    maxFindings?: number,
  ): Promise<{ decision: PolicyDecision; findings: ChainFinding[]; findingsTotal: number; redactedText: string; events: GovernanceEvent[] }>;
}

function decisionOf(events: readonly GovernanceEvent[], blocked: boolean): PolicyDecision {
  if (blocked) return "block";
  if (events.some((e) => e.action === "redact" || e.action === "mask")) return "redact";
  if (events.length > 0) return "log";
  return "allow";
}

/** Compiles every rule of the chain once: scanners, lexicon, replacements. Nothing is compiled per request. */
/** Characters of an upstream's error text that reach a client, a record or ListTargets. */
const ERROR_TEXT_CAP = 2048;
/** Read past the cap when scanning: the longest value a built-in recogniser matches (a PEM block). */
const SCRUB_MARGIN = 16 * 1024;

export function compilePolicyEngine(config: GatewayConfig, deps: PolicyEngineDeps = {}): PolicyEngine {
  const rules = compileRules(config);
  const requestRules = rules.filter((r) => r.phases.request);
  const responseRules = rules.filter((r) => r.phases.response);
  if (rules.some((r) => r.kind === "content_filter" && (r.engine === "builtin" || r.band !== undefined))) warmUpClassifier();
  const askGuard = deps.askGuard;

  // Token ids cannot be read: refused while request rules are on, unless a request rule allows them.
  const tokenPromptRule = requestRules.find((r) => r.kind === "pii_detection" && r.allowTokenPrompts);

  type Checked = { body: JsonObject; events: GovernanceEvent[]; verdict?: Promise<GovernanceEvent[]> };

  /**
   * One phase's rules over a body. Synchronous (no promise) when nothing waits: a small body whose
   * rules are PII and the built-in classifier (issue #20); a block then throws at once, which the
   * caller's `await` turns into the same rejection.
   */
  function check(
    phaseRules: readonly CompiledRule[],
    phase: "request" | "response",
    body: JsonObject,
    segments: TextSegment[],
    signal: AbortSignal | undefined,
    op: Operation,
    defer = false,
  ): Checked | Promise<Checked> {
    const pre: GovernanceEvent[] = [];
    if (phase === "request" && phaseRules.length > 0 && hasTokenPrompt(body)) {
      if (!tokenPromptRule) refuseTokenPrompt();
      pre.push({ policy: tokenPromptRule.policy, rule: tokenPromptRule.rule, ruleType: "pii_detection", action: "log", phase, counts: { token_prompt: 1 } });
    }
    if (phaseRules.length === 0) return { body, events: pre };
    // A body too large to parse here: its rules run in the pool over the held bytes.
    const held = phase === "request" ? heldBodyOf(body) : undefined;
    if (held) return checkHeld(phaseRules, body, held, op, pre, signal, defer);
    if (segments.length === 0) return phase === "response" ? finishResponse(phaseRules, body, pre) : { body, events: pre };
    const r = runChain(phaseRules, {
      phase,
      segments,
      guardConversations: phase === "request" ? requestConversations : responseConversations,
      askGuard,
      signal,
      collectFindings: false,
      defer,
    });
    return r instanceof Promise ? r.then((x) => afterChain(x, phaseRules, phase, body, segments, pre)) : afterChain(r, phaseRules, phase, body, segments, pre);
  }

  async function checkHeld(
    phaseRules: readonly CompiledRule[],
    body: JsonObject,
    held: NonNullable<ReturnType<typeof heldBodyOf>>,
    op: Operation,
    pre: GovernanceEvent[],
    signal: AbortSignal | undefined,
    defer: boolean,
  ): Promise<Checked> {
    const r = await checkHeldRequest(phaseRules, body, held, op, pre, askGuard, signal, defer);
    if (r.deferred.length === 0) return { body: r.body, events: r.events };
    const verdict = settleDeferred(r.deferred);
    verdict.catch(() => {});
    return { body: r.body, events: r.events, verdict };
  }

  /** The chain's result as the body to pass on and the events; throws its block. */
  function afterChain(r: ChainResult, phaseRules: readonly CompiledRule[], phase: "request" | "response", body: JsonObject, segments: TextSegment[], pre: GovernanceEvent[]): Checked {
    if (r.blocked) throw r.blocked;
    const changes = r.segments.filter((s, i) => s.text !== segments[i]!.text);
    const out = withTexts(body, changes);
    const events = pre.length > 0 ? [...pre, ...r.events] : r.events;
    if (phase === "request") {
      if (r.deferred.length === 0) return { body: out, events };
      const verdict = settleDeferred(r.deferred);
      // The caller may fail (limits, routing) before it awaits the verdict.
      verdict.catch(() => {});
      return { body: out, events, verdict };
    }
    return finishResponse(phaseRules, out, events, new Set(changes.map((c) => c.choice)));
  }

  /** Logprobs never carry what the rules removed (see logprobs.ts). */
  function finishResponse(
    phaseRules: readonly CompiledRule[],
    body: JsonObject,
    events: GovernanceEvent[],
    changedChoices: ReadonlySet<number> = new Set(),
  ): { body: JsonObject; events: GovernanceEvent[] } {
    const out = withoutLeakedLogprobs(body, changedChoices, (text) => phaseRules.some((r) => r.kind === "pii_detection" && scanSource(r.scanner, text).length > 0));
    return { body: out, events };
  }

  const started = (r: Checked) => ({ body: r.body, events: r.events, verdict: r.verdict });

  return {
    enabled: rules.length > 0,
    hasResponseRules: responseRules.length > 0,
    scrubText(text) {
      // Error texts are capped, but after their scan, and the scan reads past the cap by the
      // longest value a rule finds: a value the cap cut would no longer be recognised, and its
      // first part would go out in clear. So at most ~18 Ki characters are scanned.
      let t = text.length > ERROR_TEXT_CAP + SCRUB_MARGIN ? text.slice(0, ERROR_TEXT_CAP + SCRUB_MARGIN) : text;
      const cut = text.length > ERROR_TEXT_CAP;
      for (const r of responseRules) {
        if (r.kind !== "pii_detection") continue;
        const found = scanSource(r.scanner, t, false);
        if (found.length === 0) continue;
        const action = r.action === "mask" ? "mask" : "redact";
        const src = t;
        t = applyRedactions(src, found, (f) => replacementFor(action, r.replacement, f, src, false)).text;
      }
      return cut ? `${t.slice(0, ERROR_TEXT_CAP)}…` : t;
    },
    usesSignal: rules.some((r) => r.kind === "content_filter" && r.engine !== "builtin"),
    // A held body's skeleton has placeholders for its texts: its segments are found by a worker.
    checkRequest: async (body, op, signal) => check(requestRules, "request", body, heldBodyOf(body) ? [] : requestSegments(body, op), signal, op),
    startRequest: (body, op, signal) => {
      const r = check(requestRules, "request", body, heldBodyOf(body) ? [] : requestSegments(body, op), signal, op, true);
      return r instanceof Promise ? r.then(started) : started(r);
    },
    checkResponse: (body, op, signal) => {
      // A large answer (src/wire/held-answer.ts): the summary stands for it; its rules run in the pool.
      const held = heldAnswerOf(body);
      if (held) return checkHeldResponse(responseRules, body, held, askGuard, signal);
      return check(responseRules, "response", body, responseSegments(body), signal, op);
    },
    judgesStreamsByModel: responseRules.some((r) => r.kind === "content_filter" && r.engine !== "builtin"),
    guardStream(chunks, op, mode, onEvent, signal, cancelUpstream) {
      if (responseRules.length === 0) return chunks;
      return guardChunks(responseRules, chunks, op, mode, onEvent, askGuard, signal, cancelUpstream);
    },
    evaluationRules(direction, policyId) {
      if (policyId !== undefined && !config.policies.some((p) => p.id === policyId))
        throw new GatewayError("KT_ERR_INVALID_REQUEST", `unknown policy '${hashedPlaceholder("unknown-policy", policyId)}'`, { param: "policy_id" });
      const chosen = (direction === "request" ? requestRules : responseRules).filter((r) => policyId === undefined || r.policy === policyId);
      return chosen.some((r) => r.kind === "content_filter" && r.engine !== "builtin") ? undefined : chosen.map((r) => r.source);
    },
    async evaluateText(text, direction, policyId, signal, maxFindings) {
      if (policyId !== undefined && !config.policies.some((p) => p.id === policyId))
        throw new GatewayError("KT_ERR_INVALID_REQUEST", `unknown policy '${hashedPlaceholder("unknown-policy", policyId)}'`, { param: "policy_id" });
      const chosen = (direction === "request" ? requestRules : responseRules).filter((r) => policyId === undefined || r.policy === policyId);
      const role = direction === "request" ? "user" : "assistant";
      const r = await runChain(chosen, {
        phase: direction,
        segments: [{ path: [], text, role, json: false, choice: 0 }],
        guardConversations: (segs) => (segs[0]!.text === "" ? [] : [guardConversation([{ role, content: segs[0]!.text }])]),
        askGuard,
        signal,
        collectFindings: true,
        maxFindings,
      });
      if (r.blocked?.code === "KT_ERR_POLICY_ENGINE_UNAVAILABLE") throw r.blocked;
      return {
        decision: decisionOf(r.events, r.blocked !== undefined),
        // In text order, as the proto says; a block forwards nothing, so there is no text to show.
        findings: firstFindings(r.findings, maxFindings),
        findingsTotal: r.findingsTotal,
        redactedText: r.blocked ? "" : r.segments[0]!.text,
        events: r.events,
      };
    },
  };
}

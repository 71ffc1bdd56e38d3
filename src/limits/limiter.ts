import { randomUUID } from "node:crypto";
import type { ApiKey, LimitSet, Target, UsageLimits } from "../config/index.js";
import { GatewayError } from "../errors/index.js";
import type { UsageRecord } from "../observer/index.js";
import { upstreamEventsOf, type Chunk, type JsonObject, type Operation, type Principal } from "../wire/index.js";
import { budgetPeriod } from "./budget-period.js";
import type { GuardedStore } from "./guarded-store.js";
import { RATE_NAMES, type RateName, type Refusal, type ReserveResult, type SettleSpec, type SubjectCharge } from "./limits-store.js";
import { duration, rateLimitHeaders } from "./rate-limit-headers.js";
import { noteCharged, noteRejected, noteReserved, noteStoreFailure } from "./limits-telemetry.js";
import { estimateTokens, type TokenEstimate } from "./token-estimate.js";

/**
 * Concurrency every key gets unless its own limits or `limits.default` say otherwise, so one key
 * cannot take all of the gateway's stream slots or pile up unbounded non-streamed calls.
 */
export const KEY_CONCURRENCY_DEFAULTS = { maxConcurrentRequests: 1024, maxConcurrentStreams: 512 } as const;

/** A slot held this long without settlement (its replica died) is given back. */
const LEASE_MS = 3_600_000;

/** One subject's limits, prepared once per configuration. */
export interface SubjectPlan {
  subject: string;
  set: LimitSet;
  /** Whether any of its limits counts tokens (then the request's tokens are estimated). */
  tokens: boolean;
}

/**
 * The limits of one configuration: which subjects (the key, its team, the target) a request is
 * charged to and with what. Built on each (re)load; the store it uses outlives reloads.
 */
export class Limiter {
  private readonly byKey = new Map<string, SubjectPlan[]>();
  private readonly byTarget = new Map<string, SubjectPlan>();
  private readonly defaultSet: LimitSet;
  /** A target with token limits makes every request count its tokens (it may be routed there). */
  private readonly targetTokens: boolean;

  constructor(
    readonly settings: UsageLimits,
    readonly keys: readonly ApiKey[],
    readonly targets: readonly Target[],
    readonly store: GuardedStore,
  ) {
    this.defaultSet = { ...KEY_CONCURRENCY_DEFAULTS, ...settings.default };
    for (const k of keys) {
      const plans = [plan(`key:${k.id}`, { ...KEY_CONCURRENCY_DEFAULTS, ...(k.limits ?? settings.default) })];
      if (k.team !== undefined) plans.push(plan(`team:${k.team}`, settings.teams[k.team] ?? {}));
      this.byKey.set(k.id, plans);
    }
    for (const t of targets) if (t.limits) this.byTarget.set(t.id, plan(`target:${t.id}`, t.limits));
    this.targetTokens = [...this.byTarget.values()].some((p) => p.tokens);
  }

  /** The subjects a key is charged to: itself and its team. Unknown ids (loopback) get the default. */
  plansFor(keyId: string): SubjectPlan[] {
    let p = this.byKey.get(keyId);
    if (!p) this.byKey.set(keyId, (p = [plan(`key:${keyId}`, this.defaultSet)]));
    return p;
  }

  targetPlan(targetId: string): SubjectPlan | undefined {
    return this.byTarget.get(targetId);
  }

  /**
   * A request's admission, not yet reserved: `admit()` on it reserves the request's place in
   * every window, slot and budget of its key and team, in one store call, before anything is sent
   * upstream, and throws a 429 GatewayError (or 503 when the store is down and `on_store_failure:
   * deny`) with the headers the client needs. Two steps so the caller holds the admission's
   * record (for the audit) even when it is refused.
   */
  begin(principal: Principal, op: Operation, body: JsonObject, stream: boolean): Admission {
    const plans = this.plansFor(principal.keyId);
    const tokens = this.targetTokens || plans[0]!.tokens || (plans.length > 1 && plans[1]!.tokens);
    const est: TokenEstimate = tokens ? estimateTokens(body, op, this.settings.bytesPerToken, this.settings.defaultMaxTokens) : NO_TOKENS;
    return new Admission(this, principal.keyId, plans, stream, est, tokens);
  }
}

const NO_TOKENS: TokenEstimate = { input: 0, output: 0, injectMaxTokens: undefined };

function plan(subject: string, set: LimitSet): SubjectPlan {
  const tokens = set.tokensPerMinute !== undefined || set.inputTokensPerMinute !== undefined || set.outputTokensPerMinute !== undefined || set.tokenBudget !== undefined;
  return { subject, set, tokens };
}

function chargeOf(p: SubjectPlan, est: TokenEstimate, counted: boolean): SubjectCharge {
  const s = p.set;
  const total = est.input + est.output;
  const rates: [RateName, number, number][] = [];
  if (s.requestsPerMinute !== undefined) rates.push(["rpm", s.requestsPerMinute, 1]);
  if (s.tokensPerMinute !== undefined) rates.push(["tpm", s.tokensPerMinute, total]);
  if (s.inputTokensPerMinute !== undefined) rates.push(["itpm", s.inputTokensPerMinute, est.input]);
  if (s.outputTokensPerMinute !== undefined) rates.push(["otpm", s.outputTokensPerMinute, est.output]);
  const c: SubjectCharge = { subject: p.subject, rates, maxRequests: s.maxConcurrentRequests ?? 0, maxStreams: s.maxConcurrentStreams ?? 0, tokens: counted ? total : 0 };
  if (s.tokenBudget) {
    const period = budgetPeriod(s.tokenBudget, Date.now());
    c.budget = [period.name, s.tokenBudget.tokens, total, period.end];
  }
  return c;
}

/**
 * One request's reservation, from admission to settlement. Settlement runs once, whatever path
 * the request ends by, and charges what was really used: the upstream's `usage` when it sent one,
 * else (a cancelled or failed stream) the input estimate plus one token per content chunk
 * generated (vLLM streams one token per chunk), never more than was reserved for output.
 */
/**
 * Reservation ids: unique across every gateway process sharing a Redis store (a random prefix per
 * process) and within the process (a counter), without a randomUUID per request.
 */
const ID_PREFIX = `${randomUUID()}-`;
let idSeq = 0;

export class Admission {
  readonly id = ID_PREFIX + (++idSeq).toString(36);
  /** x-ratelimit-* headers for the response (and retry-after on a refusal). */
  readonly headers: Record<string, string> = {};
  readonly record: UsageRecord;
  private readonly held: { at: number; charges: SubjectCharge[] }[] = [];
  private contentChunks = 0;
  private settled = false;

  constructor(
    private readonly limiter: Limiter,
    private readonly keyId: string,
    private readonly plans: SubjectPlan[],
    readonly stream: boolean,
    readonly estimate: TokenEstimate,
    /** Whether tokens are limited for this request (then usage must be known to settle). */
    readonly countsTokens: boolean,
  ) {
    this.record = { store: limiter.store.kind, storeState: "ok", reservedTokens: countsTokens ? estimate.input + estimate.output : 0, chargedTokens: undefined };
  }

  /**
   * Reserves the key's and team's charges (see Limiter.begin). Undefined when the store answered
   * at once (the embedded store always does): callers write `const w = a.admit(); if (w) await w;`,
   * so the common case costs no promise and no microtask hop (issue #20). Throws (or rejects) the
   * refusal either way.
   */
  admit(): Promise<void> | undefined {
    const charges: SubjectCharge[] = [];
    for (const p of this.plans) charges.push(chargeOf(p, this.estimate, this.countsTokens));
    return this.reserve(charges);
  }

  private reserve(charges: SubjectCharge[]): Promise<void> | undefined {
    let r: ReserveResult | Promise<ReserveResult>;
    try {
      r = this.limiter.store.reserve({ id: this.id, stream: this.stream, leaseMs: LEASE_MS, charges });
    } catch (err) {
      return this.unavailable(err);
    }
    if (r instanceof Promise)
      return r.then(
        (v) => this.reserved(v, charges),
        (err: unknown) => this.unavailable(err),
      );
    this.reserved(r, charges);
    return undefined;
  }

  private reserved(r: ReserveResult, charges: SubjectCharge[]): void {
    rateLimitHeaders(r.rates, this.headers);
    if (!r.ok) throw this.refused(r.refusal!);
    if (this.held.length === 0 && this.countsTokens) noteReserved(this.keyId, this.record.reservedTokens);
    this.held.push({ at: r.at, charges });
  }

  /** The store failed: let the request through (`on_store_failure: allow`) or refuse it (503). */
  private unavailable(err: unknown): undefined {
    this.record.storeState = "unavailable";
    noteStoreFailure(this.limiter.store.kind, this.limiter.settings.onStoreFailure);
    if (this.limiter.settings.onStoreFailure === "allow") return undefined;
    throw new GatewayError("KT_ERR_LIMITS_UNAVAILABLE", "usage limits cannot be checked right now (limits store unreachable); retry shortly", {
      retryAfter: 1,
      cause: err,
      headers: this.headers,
    });
  }

  /**
   * The target's own limits, reserved when the target is chosen (a second store call only for
   * targets that have limits). Undefined when there was nothing to wait for, as admit().
   */
  forTarget(targetId: string): Promise<void> | undefined {
    const p = this.limiter.targetPlan(targetId);
    if (!p || this.record.storeState === "unavailable") return undefined;
    return this.reserve([chargeOf(p, this.estimate, this.countsTokens)]);
  }

  /** The body to send upstream: the reserved output cap when the client set none, usage in the stream. */
  upstreamBody(body: JsonObject): JsonObject {
    if (!this.countsTokens) return body;
    let out = body;
    if (this.estimate.injectMaxTokens !== undefined) out = { ...out, max_tokens: this.estimate.injectMaxTokens };
    if (this.stream) {
      const so = out.stream_options;
      if (!(so && typeof so === "object" && (so as JsonObject).include_usage === true))
        out = { ...out, stream_options: { ...(so && typeof so === "object" ? (so as JsonObject) : {}), include_usage: true } };
    }
    return out;
  }

  /** Counts generated content for a stream that ends without its usage chunk. */
  noteChunk(chunk: Chunk): void {
    const choices = chunk.choices;
    if (!Array.isArray(choices)) return;
    for (const c of choices) {
      const d = (c as JsonObject)?.delta as JsonObject | undefined;
      const text = d ? d.content : (c as JsonObject)?.text;
      // A chunk of coalesced deltas counts each of them (src/upstream/delta-coalescing.ts).
      if ((typeof text === "string" && text.length > 0) || (d && d.tool_calls !== undefined)) this.contentChunks += upstreamEventsOf(chunk);
    }
  }

  /**
   * Replaces the reservation by real usage; `usage` undefined when the upstream never reported it.
   * `reachedUpstream` false when nothing was generated (refused by policy, no target answered).
   */
  settle(usage: { input: number; output: number } | undefined, reachedUpstream: boolean): void {
    if (this.settled) return;
    this.settled = true;
    if (this.held.length === 0) return;
    let input = 0;
    let output = 0;
    if (usage) {
      input = usage.input;
      output = usage.output;
    } else if (reachedUpstream && this.countsTokens) {
      input = this.estimate.input;
      output = Math.min(this.contentChunks, this.estimate.output);
    }
    if (this.countsTokens) {
      this.record.chargedTokens = input + output;
      noteCharged(this.keyId, input + output);
    }
    const reservedIn = this.estimate.input;
    const reservedOut = this.estimate.output;
    for (const h of this.held) {
      const spec: SettleSpec = { id: this.id, at: h.at, stream: this.stream, charges: [] };
      for (const c of h.charges) {
        const rates: [RateName, number][] = [];
        for (const [name] of c.rates) {
          if (name === "tpm") rates.push([name, input + output - reservedIn - reservedOut]);
          else if (name === "itpm") rates.push([name, input - reservedIn]);
          else if (name === "otpm") rates.push([name, output - reservedOut]);
        }
        const entry: SettleSpec["charges"][number] = { subject: c.subject, rates };
        if (c.budget) entry.budget = [c.budget[0], c.budget[2], input + output, c.budget[3]];
        spec.charges.push(entry);
      }
      this.limiter.store.settle(spec);
    }
  }

  private refused(r: Refusal): GatewayError {
    const who = r.subject.startsWith("key:") ? `API key '${r.subject.slice(4)}'` : r.subject.startsWith("team:") ? `team '${r.subject.slice(5)}'` : `target '${r.subject.slice(7)}'`;
    const limit = r.kind === "rate" ? RATE_NAMES[r.name] : r.kind === "budget" ? "token_budget" : r.streams ? "max_concurrent_streams" : "max_concurrent_requests";
    this.record.refusedBy = `${r.subject} ${limit}`;
    noteRejected(this.keyId, r.subject.slice(0, r.subject.indexOf(":")), limit);
    const h = this.headers;
    if (r.kind === "budget") {
      h["x-should-retry"] = "false";
      const msg = r.tooLarge
        ? `This request reserves ${this.estimate.input + this.estimate.output} tokens (prompt plus max_tokens), more than the whole token budget of ${who} (${r.limit} per period); lower max_tokens.`
        : `The token budget of ${who} is exhausted for this period (${r.used} used, ${r.reserved} reserved by requests in flight, of ${r.limit}); it renews in ${duration(r.retryAfterMs)}.`;
      return new GatewayError("KT_ERR_QUOTA_EXCEEDED", msg, { headers: h });
    }
    if (r.kind === "concurrency") {
      h["retry-after"] = "1";
      h["retry-after-ms"] = "1000";
      const what = r.streams ? "streams" : "requests";
      return new GatewayError("KT_ERR_CONCURRENCY_EXCEEDED", `${who} has ${r.limit} ${what} in flight, its limit (max_concurrent_${what}); retry when one ends.`, {
        headers: h,
      });
    }
    const name = RATE_NAMES[r.name];
    if (r.tooLarge) {
      h["x-should-retry"] = "false";
      const need = r.name === "rpm" ? 1 : r.name === "itpm" ? this.estimate.input : r.name === "otpm" ? this.estimate.output : this.estimate.input + this.estimate.output;
      return new GatewayError("KT_ERR_RATE_LIMIT_EXCEEDED", `Request too large for ${who}: it needs ${need} tokens, ${name} is ${r.limit}; lower max_tokens or shorten the prompt.`, {
        headers: h,
      });
    }
    h["retry-after"] = String(Math.max(1, Math.ceil(r.retryAfterMs / 1000)));
    h["retry-after-ms"] = String(Math.max(1, Math.round(r.retryAfterMs)));
    return new GatewayError("KT_ERR_RATE_LIMIT_EXCEEDED", `Rate limit reached for ${who} on ${name}: limit ${r.limit}. Please try again in ${duration(r.retryAfterMs)}.`, {
      headers: h,
    });
  }
}

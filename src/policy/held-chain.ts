import { availableParallelism } from "node:os";
import { adoptSharedMemory, heldBodyOf, holdBody, releaseSharedMemory, sharedMemory, takeKeptSharedMemory, type CancelSignal, type HeldBody, type JsonObject, type Operation } from "../wire/index.js";
import { requestConversations, runChainHere, type RuleOutcome } from "./chain-runner.js";
import { pooledJudgeFor } from "./chain-offload.js";
import { isGuardRule, piiRuleFrom, type CompiledRule } from "./compiled-rule.js";
import type { AskGuard } from "./content/index.js";
import type { GovernanceEvent } from "./governance-event.js";
import { PolicyError } from "./policy-error.js";
import { scanPool } from "./pool/index.js";
import type { BodyFault, HeldRef } from "./pool/body-jobs.js";
import { abandon, followable, followChannel, FOLLOW_MIN_CHARS, splittable } from "./pool/follow.js";
import { abandonSplit, splitChannel, splitHelpers } from "./pool/split-scan.js";

/** Cores this process may use: a follower needs one of its own (followerHelps). */
const CORES = availableParallelism();

/**
 * Whether a large request's classifier runs in a second worker beside its scan. `KT_SCAN_FOLLOW`:
 * `auto` (the default) only when the leader, the follower and the event loop each have a core
 * beside the workers already busy, since without one the follower shortens nothing and costs CPU
 * (two cores, 1 MB requests, round 10's quiet A/B: as fast or slower, 3-5 % more CPU); `on` whenever
 * two workers are free; `off` never.
 */
function followerHelps(pool: { readonly idle: number; readonly size: number }): boolean {
  if (pool.idle < 2) return false;
  const mode = process.env.KT_SCAN_FOLLOW;
  if (mode === "on") return true;
  if (mode === "off") return false;
  return pool.size - pool.idle + 3 <= CORES;
}

/**
 * Helpers for a large request's first scan, cut into parts scanned at once (src/policy/pool/split-scan.ts):
 * one per free worker besides the rules' own, at most one per 128 KiB part: with W workers free and
 * a text of C characters, min(W - 1, C / 128 Ki - 1) helpers, so the scan's part of the critical
 * path is about 1 / (helpers + 1) of the whole scan plus the helpers' copy of their part (~4 ms per
 * MiB). Only with `KT_SCAN_SPLIT=on`, and when the classifier does not follow the scan
 * (followerHelps): on this project's 2-core bench machine, a two-worker pool in one process under
 * SCHED_FIFO showed no shorter request (parse + rules 46.0 against 46.7 ms p50, then 67 against 56
 * at load 28) and 4-21 ms more CPU per 1 MiB request (docs/benchmarks.md, round 16), so it is not
 * the default until a quiet machine shows it pays.
 */
function splitHelpersFor(pool: { readonly idle: number }, chars: number): number {
  if (process.env.KT_SCAN_SPLIT !== "on") return 0;
  return splitHelpers(chars, pool.idle - 1);
}

/**
 * The main thread's side of a held body (src/wire/held-body.ts): every step that reads the whole
 * body is a pool job, so a 15 MiB body never holds the event loop: parsing, the request rules,
 * and writing the body that goes upstream.
 */

/** Strings from this many characters stay in the held bytes; the skeleton has a placeholder. */
const HOLD_MIN_CHARS = 256;

/**
 * Room beyond a held body's length in the pooled buffer a worker writes its rewrite or upstream
 * form into: the main thread's changes to the skeleton (the target's model, a token cap) are
 * small. A body that still does not fit is written to new memory by the worker.
 */
const REWRITE_SLACK = 64 * 1024;

/**
 * The memory a worker's rewrite is in: this thread's own `dest` object when the worker wrote into
 * it (a SharedArrayBuffer posted back arrives as a new object, which the pool would not know as
 * its own), now the request's to release; else what the worker made, and `dest` goes back.
 */
function written(dest: SharedArrayBuffer | undefined, changed: { bytes: SharedArrayBuffer; inDest: boolean } | undefined, owned: SharedArrayBuffer[] | undefined): SharedArrayBuffer | undefined {
  if (dest && changed?.inDest) {
    if (owned) owned.push(dest);
    return dest;
  }
  releaseSharedMemory(dest);
  // The worker's own buffer (of a size class) joins the pool: kept for the next rewrite once the
  // request is done, so a steady flow of large redacted bodies stops faulting in fresh pages.
  if (changed && owned && adoptSharedMemory(changed.bytes)) owned.push(changed.bytes);
  return changed?.bytes;
}

function ref(h: HeldBody): HeldRef {
  return { bytes: h.bytes, length: h.length, nonce: h.nonce, holdMin: h.holdMin, version: h.version };
}

let versions = 0;
/** A version no other held bytes in this process have had (src/wire/held-body.ts). */
function nextVersion(): number {
  return ++versions;
}

function nonce(): string {
  return Math.random().toString(36).slice(2) + Math.random().toString(36).slice(2);
}

/** The nonce and threshold for a body a front door holds itself (a large RPC message). */
export function newHold(): { nonce: string; holdMin: number } {
  return { nonce: nonce(), holdMin: HOLD_MIN_CHARS };
}

/**
 * A skeleton a worker made (with newHold()'s nonce) from body bytes it wrote, marked as held. The
 * bytes (of a size class) join the pooled memory as the request's, charged to `owner` like the
 * body they were converted from: counted against limits.max_held_body_bytes until the request
 * releases them with releaseHeldBody(), then kept for the next large body.
 */
export function adoptHeldBody(skeleton: JsonObject, bytes: SharedArrayBuffer, length: number, hold: { nonce: string; holdMin: number }, extraBytes: number, owner?: string, cancel?: CancelSignal): JsonObject {
  const owned = adoptSharedMemory(bytes, owner) ? [bytes] : [];
  return holdBody(skeleton, { bytes, length, nonce: hold.nonce, holdMin: hold.holdMin, extraBytes, owned, version: nextVersion(), cancel });
}


/**
 * Parses a body a worker reads from shared memory; the skeleton comes back marked as held. A
 * fault names what is wrong, for the front door to word as it words a small body's. `cancel`, the
 * request's cancellation, goes with the held body to every pool job on it: a client gone drops them.
 */
export async function parseHeldBody(bytes: SharedArrayBuffer, length: number, maxDepth: number, cancel?: CancelSignal): Promise<{ body: unknown } | BodyFault> {
  // The body's own pooled bytes are the request's to release (src/server/http-body.ts reads them).
  const held: HeldBody = { bytes, length, nonce: nonce(), holdMin: HOLD_MIN_CHARS, extraBytes: 0, owned: [bytes], version: nextVersion(), cancel };
  const r = await scanPool().run({ kind: "parse-body", body: ref(held), maxDepth }, cancel);
  if ("fault" in r) return r;
  held.extraBytes = r.extraBytes;
  const s = r.skeleton;
  // Only an object can go further (the pipeline refuses anything else); it alone carries the mark.
  return { body: s !== null && typeof s === "object" && !Array.isArray(s) ? holdBody(s as JsonObject, held) : s };
}

/**
 * The body as it goes upstream, written by a worker from the skeleton as the pipeline left it,
 * into pooled shared memory the request holds until it is done (the upstream write reads it).
 */
export async function serialiseHeldBody(body: JsonObject): Promise<Uint8Array | undefined> {
  const held = heldBodyOf(body);
  if (!held) return undefined;
  // A rule rewrote the body and nothing changed the skeleton since (a small JSON to compare): the
  // worker's bytes are already the upstream form, byte for byte; no job, no copy of the body.
  if (held.written !== undefined && JSON.stringify(body) === held.written) return new Uint8Array(held.bytes, 0, held.length);
  let dest: SharedArrayBuffer | undefined = await sharedMemory(held.length + REWRITE_SLACK);
  try {
    const r = await scanPool().run({ kind: "serialise-body", body: ref(held), skeleton: body, dest }, held.cancel);
    if (typeof r === "number") {
      // Only a record with an owner list can give it back; otherwise it is simply collected.
      held.owned?.push(dest);
      const out = new Uint8Array(dest, 0, r);
      dest = undefined;
      return out;
    }
    // It did not fit `dest`: the worker's own shared buffer, exactly the body's length.
    return new Uint8Array(r);
  } finally {
    releaseSharedMemory(dest);
  }
}

/**
 * The request rules over a held body, in chain order: each run of rules without a network call is
 * one pool job over the whole body; a guard-model rule runs here, on the body's texts.
 */
export async function checkHeldRequest(
  rules: readonly CompiledRule[],
  body: JsonObject,
  held: HeldBody,
  op: Operation,
  pre: GovernanceEvent[],
  askGuard: AskGuard | undefined,
  signal: AbortSignal | undefined,
  defer: boolean,
): Promise<{ body: JsonObject; events: GovernanceEvent[]; deferred: Promise<RuleOutcome>[] }> {
  const events = [...pre];
  const deferred: Promise<RuleOutcome>[] = [];
  let cur = held;
  let skeleton = body;
  for (let i = 0; i < rules.length; ) {
    const rule = rules[i]!;
    if (isGuardRule(rule)) {
      const segments = await scanPool().run({ kind: "body-segments", body: ref(cur), op }, cur.cancel);
      const r = await runChainHere([rule], {
        phase: "request",
        segments,
        guardConversations: requestConversations,
        askGuard,
        signal,
        collectFindings: false,
        judge: pooledJudgeFor(cur.cancel),
        defer,
      });
      events.push(...r.events);
      deferred.push(...r.deferred);
      if (r.blocked) throw new PolicyError(r.blocked.code as "KT_ERR_POLICY_BLOCKED", r.blocked.message, r.blocked, events, r.blocked.cause);
      i++;
      continue;
    }
    let j = i;
    while (j < rules.length && !isGuardRule(rules[j]!)) j++;
    const batch = rules.slice(i, j);
    // A rewrite (a redaction) goes into pooled memory when some is free now; else the worker makes it.
    const dest = takeKeptSharedMemory(cur.length + REWRITE_SLACK);
    // A large body with a PII rule and then the classifier, and two workers free: the classifier
    // runs in the second one, following the first one's scan (src/policy/pool/follow.ts). The
    // follower's answer goes to the leader; here it is only let go.
    const pool = scanPool();
    const follows = cur.length >= FOLLOW_MIN_CHARS && followable(batch) && followerHelps(pool);
    // The followed text's memory (UTF-16, so twice the body's bytes is room enough), pooled: reused
    // by the next large request instead of faulted in afresh. Held by both jobs until they end.
    const followText = follows ? (takeKeptSharedMemory(2 * cur.length) ?? (await sharedMemory(2 * cur.length).catch(() => undefined))) : undefined;
    const follow = followText ? followChannel() : undefined;
    // Else, with workers free, the first rule's scan of the largest text in parts (src/policy/pool/split-scan.ts).
    const helpers = !follows && cur.length >= FOLLOW_MIN_CHARS && splittable(batch) ? splitHelpersFor(pool, cur.length) : 0;
    const splitText = helpers > 0 ? (takeKeptSharedMemory(2 * cur.length) ?? (await sharedMemory(2 * cur.length).catch(() => undefined))) : undefined;
    const split = splitText ? { channels: Array.from({ length: helpers }, splitChannel), text: splitText } : undefined;
    let out;
    try {
      // A PII rule after the next guard rule may still find a value in a text this job finds clean.
      const remember = !piiRuleFrom(rules, j);
      const leader = pool.run({ kind: "body-chain", body: ref(cur), op, rules: batch.map((r) => r.source), dest, rewriteVersion: nextVersion(), follow, followText, remember, split }, cur.cancel);
      if (follow && followText) {
        // Dropped with its leader when the client goes: a follower that never starts is judged by the leader (follow.ts).
        pool.run({ kind: "follow", rule: batch[0]!.source, channel: follow, text: followText }, cur.cancel).catch(() => {});
        // A leader that never ran (refused, its worker lost) lets its follower go at once.
        leader.catch(() => abandon(follow));
      }
      if (split) {
        // Likewise: a helper that never starts has its part scanned by the leader (split-scan.ts).
        for (const channel of split.channels) pool.run({ kind: "scan-part", rule: batch[0]!.source, channel, text: split.text }, cur.cancel).catch(() => {});
        leader.catch(() => abandonSplit(split.channels));
      }
      releaseSharedMemory(followText);
      releaseSharedMemory(splitText);
      out = await leader;
    } catch (err) {
      releaseSharedMemory(dest);
      throw err;
    }
    const bytes = written(dest, out.changed, cur.owned);
    events.push(...out.events);
    if (out.blocked) throw new PolicyError(out.blocked.code, out.blocked.message, batch[out.blocked.rule]!, events);
    if (out.changed) {
      cur = { ...cur, bytes: bytes!, length: out.changed.length, extraBytes: out.changed.extraBytes, version: out.changed.version, written: out.changed.written };
      skeleton = holdBody(out.changed.skeleton as JsonObject, cur);
    }
    i = j;
  }
  return { body: skeleton, events, deferred };
}

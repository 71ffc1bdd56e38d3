import { GatewayError } from "../errors/index.js";
import { adoptSharedMemory, holdAnswer, releaseSharedMemory, takeKeptSharedMemory, type CancelSignal, type HeldAnswer, type JsonObject } from "../wire/index.js";
import { responseConversations, runChainHere } from "./chain-runner.js";
import { pooledJudgeFor } from "./chain-offload.js";
import { isGuardRule, type CompiledRule } from "./compiled-rule.js";
import type { AskGuard } from "./content/index.js";
import type { GovernanceEvent } from "./governance-event.js";
import { PolicyError } from "./policy-error.js";
import { scanPool } from "./pool/index.js";
import type { AnswerRef } from "./pool/answer-jobs.js";

/**
 * The main thread's side of a held answer (src/wire/held-answer.ts): every step that reads the
 * whole answer is a pool job, so an answer of tens of megabytes (a long generation with
 * `logprobs`, `top_logprobs: 20`) never holds the event loop: parsing it, the response rules,
 * the logprobs filter and writing it anew.
 */

/**
 * Answers from this many bytes are held. Below it JSON.parse costs about a millisecond (and the
 * hand-offs to a worker about as much); above it the cost grows with the answer: 80-180 ms for
 * 8 MiB on the benchmark VM, about 2 s for the 64 MiB the gateway reads at most. The same bound
 * as a held request body (src/server/http-body.ts).
 */
export const HOLD_ANSWER_BYTES = 256 * 1024;

/** Room beyond an answer's length in the pooled buffer a worker writes a rewrite into (a redaction's marker may be longer than its value). */
const REWRITE_SLACK = 64 * 1024;

let versions = 0;
function nextVersion(): number {
  return ++versions;
}

function nonce(): string {
  return Math.random().toString(36).slice(2) + Math.random().toString(36).slice(2);
}

function ref(h: HeldAnswer): AnswerRef {
  return { bytes: h.bytes, length: h.length, nonce: h.nonce, version: h.version };
}

/**
 * Parses an answer held in (pooled) shared memory, in a worker; resolves with its summary marked
 * as held. An answer that is not a JSON object is the same protocol fault as a small one's (a
 * target fault: the pipeline fails over), and its memory goes back at once. `cancel`: the
 * request's cancellation; once it fires the job leaves the queue (or, running, is answered at once)
 * and the call rejects with KT_ERR_CANCELLED.
 */
export async function parseHeldAnswer(bytes: SharedArrayBuffer, length: number, targetId: string, cancel?: CancelSignal): Promise<JsonObject> {
  const held: HeldAnswer = { bytes, length, nonce: nonce(), version: nextVersion(), owned: [bytes] };
  let r;
  try {
    r = await scanPool().run({ kind: "parse-answer", answer: ref(held) }, cancel);
  } catch (err) {
    releaseSharedMemory(bytes);
    throw err;
  }
  if ("fault" in r) {
    releaseSharedMemory(bytes);
    throw new GatewayError("KT_ERR_UPSTREAM_PROTOCOL", `target '${targetId}' sent a response that is not a JSON object`);
  }
  if (r.recoded) {
    // Not valid UTF-8: the decoded text's own bytes are the answer (the parsed body is the same).
    releaseSharedMemory(bytes);
    held.owned = adoptSharedMemory(r.recoded.bytes) ? [r.recoded.bytes] : [];
    held.bytes = r.recoded.bytes;
    held.length = r.recoded.length;
  }
  return holdAnswer(r.summary, held);
}


/**
 * The response rules over a held answer, in chain order, as policy-engine.ts runs them over a
 * small one: each run of rules without a network call is one pool job over the whole answer; a
 * guard-model rule runs here on the answer's texts (it only judges, it never changes a text). The
 * logprobs filter runs in the last job that may change a text. Resolves with the summary, marked
 * with the answer's new bytes when they changed; throws the chain's PolicyError on a block.
 * `signal` is the request's: a client gone drops its waiting jobs (KT_ERR_CANCELLED), so a
 * cancelled request does not keep the pool's workers busy on an answer nobody will read.
 */
export async function checkHeldResponse(
  rules: readonly CompiledRule[],
  summary: JsonObject,
  held: HeldAnswer,
  askGuard: AskGuard | undefined,
  signal: AbortSignal | undefined,
): Promise<{ body: JsonObject; events: GovernanceEvent[] }> {
  const events: GovernanceEvent[] = [];
  const finish = rules.filter((r) => r.kind === "pii_detection").map((r) => r.source);
  let lastRun = -1;
  rules.forEach((r, i) => {
    if (!isGuardRule(r)) lastRun = i;
  });
  let cur = held;
  let changed: number[] = [];
  const pool = scanPool();
  for (let i = 0; i < rules.length; ) {
    const rule = rules[i]!;
    if (isGuardRule(rule)) {
      const segments = await pool.run({ kind: "answer-segments", answer: ref(cur) }, signal);
      // An answer without texts runs no rule (policy-engine.ts check).
      if (segments.length > 0) {
        const r = await runChainHere([rule], { phase: "response", segments, guardConversations: responseConversations, askGuard, signal, collectFindings: false, judge: pooledJudgeFor(signal) });
        events.push(...r.events);
        if (r.blocked) throw new PolicyError(r.blocked.code as "KT_ERR_POLICY_BLOCKED", r.blocked.message, r.blocked, events, r.blocked.cause);
      }
      i++;
      continue;
    }
    let j = i;
    while (j < rules.length && !isGuardRule(rules[j]!)) j++;
    const batch = rules.slice(i, j);
    // A rewrite goes into pooled memory when some is free now; else the worker makes it.
    const dest = takeKeptSharedMemory(cur.length + REWRITE_SLACK);
    let out;
    try {
      out = await pool.run({ kind: "answer-chain", answer: ref(cur), rules: batch.map((r) => r.source), changed, finish: j > lastRun ? finish : undefined, dest, rewriteVersion: nextVersion() }, signal);
    } catch (err) {
      releaseSharedMemory(dest);
      throw err;
    }
    events.push(...out.events);
    const w = out.written;
    if (dest && w?.inDest) cur.owned.push(dest);
    else {
      releaseSharedMemory(dest);
      if (w && adoptSharedMemory(w.bytes)) cur.owned.push(w.bytes);
    }
    if (out.blocked) throw new PolicyError(out.blocked.code, out.blocked.message, batch[out.blocked.rule]!, events);
    changed = out.changed;
    // One owner list for every version: releaseHeldAnswer() hands them all back.
    if (w) cur = { bytes: w.inDest ? dest! : w.bytes, length: w.length, nonce: cur.nonce, version: w.version, owned: cur.owned };
    i = j;
  }
  return { body: cur === held ? summary : holdAnswer({ ...summary }, cur), events };
}

import { heldReleased } from "./held-body.js";
import { releaseSharedMemory } from "./shared-memory.js";
import type { JsonObject } from "./wire-types.js";

/**
 * A non-streamed answer too large to parse on the main thread (src/upstream/post-for-text.ts holds
 * it): its bytes sit in shared memory, where a pool worker parses them, runs the response rules
 * and filters the logprobs, and writes the answer anew when a rule changed it. The main thread
 * holds only the answer's summary: `id`, `model`, `usage` and each choice's `index` and
 * `finish_reason`, all the pipeline and the audit record read of an answer. The summary carries
 * this record under a symbol key (which JSON.stringify ignores), as a held request's skeleton does.
 */
export interface HeldAnswer {
  /** The answer's JSON as UTF-8, bytes [0, length): exactly what goes to an OpenAI client. Never written once held. */
  bytes: SharedArrayBuffer;
  length: number;
  /** Names this answer in the workers' cache of the last body they parsed, with `version`. */
  nonce: string;
  /** Which version of the answer these bytes are, unique in the process: a rewrite gets a new one. */
  version: number;
  /**
   * Pooled shared memory the request holds (the answer's bytes, a rule's rewrites): one array
   * shared by every version of the record, handed back by releaseHeldAnswer() once the answer has
   * been written to the client (or abandoned).
   */
  owned: SharedArrayBuffer[];
}

const HELD = Symbol.for("keeptrusts.heldAnswer");

/**
 * Choices whose finish reasons an answer's summary, span and record carry (OpenAI's own bound on
 * `n`). An upstream may send any number of choices (a completion's prompt list times `n`): the
 * summary a worker hands back, and what the main thread notes of it, must not grow with them
 * (100,000 choices held the event loop 530 ms in the summary's copy and the record).
 */
export const MAX_RECORDED_CHOICES = 128;

const FINISH_REASONS: ReadonlySet<string> = new Set(["stop", "length", "tool_calls", "function_call", "content_filter", "abort", "error"]);

/**
 * A choice's finish reason as the record and span carry it: the words vLLM and OpenAI send, and
 * `other` for any other string (an upstream's text is never recorded verbatim), else undefined.
 */
export function recordedFinishReason(f: unknown): string | undefined {
  if (typeof f !== "string") return undefined;
  return FINISH_REASONS.has(f) ? f : "other";
}

/** A token count as the record carries it: a finite non-negative number, else 0 (never the upstream's text). */
export function tokenCount(v: unknown): number {
  return typeof v === "number" && Number.isFinite(v) && v >= 0 ? v : 0;
}

export function heldAnswerOf(body: unknown): HeldAnswer | undefined {
  return body !== null && typeof body === "object" ? ((body as { [HELD]?: HeldAnswer })[HELD] ?? undefined) : undefined;
}

/** Marks an answer's summary as standing for a held answer. */
export function holdAnswer<T extends JsonObject>(summary: T, held: HeldAnswer): T {
  (summary as unknown as { [HELD]: HeldAnswer })[HELD] = held;
  return summary;
}

/**
 * Hands back the pooled memory of a held answer once nothing reads it any more: after the socket
 * has taken the last byte (the response's 'close'), or when the answer is discarded. A pool job
 * still reading a buffer keeps it until the job ends.
 */
export function releaseHeldAnswer(body: unknown): void {
  const held = heldAnswerOf(body);
  const owned = held?.owned;
  if (!owned) return;
  for (const sab of owned.splice(0)) releaseSharedMemory(sab);
  heldReleased(held!.nonce);
}

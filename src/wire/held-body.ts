import { releaseSharedMemory } from "./shared-memory.js";
import type { CancelSignal, JsonObject } from "./wire-types.js";

/**
 * A request body too large to parse on the main thread (see src/server/http-body.ts). Its bytes
 * sit in shared memory; the policy pool's workers parse them, run the request rules over them and
 * write the body that goes upstream, while the main thread holds only a skeleton: the parsed body
 * with every long string replaced by a placeholder. The skeleton carries this record under a
 * symbol key, which object spreads keep and JSON.stringify ignores.
 */
export interface HeldBody {
  /** The body's JSON as UTF-8, bytes [0, length). Never written once held. */
  bytes: SharedArrayBuffer;
  length: number;
  /** Placeholders are `\u0000kt-held:<nonce>:<n>`: a client cannot write one without the nonce. */
  nonce: string;
  /** Strings from this many characters are held (replaced by placeholders in the skeleton). */
  holdMin: number;
  /** JSON bytes of the held strings beyond their placeholders' (token estimates add them). */
  extraBytes: number;
  /**
   * Which version of the body these bytes are, unique in the process: every rewrite gets a new
   * one. A pool worker keeps the last body it parsed under nonce and version, so the next job on
   * the same bytes does not parse them again (a rewrite may keep the length: a masked value).
   */
  version?: number;
  /**
   * When a pool worker wrote these bytes from a skeleton (a rule's rewrite): that skeleton's JSON.
   * The bytes are then exactly what writing the upstream form from a skeleton with this same JSON
   * gives, so a request whose skeleton is unchanged sends them as they are (src/policy/held-chain.ts).
   */
  written?: string;
  /**
   * Pooled shared memory this request holds (src/wire/shared-memory.ts): the body's own bytes and
   * what workers wrote for it. One array for every version of the record (spreads share it), so
   * the front door releases them all with releaseHeldBody() once the request is done.
   */
  owned?: SharedArrayBuffer[];
  /**
   * The request's cancellation (the client went away): its pool jobs still waiting are dropped
   * and a running one's result ignored (src/policy/pool/scan-pool.ts). Never posted to a worker.
   */
  cancel?: CancelSignal;
}

const HELD = Symbol.for("keeptrusts.heldBody");

export function heldBodyOf(body: unknown): HeldBody | undefined {
  return body !== null && typeof body === "object" ? ((body as { [HELD]?: HeldBody })[HELD] ?? undefined) : undefined;
}

/**
 * Hands back the pooled memory a held body's request holds, when the request is done (answered,
 * failed or cancelled). A pool job still reading a buffer keeps it until the job ends.
 */
export function releaseHeldBody(body: unknown): void {
  const held = heldBodyOf(body);
  const owned = held?.owned;
  if (!owned) return;
  for (const sab of owned.splice(0)) releaseSharedMemory(sab);
  heldReleased(held!.nonce);
}

let onRelease: ((nonce: string) => void) | undefined;

/**
 * What else lets go of a held body or answer once its request is done with it: the copies the pool
 * workers keep parsed for the request's next job (src/policy/pool), with whatever value was in it.
 */
export function whenHeldReleased(fn: (nonce: string) => void): void {
  onRelease = fn;
}

/** Called once a held body's or answer's request has released it (by nonce). */
export function heldReleased(nonce: string): void {
  onRelease?.(nonce);
}

/** Marks a skeleton as standing for a held body (the symbol key is enumerable, so spreads keep it). */
export function holdBody<T extends JsonObject>(skeleton: T, held: HeldBody): T {
  (skeleton as unknown as { [HELD]: HeldBody })[HELD] = held;
  return skeleton;
}

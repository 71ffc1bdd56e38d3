import type { JsonObject } from "./wire-types.js";

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
}

const HELD = Symbol.for("keeptrusts.heldBody");

export function heldBodyOf(body: unknown): HeldBody | undefined {
  return body !== null && typeof body === "object" ? ((body as { [HELD]?: HeldBody })[HELD] ?? undefined) : undefined;
}

/** Marks a skeleton as standing for a held body (the symbol key is enumerable, so spreads keep it). */
export function holdBody<T extends JsonObject>(skeleton: T, held: HeldBody): T {
  (skeleton as unknown as { [HELD]: HeldBody })[HELD] = held;
  return skeleton;
}

import { vi } from "vitest";
import { scanPool } from "../../src/policy/pool/index.js";
import type { CancelSignal } from "../../src/wire/index.js";

/** Calls `fn` once when `signal` aborts (an AbortSignal or the front door's `abort`-emitting ClientCancel). */
export function onAbort(signal: CancelSignal, fn: () => void): void {
  if (signal instanceof AbortSignal) signal.addEventListener("abort", fn, { once: true });
  else signal.on("abort", fn);
}

/**
 * Wraps the policy pool so that the first job of `kind` cancels the client (`cut`) and is submitted
 * only once the request's cancellation has fired (at most 3 s later, for a job that carries none):
 * the moment a client goes while its request is in the pool, made exact. `carried`: whether that
 * job came with a cancellation at all. Undone by vi.restoreAllMocks().
 */
export function cutAt(kind: string, cut: () => void): { seen: () => boolean; carried: () => boolean } {
  const pool = scanPool();
  const original = pool.run.bind(pool) as (job: { kind: string }, cancel?: CancelSignal) => Promise<unknown>;
  let seen = false;
  let carried = false;
  vi.spyOn(pool, "run").mockImplementation(((job: { kind: string }, cancel?: CancelSignal) => {
    if (seen || job.kind !== kind) return original(job, cancel);
    seen = true;
    carried = cancel !== undefined;
    cut();
    return new Promise<void>((resolve) => {
      if (cancel) {
        if (cancel.aborted) return resolve();
        onAbort(cancel, resolve);
      }
      setTimeout(resolve, 3000);
    }).then(() => original(job, cancel));
  }) as never);
  return { seen: () => seen, carried: () => carried };
}

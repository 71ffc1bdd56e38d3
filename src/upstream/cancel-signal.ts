import type { CancelSignal } from "../wire/index.js";

/** Calls `fn` once when `signal` aborts (an AbortSignal or an `abort`-emitting EventEmitter); returns the undo. */
export function onCancel(signal: CancelSignal, fn: () => void): () => void {
  if (signal instanceof AbortSignal) {
    signal.addEventListener("abort", fn, { once: true });
    return () => signal.removeEventListener("abort", fn);
  }
  // on(), not once(): the emitter (ClientCancel) says `abort` at most once, and once() would
  // allocate a wrapper and its state for every call, which nearly always ends by removing it.
  signal.on("abort", fn);
  return () => signal.removeListener("abort", fn);
}

/** An AbortSignal for APIs that take nothing else (AbortSignal.any). */
export function abortSignalOf(s: CancelSignal): AbortSignal {
  if (s instanceof AbortSignal) return s;
  const c = new AbortController();
  if (s.aborted) c.abort(s.reason);
  else onCancel(s, () => c.abort(s.reason));
  return c.signal;
}

import { EventEmitter } from "node:events";

/**
 * An HTTP client's going away, as a cancellation source. It is an EventEmitter that emits `abort`
 * and says whether it has — which is what undici takes as a request's `signal` — and it makes a
 * real AbortSignal only when something asks for one (streams, guard-model calls). A non-streamed
 * request, the common case, then costs no AbortController and no EventTarget listeners.
 */
export class ClientCancel extends EventEmitter {
  aborted = false;
  reason: unknown = undefined;
  private controller: AbortController | undefined;

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.aborted) this.controller.abort(this.reason);
    }
    return this.controller.signal;
  }

  abort(reason: unknown = new DOMException("This operation was aborted", "AbortError")): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    this.controller?.abort(reason);
    this.emit("abort");
  }
}

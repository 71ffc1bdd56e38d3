import type { Dispatcher } from "undici";
import { sharedMemory, type CancelSignal } from "../wire/index.js";
import { GatewayError } from "../errors/index.js";
import { onCancel } from "./cancel-signal.js";

export interface TextPost {
  path: string;
  headers: Record<string, string>;
  body: string | Uint8Array | AsyncIterable<Uint8Array>;
  /** undici's header and body (between-chunks) timers, ms. */
  timeoutMs: number;
  /** performance.now() value past which a body still trickling in is a timeout. */
  deadline: number;
  /** Largest body read, bytes. */
  limit: number;
  targetId: string;
  /**
   * A successful answer of this many bytes or more is held: its bytes are copied into pooled
   * shared memory (pages faulted in by a helper thread) and neither decoded nor parsed here, for a
   * pool worker to read (src/wire/held-answer.ts). Unset: every answer comes back as text.
   */
  holdFrom?: number;
}

/** An answer: its status, its text (decoded as UTF-8) and the bytes it was decoded from. */
export interface TextAnswer {
  status: number;
  text: string;
  bytes: Buffer;
  shared?: undefined;
}

/** A large successful answer (TextPost.holdFrom): its bytes in shared memory, [0, length), never decoded here. */
export interface HeldTextAnswer {
  status: number;
  shared: SharedArrayBuffer;
  length: number;
}

interface Controller {
  abort(reason: Error): void;
}

/**
 * One POST whose whole answer is wanted as text, through undici's dispatcher with a plain handler:
 * no body stream, async resource or promise per chunk as `request()` builds them — a non-streamed
 * chat call is the gateway's hottest path. Rejects with undici's errors (the caller maps them) or
 * with a GatewayError for a body too large or too slow.
 *
 * The handler speaks undici's direct handler interface (onConnect, onHeaders, onData, onComplete,
 * onError), which its Client calls as it is. A handler of the newer interface (onRequestStart,
 * onResponseData, …) is wrapped per request in an adapter and a controller, and the adapter parses
 * the answer's raw headers and trailers into objects this call never reads (issue #20).
 */
export function postForText(pool: Dispatcher, post: TextPost, signal: CancelSignal): Promise<TextAnswer | HeldTextAnswer> {
  return new Promise((resolve, reject) => {
    const handler = new TextHandler(post, signal, resolve, reject);
    try {
      pool.dispatch(
        // undici reads an async iterable body; the option type omits it.
        { method: "POST", path: post.path, headers: post.headers, body: post.body as string | Uint8Array, headersTimeout: post.timeoutMs, bodyTimeout: post.timeoutMs },
        handler as unknown as Dispatcher.DispatchHandler,
      );
    } catch (err) {
      handler.onError(err as Error);
    }
  });
}

type Abort = (reason: Error) => void;

/** One call's state: a class, so a call costs one object rather than a closure per callback. */
class TextHandler {
  private abort: Abort | undefined;
  /** Cancelled while queued for a connection: applied as soon as undici starts the request. */
  private early: Error | undefined;
  private settled = false;
  private readonly parts: Buffer[] = [];
  private size = 0;
  private status = 0;
  private readonly detach: () => void;

  constructor(
    private readonly post: TextPost,
    private readonly signal: CancelSignal,
    private readonly resolve: (a: TextAnswer | HeldTextAnswer) => void,
    private readonly reject: (e: unknown) => void,
  ) {
    this.detach = onCancel(signal, this.onCancel);
    if (signal.aborted) this.onCancel();
  }

  private readonly onCancel = (): void => {
    const reason = this.signal.reason instanceof Error ? this.signal.reason : new Error("aborted");
    if (this.abort) this.abort(reason);
    else if (this.withdraw) {
      // Waiting for a connection: leave the queue now and answer the caller now.
      this.withdraw();
      this.settle(reason);
    } else this.early = reason;
  };

  private withdraw: (() => void) | undefined;

  /** ClientPool: queued for a connection; `withdraw` takes the call out of the queue. */
  onQueued(withdraw: () => void): void {
    this.withdraw = withdraw;
  }

  private settle(err: unknown, value?: TextAnswer | HeldTextAnswer): void {
    if (this.settled) return;
    this.settled = true;
    this.detach();
    if (err === undefined) this.resolve(value!);
    else this.reject(err);
  }

  onConnect(abort: Abort): void {
    this.abort = abort;
    this.withdraw = undefined;
    if (this.early) abort(this.early);
  }

  onHeaders(statusCode: number): boolean {
    this.status = statusCode;
    return true;
  }

  /** True (read on) also after an abort, as undici's adapter for the newer interface answered. */
  onData(chunk: Buffer): boolean {
    this.size += chunk.length;
    const post = this.post;
    if (this.size > post.limit) {
      this.abort!(new GatewayError("KT_ERR_UPSTREAM_PROTOCOL", "upstream response is too large"));
      return true;
    }
    if (performance.now() > post.deadline) {
      this.abort!(new GatewayError("KT_ERR_UPSTREAM_TIMEOUT", `target '${post.targetId}' did not finish its answer within timeout_seconds`));
      return true;
    }
    this.parts.push(chunk);
    return true;
  }

  onComplete(): void {
    // The ordinary answer pays one comparison (holdFrom unset, or the answer below it).
    const hold = this.post.holdFrom;
    if (hold !== undefined && this.size >= hold && this.status >= 200 && this.status < 300) return this.hold();
    const parts = this.parts;
    const bytes = parts.length === 1 ? parts[0]! : Buffer.concat(parts, this.size);
    this.settle(undefined, { status: this.status, text: bytes.toString("utf8"), bytes });
  }

  /**
   * The answer's pieces copied into pooled shared memory: one copy into pages already in memory
   * (about 1 ms per 8 MiB), where decoding it here would make a fresh string of its size (a page
   * fault per 4 KiB, 40-200 ms for 8 MiB on the benchmark VM) and JSON.parse would hold the event
   * loop for 80-180 ms more.
   */
  private hold(): void {
    const size = this.size;
    sharedMemory(size).then(
      (sab) => {
        const view = Buffer.from(sab, 0, size);
        let at = 0;
        for (const p of this.parts) at += p.copy(view, at);
        this.parts.length = 0;
        this.settle(undefined, { status: this.status, shared: sab, length: size });
      },
      (err: unknown) => this.settle(err),
    );
  }

  onError(err: Error): void {
    this.settle(err);
  }
}

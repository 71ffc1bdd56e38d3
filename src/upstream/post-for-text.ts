import type { Dispatcher } from "undici";
import type { CancelSignal } from "../wire/index.js";
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
}

/** An answer: its status, its text (decoded as UTF-8) and the bytes it was decoded from. */
export interface TextAnswer {
  status: number;
  text: string;
  bytes: Buffer;
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
export function postForText(pool: Dispatcher, post: TextPost, signal: CancelSignal): Promise<TextAnswer> {
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
    private readonly resolve: (a: TextAnswer) => void,
    private readonly reject: (e: unknown) => void,
  ) {
    this.detach = onCancel(signal, this.onCancel);
    if (signal.aborted) this.onCancel();
  }

  private readonly onCancel = (): void => {
    const reason = this.signal.reason instanceof Error ? this.signal.reason : new Error("aborted");
    if (this.abort) this.abort(reason);
    else this.early = reason;
  };

  private settle(err: unknown, value?: TextAnswer): void {
    if (this.settled) return;
    this.settled = true;
    this.detach();
    if (err === undefined) this.resolve(value!);
    else this.reject(err);
  }

  onConnect(abort: Abort): void {
    this.abort = abort;
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
    const parts = this.parts;
    const bytes = parts.length === 1 ? parts[0]! : Buffer.concat(parts, this.size);
    this.settle(undefined, { status: this.status, text: bytes.toString("utf8"), bytes });
  }

  onError(err: Error): void {
    this.settle(err);
  }
}

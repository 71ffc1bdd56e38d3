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
 */
export function postForText(pool: Dispatcher, post: TextPost, signal: CancelSignal): Promise<TextAnswer> {
  return new Promise((resolve, reject) => {
    let controller: Controller | undefined;
    // Cancelled while queued for a connection: applied as soon as undici starts the request.
    let early: Error | undefined;
    let settled = false;
    const onAbort = () => {
      const reason = signal.reason instanceof Error ? signal.reason : new Error("aborted");
      if (controller) controller.abort(reason);
      else early = reason;
    };
    const detach = onCancel(signal, onAbort);
    const settle = (err: unknown, value?: TextAnswer) => {
      if (settled) return;
      settled = true;
      detach();
      if (err === undefined) resolve(value!);
      else reject(err);
    };
    if (signal.aborted) onAbort();
    const parts: Buffer[] = [];
    let size = 0;
    let status = 0;
    try {
      pool.dispatch(
        // undici reads an async iterable body; the option type omits it.
        { method: "POST", path: post.path, headers: post.headers, body: post.body as string | Uint8Array, headersTimeout: post.timeoutMs, bodyTimeout: post.timeoutMs },
        {
          onRequestStart(c: Controller) {
            controller = c;
            if (early) c.abort(early);
          },
          onResponseStart(_c: Controller, statusCode: number) {
            status = statusCode;
          },
          onResponseData(c: Controller, chunk: Buffer) {
            size += chunk.length;
            if (size > post.limit) return c.abort(new GatewayError("KT_ERR_UPSTREAM_PROTOCOL", "upstream response is too large"));
            if (performance.now() > post.deadline)
              return c.abort(new GatewayError("KT_ERR_UPSTREAM_TIMEOUT", `target '${post.targetId}' did not finish its answer within timeout_seconds`));
            parts.push(chunk);
          },
          onResponseEnd() {
            const bytes = parts.length === 1 ? parts[0]! : Buffer.concat(parts, size);
            settle(undefined, { status, text: bytes.toString("utf8"), bytes });
          },
          onResponseError(_c: Controller, err: Error) {
            settle(err);
          },
        } as unknown as Dispatcher.DispatchHandler,
      );
    } catch (err) {
      settle(err);
    }
  });
}

import type { Dispatcher } from "undici";
import { GatewayError } from "../errors/index.js";
import { keepRawChunk, nextTurn, type CancelSignal, type Chunk } from "../wire/index.js";
import { onCancel } from "./cancel-signal.js";
import { ChunkParser } from "./chunk-parser.js";
import { takeCoalesced } from "./delta-coalescing.js";
import { SseDecoder } from "./sse-decoder.js";
import { transportError, upstreamStatusError, type AbortCause } from "./upstream-error.js";

/**
 * Chunks queued before deltas are coalesced: a backlog, not a model's ordinary pace. A stream the
 * gateway keeps up with goes event for event, as the upstream sent it (a block mid-answer still
 * lets the text before it out); one whose upstream floods it (hundreds of one-character deltas per
 * socket read) is taken in coalesced chunks until the backlog is worked off.
 */
const COALESCE_BACKLOG = 64;

export interface SsePost {
  path: string;
  headers: Record<string, string>;
  body: string | Uint8Array | AsyncIterable<Uint8Array>;
  /** undici's header timer and its between-reads body timer, ms. */
  headersTimeoutMs: number;
  bodyTimeoutMs: number;
  /** Largest error body read (an answer that is not a stream). */
  limit: number;
  targetId: string;
  /**
   * Keep each chunk's JSON as the upstream wrote it beside the chunk (keepRawChunk), for a relay
   * that sends unchanged chunks as they came. Without it (a guard rewrites every chunk anyway),
   * plain content deltas queued together are taken as one chunk (delta-coalescing.ts).
   */
  keepRaw: boolean;
}

interface Controller {
  abort(reason: Error): void;
  pause(): void;
  resume(): void;
  readonly paused: boolean;
}

/**
 * An event of this many characters or more is queued as its text and parsed when the consumer
 * takes it, in the consumer's turn (nextTurn), not where its last read lands: every stream whose
 * large event completes in one poll phase parsed it there, one after another (four streams of
 * 900 KiB deltas: 0.8-7 ms each, in one turn with the first slice of one of them). A model's
 * events are a few hundred characters: for them this is one comparison.
 */
const PARSE_LATER_CHARS = 32 * 1024;

/**
 * A large event as it came (see PARSE_LATER_CHARS). Not a chunk: delta coalescing never merges it
 * (it has no `choices`, so plainChoice refuses it and stops there).
 */
class LaterEvent {
  constructor(
    readonly data: string,
    readonly event: string | undefined,
  ) {}
}

/** Chunks decoded ahead of the consumer before the upstream read pauses (TCP backpressure), and where it resumes. */
const HIGH_WATER = 64;
const LOW_WATER = 16;

/** How long a body may go on after [DONE] before its connection is given up instead of reused. */
const AFTER_DONE_MS = 1000;

const FAILED = Symbol("failed");
const DONE: IteratorResult<Chunk> = Object.freeze({ value: undefined, done: true });

type Waiter = { resolve: (r: IteratorResult<Chunk>) => void; reject: (e: unknown) => void };

/**
 * One streamed call as an async iterator of parsed chunks, fed by undici's dispatcher through a
 * plain handler: the bytes of each read are decoded (SSE, then JSON) as they come and queued for
 * the consumer. `request()` would wrap the body in a Readable with its async iterator — a stream,
 * a state machine and several promises per read, ~10% of the gateway's main thread with a
 * thousand incremental streams open. Resolves once the upstream has answered with its headers, so
 * a failure before the first byte (refused, timeout, an HTTP error, an answer that is not a
 * stream) is a rejected promise, not a broken stream.
 *
 * Each wake of a waiting consumer asks `nextTurn()` first (src/wire/loop-turns.ts): under load a
 * chunk's work (guard, relay) waits for its slice of a loop turn, so the loop keeps accepting.
 */
export function openSseStream(pool: Dispatcher, post: SsePost, signal: CancelSignal, cause: () => AbortCause): Promise<AsyncIterableIterator<Chunk>> {
  return new Promise((resolve, reject) => {
    const s = new SseStream(post, signal, cause, resolve, reject);
    try {
      pool.dispatch(
        // undici reads an async iterable body; the option type omits it.
        { method: "POST", path: post.path, headers: post.headers, body: post.body as string | Uint8Array, headersTimeout: post.headersTimeoutMs, bodyTimeout: post.bodyTimeoutMs },
        s as unknown as Dispatcher.DispatchHandler,
      );
    } catch (err) {
      s.onResponseError(undefined, err as Error);
    }
  });
}

class SseStream implements AsyncIterableIterator<Chunk> {
  private controller: Controller | undefined;
  /** Cancelled while queued for a connection: applied as soon as undici starts the request. */
  private early: Error | undefined;
  private readonly detach: () => void;
  /** Until the headers: the open promise's ends. */
  private opening: { resolve: (it: AsyncIterableIterator<Chunk>) => void; reject: (e: unknown) => void } | undefined;
  /** An answer that is not a stream: its status and content type, its body collected for the error. */
  private refused: { status: number; contentType: string; parts: Buffer[]; size: number } | undefined;
  private readonly decoder = new SseDecoder();
  private readonly parser: ChunkParser;
  private queue: (Chunk | LaterEvent)[] = [];
  private head = 0;
  private waiters: Waiter[] = [];
  /** [DONE] seen: what follows is not read for the consumer. */
  private done = false;
  /** The response ended (or failed) on undici's side. */
  private ended = false;
  /** The consumer left, or was told the end. */
  private closed = false;
  /** The end to give the consumer after the queue: an error, else the end of the iteration. */
  private failure: unknown;
  private linger: NodeJS.Timeout | undefined;

  constructor(
    private readonly post: SsePost,
    private readonly signal: CancelSignal,
    private readonly cause: () => AbortCause,
    resolve: (it: AsyncIterableIterator<Chunk>) => void,
    reject: (e: unknown) => void,
  ) {
    this.opening = { resolve, reject };
    this.parser = new ChunkParser(post.targetId);
    this.detach = onCancel(signal, () => this.cancel());
    if (signal.aborted) this.cancel();
  }

  private cancel(): void {
    const reason = this.signal.reason instanceof Error ? this.signal.reason : new Error("aborted");
    if (this.controller) this.controller.abort(reason);
    else if (this.withdraw) {
      // Waiting for a connection: leave the queue now and answer the caller now.
      this.withdraw();
      this.withdraw = undefined;
      this.onResponseError(undefined, reason);
    } else this.early = reason;
  }

  private withdraw: (() => void) | undefined;

  /** ClientPool: queued for a connection; `withdraw` takes the call out of the queue. */
  onQueued(withdraw: () => void): void {
    this.withdraw = withdraw;
  }

  // undici's handler (the controller API).

  onRequestStart(c: Controller): void {
    this.controller = c;
    this.withdraw = undefined;
    if (this.early) c.abort(this.early);
  }

  onResponseStart(_c: Controller, status: number, headers: Record<string, string | string[] | undefined>): void {
    const contentType = String(headers["content-type"] ?? "");
    if (status < 200 || status >= 300 || !contentType.startsWith("text/event-stream")) {
      this.refused = { status, contentType, parts: [], size: 0 };
      return;
    }
    const o = this.opening!;
    this.opening = undefined;
    o.resolve(this);
  }

  onResponseData(c: Controller, bytes: Buffer): void {
    const r = this.refused;
    if (r) {
      r.size += bytes.length;
      // Too large to be an error body: read as none (as the text of a failed read is).
      if (r.size > this.post.limit) {
        r.parts.length = 0;
        c.abort(new GatewayError("KT_ERR_UPSTREAM_PROTOCOL", "upstream response is too large"));
      } else r.parts.push(bytes);
      return;
    }
    if (this.done || this.closed) return;
    let events;
    try {
      events = this.decoder.push(bytes);
      for (const ev of events) {
        if (ev.data === "[DONE]") {
          this.done = true;
          break;
        }
        if (ev.data.length >= PARSE_LATER_CHARS) {
          this.queue.push(new LaterEvent(ev.data, ev.event));
          continue;
        }
        this.queue.push(this.parsed(ev.data, ev.event));
      }
      const over = this.decoder.overflow;
      if (over && !this.done) throw new GatewayError("KT_ERR_UPSTREAM_PROTOCOL", `target '${this.post.targetId}' sent ${over.message}`);
    } catch (err) {
      // A malformed event: what came before it goes out, then the error; the upstream is dropped.
      this.failure = err;
      this.ended = true;
      this.detach();
      c.abort(err as Error);
      this.wake();
      return;
    }
    if (this.queue.length - this.head >= HIGH_WATER) c.pause();
    this.wake();
  }

  onResponseEnd(): void {
    if (this.refused) return this.refuse("");
    this.endBody();
    if (!this.done) {
      for (const ev of this.decoder.end()) if (ev.data === "[DONE]") this.done = true;
      if (!this.done && this.failure === undefined) this.failure = new GatewayError("KT_ERR_UPSTREAM_PROTOCOL", `target '${this.post.targetId}' ended the stream without [DONE]`);
    }
    this.wake();
  }

  onResponseError(_c: Controller | undefined, err: Error): void {
    if (this.opening) {
      if (this.refused) return this.refuse(err);
      this.detach();
      const o = this.opening;
      this.opening = undefined;
      o.reject(err instanceof GatewayError ? err : transportError(err, this.post.targetId, this.cause()));
      return;
    }
    const after = this.done || this.ended;
    this.endBody();
    // After [DONE] (the consumer has the whole answer) or a failure already decided, errors concern no one.
    if (after) return;
    this.failure = err instanceof GatewayError ? err : transportError(err, this.post.targetId, this.cause());
    this.wake();
  }

  /** The open promise's rejection for an answer that is not a stream (its body read, or failed with `failed`). */
  private refuse(failed: string | Error): void {
    this.detach();
    const r = this.refused!;
    const text = typeof failed === "string" && r.parts.length > 0 ? Buffer.concat(r.parts, r.size).toString("utf8") : "";
    const o = this.opening!;
    this.opening = undefined;
    if (r.status < 200 || r.status >= 300) return o.reject(upstreamStatusError(r.status, text, this.post.targetId));
    // Some servers answer an error as JSON under 200; anything else is a protocol fault.
    const asError = upstreamStatusError(500, text, this.post.targetId);
    o.reject(new GatewayError("KT_ERR_UPSTREAM_PROTOCOL", `target '${this.post.targetId}' did not stream (content-type ${r.contentType || "none"}): ${asError.message}`));
  }

  private endBody(): void {
    this.ended = true;
    this.detach();
    if (this.linger) clearTimeout(this.linger);
  }

  /** Hands what is ready to a waiting consumer, after the loop-turn check. */
  private wake(): void {
    if (this.waiters.length === 0 || !this.ready()) return;
    const turn = nextTurn();
    if (turn) void turn.then(() => this.deliver());
    else this.deliver();
  }

  private ready(): boolean {
    return this.head < this.queue.length || this.done || this.ended;
  }

  private deliver(): void {
    while (this.waiters.length > 0 && this.ready()) {
      const w = this.waiters.shift()!;
      // Settled with the result itself: no promise in between.
      const r = this.take();
      if (r === FAILED) w.reject(this.taken());
      else w.resolve(r);
    }
  }

  /** One event's chunk; throws an upstream fault (not JSON, a mid-stream error). */
  private parsed(data: string, event: string | undefined): Chunk {
    const chunk = this.parser.parse(data, event);
    // Relayed as it came when nothing changes it (the shim's relay, rawChunkOf).
    if (this.post.keepRaw) keepRawChunk(chunk, data);
    return chunk;
  }

  /**
   * A large event that did not parse, found as the consumer took it: as a malformed event found
   * on its read, what came before it went out, the error is next, and the upstream is dropped
   * (what was queued after it is not handed on).
   */
  private failLater(err: unknown): typeof FAILED {
    this.failure = err;
    this.queue = [];
    this.head = 0;
    if (!this.ended) {
      this.ended = true;
      this.detach();
      this.controller?.abort(err as Error);
    }
    return FAILED;
  }

  /** The next result when one is ready (the caller checked); FAILED: the failure is next (taken()). */
  private take(): IteratorResult<Chunk> | typeof FAILED {
    if (this.head < this.queue.length) {
      let value = this.queue[this.head]!;
      if (value instanceof LaterEvent) {
        this.queue[this.head++] = undefined as unknown as Chunk;
        try {
          value = this.parsed(value.data, value.event);
        } catch (err) {
          return this.failLater(err);
        }
      } else if (this.post.keepRaw || this.queue.length - this.head < COALESCE_BACKLOG) this.queue[this.head++] = undefined as unknown as Chunk;
      else {
        // A guard reads the chunks, and they come faster than it takes them: deltas queued behind
        // this one go with it (delta-coalescing.ts; a LaterEvent behind them stops the run).
        const c = takeCoalesced(this.queue as Chunk[], this.head, this.queue.length);
        value = c.chunk;
        for (let i = 0; i < c.taken; i++) this.queue[this.head++] = undefined as unknown as Chunk;
      }
      if (this.head === this.queue.length) {
        this.queue.length = 0;
        this.head = 0;
      }
      if (this.controller?.paused && this.queue.length - this.head <= LOW_WATER) this.controller.resume();
      return { value, done: false };
    }
    if (this.failure !== undefined) return FAILED;
    this.close();
    return DONE;
  }

  /** The failure take() announced, handed over once. */
  private taken(): unknown {
    const f = this.failure;
    this.failure = undefined;
    this.close();
    return f;
  }

  next(): Promise<IteratorResult<Chunk>> {
    if (this.closed && this.head >= this.queue.length) return Promise.resolve(DONE);
    if (this.waiters.length === 0 && this.ready()) {
      // A queued chunk asks for its turn too, not only a woken consumer: one read of an upstream
      // that streams faster than the gateway relays queues hundreds of chunks, and a consumer
      // that took them all at once held the loop for their whole guard, relay and write.
      const turn = nextTurn();
      if (turn) return turn.then(this.now);
    }
    return this.takeNow();
  }

  /** next() without the turn check: the chunk's turn has come (whatever happened meanwhile: a close, a failure). */
  private takeNow(): Promise<IteratorResult<Chunk>> {
    if (this.closed && this.head >= this.queue.length) return Promise.resolve(DONE);
    if (this.waiters.length === 0 && this.ready()) {
      const r = this.take();
      return r === FAILED ? Promise.reject(this.taken()) : Promise.resolve(r);
    }
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  private readonly now = (): Promise<IteratorResult<Chunk>> => this.takeNow();

  /** The consumer is done with the stream (its end, or it left early). */
  private close(): void {
    if (this.closed) return;
    this.closed = true;
    this.queue = [];
    this.head = 0;
    if (this.ended) return;
    if (this.done) {
      // The chunked terminator usually follows [DONE] in a later read: the connection goes back to
      // the pool once it is in; a body that goes on past AFTER_DONE_MS is given up.
      this.linger = setTimeout(() => this.controller?.abort(new Error("upstream went on after [DONE]")), AFTER_DONE_MS);
      this.linger.unref();
      return;
    }
    // Left early (client gone, policy block): the upstream socket is released at once.
    this.ended = true;
    this.detach();
    this.controller?.abort(new Error("the stream's consumer left"));
  }

  return(): Promise<IteratorResult<Chunk>> {
    this.close();
    for (const w of this.waiters.splice(0)) w.resolve(DONE);
    return Promise.resolve(DONE);
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<Chunk> {
    return this;
  }
}

import { Client, Dispatcher, errors } from "undici";

/** A request waiting for a connection; `handler` undefined once its caller withdrew it. */
type Waiting = { opts: Dispatcher.DispatchOptions | undefined; handler: Dispatcher.DispatchHandler | undefined };

/**
 * A handler that wants to leave the queue when its caller cancels (post-for-text, sse-stream):
 * told `withdraw` when it is queued; calling it drops the request and its body from the queue at
 * once, instead of when a connection frees up (with every connection held by hanging calls, that is
 * the target's timeout away, with the body held meanwhile).
 */
export type QueueAware = { onQueued?: (withdraw: () => void) => void };

/**
 * Keep-alive connections to one origin, up to `connections` of them, each an undici Client
 * (pipelining 1), with the free ones on a stack: a request takes a free connection, or opens a
 * new one while under the limit, or waits its turn (FIFO) for the next connection to free up.
 *
 * Why not undici's Pool: it finds a free connection by walking its whole client list in order on
 * every request (twice when the one it finds then says it is busy). With every connection busy —
 * ten thousand streams open, each holding its connection for its whole length — each new stream
 * walked all the others: quadratic over a burst, ~1% of the gateway's main thread at 2,000 streams
 * and growing with the square of the count. Here a request costs O(1) whatever the count.
 *
 * A connection is free again when its Client says 'drain' (its request is done). A Client whose
 * connection failed to open is dropped, as undici's Pool does (it cannot be reused); one whose
 * idle socket was closed (keep-alive timeout, server close) stays and reconnects on its next request.
 */
export class ClientPool extends Dispatcher {
  private readonly clients = new Set<Client>();
  /** Clients with no request in flight, most recently freed last (reused first: warm sockets). */
  private free: Client[] = [];
  private readonly waiting: Waiting[] = [];
  private waitHead = 0;
  /** Withdrawn entries still in `waiting` past waitHead. */
  private withdrawn = 0;
  private closing: Promise<void> | undefined;
  private destroyed = false;
  /**
   * What each new Client is made with, built once: the origin parsed, the options without
   * `connections`. Made per connection (the object rest, then a spread with a member added, and
   * the origin's URL parsed again) it cost more than the Client itself, once per stream in a burst.
   */
  private readonly url: URL;
  private readonly clientOptions: Client.Options;

  constructor(
    origin: string,
    private readonly opts: Client.Options & { connections: number },
  ) {
    super();
    this.url = new URL(origin);
    const { connections: _n, ...clientOpts } = opts;
    this.clientOptions = { ...clientOpts, pipelining: 1 };
  }

  /** Connections open or opening (tests, metrics). */
  get size(): number {
    return this.clients.size;
  }

  /** Requests waiting for a connection (tests, metrics). */
  get queued(): number {
    return this.waiting.length - this.waitHead - this.withdrawn;
  }

  dispatch(opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    if (this.destroyed || this.closing) {
      fail(handler, this.destroyed ? new errors.ClientDestroyedError() : new errors.ClientClosedError());
      return false;
    }
    const client = this.take();
    if (!client) {
      const w: Waiting = { opts, handler };
      this.waiting.push(w);
      const onQueued = (handler as QueueAware).onQueued;
      if (typeof onQueued === "function")
        onQueued.call(handler, () => {
          if (w.handler === undefined) return;
          w.handler = undefined;
          w.opts = undefined;
          this.withdrawn++;
        });
      return false;
    }
    this.send(client, opts, handler);
    return this.free.length > 0 || this.clients.size < this.opts.connections;
  }

  /** A free connection, or a new one while under the limit. */
  private take(): Client | undefined {
    while (this.free.length > 0) {
      const c = this.free.pop()!;
      if (this.clients.has(c) && !c.closed && !c.destroyed) return c;
    }
    if (this.clients.size >= this.opts.connections) return undefined;
    const c = new Client(this.url, this.clientOptions);
    this.clients.add(c);
    c.on("drain", () => this.freed(c));
    c.on("connectionError", () => this.drop(c));
    return c;
  }

  private send(client: Client, opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): void {
    // With pipelining 1 the Client is busy until the request ends, then says 'drain'; if it
    // reports itself free at once (it never does for pipelining 1), it goes back on the stack.
    if (client.dispatch(opts, handler)) this.freed(client);
  }

  /** A connection's request ended: the oldest waiting request takes it, else it goes on the stack. */
  private freed(client: Client): void {
    if (!this.clients.has(client)) return;
    const w = this.next();
    if (w) this.send(client, w.opts!, w.handler!);
    else this.free.push(client);
  }

  /** The oldest waiting request still wanted, out of the queue; withdrawn ones are passed over. */
  private next(): Waiting | undefined {
    while (this.waitHead < this.waiting.length) {
      const w = this.waiting[this.waitHead]!;
      this.waiting[this.waitHead++] = undefined as unknown as Waiting;
      if (this.waitHead === this.waiting.length) {
        this.waiting.length = 0;
        this.waitHead = 0;
      } else if (this.waitHead > 1024 && this.waitHead * 2 > this.waiting.length) {
        this.waiting.splice(0, this.waitHead);
        this.waitHead = 0;
      }
      if (w.handler !== undefined) return w;
      this.withdrawn--;
    }
    return undefined;
  }

  /** A connection that failed to open: gone for good; a waiting request may open a new one. */
  private drop(client: Client): void {
    if (!this.clients.delete(client)) return;
    void client.destroy().catch(() => {});
    if (this.queued > 0 && !this.closing && !this.destroyed) {
      const c = this.take();
      if (c) {
        const w = this.next();
        if (w) this.send(c, w.opts!, w.handler!);
        else this.free.push(c);
      }
    }
  }

  /** Lets requests in flight and waiting finish, then closes every connection. */
  close(): Promise<void>;
  close(callback: () => void): void;
  close(callback?: () => void): Promise<void> | void {
    this.closing ??= (async () => {
      while (this.queued > 0) await new Promise((r) => setImmediate(r));
      await Promise.all([...this.clients].map((c) => c.close().catch(() => {})));
    })();
    if (callback) void this.closing.then(callback);
    else return this.closing;
  }

  /** Ends every connection now; requests in flight and waiting fail. */
  destroy(err?: Error | null): Promise<void>;
  destroy(callback: () => void): void;
  destroy(err: Error | null, callback: () => void): void;
  destroy(a?: Error | null | (() => void), b?: () => void): Promise<void> | void {
    const callback = typeof a === "function" ? a : b;
    const err = typeof a === "function" ? undefined : (a ?? undefined);
    this.destroyed = true;
    const waiting = this.waiting.splice(this.waitHead);
    this.waiting.length = 0;
    this.waitHead = 0;
    this.withdrawn = 0;
    const e = err ?? new errors.ClientDestroyedError();
    for (const w of waiting) if (w.handler !== undefined) fail(w.handler, e);
    const done = Promise.all([...this.clients].map((c) => c.destroy(e).catch(() => {}))).then(() => {
      this.clients.clear();
      this.free = [];
    });
    if (callback) void done.then(callback);
    else return done;
  }
}

/** Ends a request that never reached a connection, through whichever handler API it speaks. */
function fail(handler: Dispatcher.DispatchHandler, err: Error): void {
  const h = handler as { onError?: (e: Error) => void; onResponseError?: (c: unknown, e: Error) => void };
  if (typeof h.onError === "function") h.onError(err);
  else if (typeof h.onResponseError === "function") h.onResponseError(null, err);
  else throw err;
}

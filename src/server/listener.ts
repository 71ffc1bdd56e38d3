import { readFileSync } from "node:fs";
import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import { nextTurn } from "../wire/index.js";
import { CALM_DOWN, H2_RESET_BURST, PREMATURE_RESET_MS, ResetBudget, resetsIn } from "./reset-budget.js";

type Handler = (req: any, res: any) => void;

export interface ListenerOptions {
  host: string;
  port: number;
  handler: Handler;
  tls?: { certFile: string; keyFile: string };
  /** Idle keep-alive sockets and HTTP/2 sessions close after this long. */
  idleTimeoutMs?: number;
  /** Slow-loris guard: the whole header block must arrive within this time. */
  headersTimeoutMs?: number;
  /** The whole request, body included, must arrive within this time. */
  requestTimeoutMs?: number;
}

export interface Listener {
  readonly host: string;
  readonly port: number;
  /** Stops accepting; resolves when every connection has closed (idle ones are closed at once). */
  close(): Promise<void>;
  /** Closes every open connection now. */
  destroyAll(): void;
  /** TLS only: reads the certificate and key files again for the connections that come next. */
  reloadTls(): void;
  /**
   * A drain begins (still accepting): HTTP/1.1 responses from now on carry `connection: close`, and
   * the HTTP/2 sessions open now get a GOAWAY (their running streams finish), so clients move
   * their next requests to new connections, which a load balancer sends elsewhere.
   */
  startDrain(): void;
}

/** Streams one HTTP/2 connection may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS). */
export const H2_MAX_STREAMS = 256;

/** "PRI * HTTP/2.0": no HTTP/1 method starts with these bytes, so three are enough to tell. */
const H2_PREFACE = Buffer.from("PRI");

/**
 * One port for everything. Plaintext: a net.Server reads the first bytes of each connection and
 * hands it to an HTTP/2 server (gRPC, Connect over h2c) or an HTTP/1.1 server (OpenAI SDKs, curl,
 * Connect and gRPC-Web over 1.1); both share one handler. TLS: one secure HTTP/2 server with
 * HTTP/1.1 allowed through ALPN.
 */
export async function listen(opts: ListenerOptions): Promise<Listener> {
  const idle = opts.idleTimeoutMs ?? 60_000;
  const sockets = new Set<net.Socket>();
  const h2sessions = new Set<http2.Http2Session>();
  // Set when a drain begins: HTTP/1.1 responses from then on close their connection.
  let closing = false;
  const startDrain = () => {
    closing = true;
    for (const s of h2sessions) if (!s.closed) s.close();
  };
  // Under --workers, every response names the worker that served it (`kt targets` says whose counters it shows).
  const worker = process.env.KT_WORKER_ID;
  const handler: Handler = (req, res) => {
    if (closing && req.httpVersionMajor === 1) res.setHeader("connection", "close");
    if (worker) res.setHeader("kt-worker", worker);
    opts.handler(req, res);
  };

  if (opts.tls) {
    const tls = opts.tls;
    // HTTP/1.1 requests in flight per TLS connection: a connection waiting on a long answer is not idle.
    const inFlight = new WeakMap<net.Socket, number>();
    const server = http2.createSecureServer(
      { allowHTTP1: true, cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile), settings: { maxConcurrentStreams: H2_MAX_STREAMS } },
      (req: { httpVersionMajor: number; socket: net.Socket }, res: { once(e: "close", f: () => void): unknown }) => {
        if (req.httpVersionMajor === 1) {
          const socket = req.socket;
          inFlight.set(socket, (inFlight.get(socket) ?? 0) + 1);
          res.once("close", () => inFlight.set(socket, (inFlight.get(socket) ?? 1) - 1));
        }
        handler(req, res);
      },
    );
    // The timeout is for HTTP/1.1 connections (allowHTTP1) and only when nothing is in flight: Node
    // would destroy a connection whose non-streamed answer takes longer than the timeout (no bytes
    // move while the model generates). HTTP/2 sessions have their own idle timer (trackSession), so
    // the server's 'timeout' leaves them alone. Node's socket timer fires again after the next quiet spell.
    server.setTimeout(idle, (x?: unknown) => {
      if (x instanceof net.Socket && !((inFlight.get(x) ?? 0) > 0)) x.destroy();
    });
    // The socket under each new session (Node makes the session within its own 'secureConnection'
    // listener, which runs after this prepended one): a session sent away closes it itself.
    let arriving: net.Socket | undefined;
    server.prependListener("secureConnection", (s: net.Socket) => (arriving = s));
    server.on("session", (s) => trackSession(h2sessions, s, idle, arriving));
    server.on("secureConnection", (s: net.Socket) => {
      arriving = undefined;
      trackSocket(sockets, s);
    });
    // The secure server never listens itself: a front server accepts each connection paused and
    // hands it over in its turn of the loop (src/wire/loop-turns.ts), as plaintext connections are
    // (below): the TLS socket's set-up, and the handshake's reads that follow, of 3,000
    // connections arriving at once are not done in one pass of the loop. Alone, a connection is
    // handed over at once. TLS and ALPN are the secure server's own, unchanged.
    const front = net.createServer({ pauseOnConnect: true }, (socket) => {
      socket.on("error", ignoreSocketError);
      const turn = nextTurn();
      if (turn) void turn.then(() => secure(socket));
      else secure(socket);
    });
    const secure = (socket: net.Socket) => {
      if (socket.destroyed) return;
      server.emit("connection", socket);
    };
    await listenOn(front, opts.host, opts.port);
    const listener = makeListener(front, sockets, h2sessions);
    return {
      ...listener,
      startDrain,
      close: () => {
        closing = true;
        return listener.close();
      },
      // Both files are read before either is swapped in: a half-written pair throws and the old one stays.
      reloadTls: () => server.setSecureContext({ cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile) }),
    };
  }

  const headersTimeout = opts.headersTimeoutMs ?? 20_000;
  const h1 = http.createServer(
    {
      keepAliveTimeout: 5_000,
      headersTimeout,
      // Receiving a request (headers and body) must finish in time; the response may stream for long.
      requestTimeout: opts.requestTimeoutMs ?? 60_000,
      // Node enforces both timeouts only when it sweeps its connections (default every 30 s, which
      // would let a slow-loris client hold a socket up to 30 s past headersTimeout): sweep often enough.
      connectionsCheckingInterval: Math.max(100, Math.min(5_000, Math.floor(headersTimeout / 4))),
      maxHeaderSize: 32 * 1024,
    },
    handler,
  );
  h1.keepAliveTimeout = 5_000;
  // This server never listens itself (sockets reach it from the sniffer), but Node only tracks its
  // connections (headers/request timeouts, closeIdleConnections) once 'listening' has fired.
  h1.emit("listening");
  // A session may carry this many streams at once (Node's default is 2^32-1): one connection must
  // not open an unbounded number of calls; the pipeline also bounds requests in total.
  const h2 = http2.createServer({ maxSessionMemory: 32, settings: { maxHeaderListSize: 32 * 1024, maxConcurrentStreams: H2_MAX_STREAMS } }, handler);
  // The socket under each new session (set while h2 makes it: see sniff).
  let arriving: net.Socket | undefined;
  h2.on("session", (s) => trackSession(h2sessions, s, idle, arriving));
  // A new connection is only counted here; the rest of its set-up (and reading it at all) waits
  // for its turn (src/wire/loop-turns.ts). Node accepts every pending connection of a poll in one
  // go and runs this listener for each: when 3,000 arrive at once, doing the set-up inline (socket
  // options, the idle timer, the first read) held the event loop 150–300 ms; taken in turns of a
  // few milliseconds, the loop polls (and serves /healthz) between them. Alone, a connection is
  // set up at once, as before.
  const front = net.createServer({ pauseOnConnect: true }, (socket) => {
    socket.on("error", ignoreSocketError);
    trackSocket(sockets, socket);
    const turn = nextTurn();
    if (turn) void turn.then(() => sniff(socket));
    else sniff(socket);
  });
  const sniff = (socket: net.Socket) => {
    if (socket.destroyed) return;
    socket.setNoDelay(true);
    // A client that connects and says nothing is dropped.
    socket.setTimeout(idle, () => socket.destroy());
    let seen: Buffer = Buffer.alloc(0);
    const onData = (data: Buffer) => {
      seen = seen.length === 0 ? data : Buffer.concat([seen, data]);
      // A client may send its first bytes one at a time: decide only once three are in.
      if (seen.length < 3 && H2_PREFACE.subarray(0, seen.length).equals(seen)) return;
      socket.off("data", onData);
      const first = seen;
      socket.setTimeout(0);
      socket.pause();
      socket.unshift(first);
      const isH2 = first.length >= 3 && first.subarray(0, 3).equals(H2_PREFACE);
      if (isH2) {
        // The new session takes the bytes read so far in one piece that ending it cannot cut
        // short (see reset-budget.ts). Only `first` is counted: reading what the socket buffered
        // after it would start the socket's JavaScript reads, which then take frames from the session.
        const resets = resetsIn(first);
        if (resets > H2_RESET_BURST) {
          // Half-closed, and what the client still sends is read and dropped until it closes (at
          // most a second): closing with unread bytes would send a TCP reset, and the client's
          // kernel would drop the GOAWAY with it.
          socket.end(CALM_DOWN);
          socket.resume();
          setTimeout(() => socket.destroy(), 1_000).unref();
          return;
        }
        // The HTTP/2 session reads the socket natively and takes the unshifted bytes itself;
        // resuming here would have the JS side steal frames from it.
        arriving = socket;
        h2.emit("connection", socket);
        arriving = undefined;
      } else {
        h1.emit("connection", socket);
        socket.resume();
      }
    };
    socket.on("data", onData);
    // Accepted paused (pauseOnConnect): reading starts now.
    socket.resume();
  };
  await listenOn(front, opts.host, opts.port);
  const listener = makeListener(front, sockets, h2sessions);
  const close = listener.close;
  return {
    ...listener,
    host: listener.host,
    port: listener.port,
    startDrain,
    close: async () => {
      closing = true;
      h1.closeIdleConnections();
      // Keep-alive connections whose response ends during the drain go idle later: close them as
      // they do, so the drain ends when the last response does rather than a keep-alive timeout later.
      const sweep = setInterval(() => h1.closeIdleConnections(), 100);
      sweep.unref();
      try {
        await close();
      } finally {
        clearInterval(sweep);
      }
      h1.close();
      h2.close();
    },
  };
}

/**
 * Every accepted socket's own 'error' listener. A socket has no other while it waits its turn, is
 * sniffed, is refused on its first read, or is drained after its session was sent away (the
 * servers' listeners go with the session): a client's TCP reset then (read ECONNRESET) was an
 * unhandled 'error' event, which ends the process — found by bench/h2-attacks.ts, whose flooding
 * clients close with bytes unread. The servers' own listeners still run while attached; the socket
 * closes either way.
 */
function ignoreSocketError(): void {}

/** One 'close' listener per set, shared by its sockets: no closure per accepted connection. */
const untrackers = new WeakMap<Set<net.Socket>, (this: net.Socket) => void>();

function trackSocket(set: Set<net.Socket>, s: net.Socket) {
  set.add(s);
  let untrack = untrackers.get(set);
  if (!untrack) {
    untrack = function (this: net.Socket) {
      set.delete(this);
    };
    untrackers.set(set, untrack);
  }
  s.on("close", untrack);
}

/**
 * Closes an HTTP/2 session once it has been idle for `idleMs`: no frame moved and no stream open.
 * Node's own server timeout destroys a session when no frame has moved, whatever its streams are
 * doing, so a unary gRPC or Connect call waiting on a long generation (no frames until the answer)
 * was cut at the timeout with an empty answer. The timer is Node's (re-armed by every frame); when
 * it fires with a stream open, it is armed again and the check runs after the next quiet spell.
 * A client that resets the streams it opens too fast is sent away (see reset-budget.ts).
 */
function trackSession(set: Set<http2.Http2Session>, s: http2.Http2Session, idleMs: number, socket: net.Socket | undefined) {
  set.add(s);
  s.once("close", () => set.delete(s));
  let open = 0;
  const resets = new ResetBudget();
  // The highest stream id the session has taken: the GOAWAY tells the client none after it was processed.
  let lastId = 0;
  const calmDown = () => {
    if (s.destroyed) return;
    // GOAWAY first, then destroy without an error: an error would be passed to every stream
    // still open on the session, and a stream with no 'error' listener would throw it.
    s.goaway(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM, lastId);
    if (socket) {
      // Marked closed first: Node then reads and drops what the client still sends instead of
      // closing the socket with bytes unread, which the kernel turns into a TCP reset that
      // discards the GOAWAY not yet sent (a flooding client keeps writing). close() adds a
      // GOAWAY NO_ERROR after ours. The socket goes within a second whatever the client does,
      // as a connection refused on its first read does.
      s.close();
      setTimeout(() => socket.destroy(), 1_000).unref();
    }
    s.destroy();
  };
  s.on("stream", (stream: http2.ServerHttp2Stream) => {
    open++;
    if ((stream.id ?? 0) > lastId) lastId = stream.id!;
    const opened = performance.now();
    let counted = false;
    /** Counts the stream's reset once, whichever event saw it first. */
    const reset = () => {
      if (counted) return;
      counted = true;
      const now = performance.now();
      if (now - opened < PREMATURE_RESET_MS && !resets.spend(now)) calmDown();
    };
    // Closed by a reset (the client's RST_STREAM, whatever its code; rarely the gateway's own)
    // soon after it opened. A stream that ends normally closes with NO_ERROR once its answer has
    // been written out; a reset one has another code, or (RST_STREAM NO_ERROR) an answer not yet
    // written out (or never begun: 'aborted'). Node's 'aborted' alone is not enough: a refusal
    // ends its answer in the microtasks of the HEADERS frame, before Node reads the RST_STREAM
    // that follows it.
    const closedEarly = () => stream.closed && !(stream.rstCode === http2.constants.NGHTTP2_NO_ERROR && stream.writableFinished && !stream.aborted);
    // RST_STREAM NO_ERROR: Node closes the stream (stream.closed) but destroys it, which 'close'
    // waits for, only once its request body is read to the end and its answer written out. The
    // answer of a stream nghttp2 has closed is never written out, so its 'close' comes with the
    // session's, and such streams went uncounted. Node reads the body to its end itself when no
    // one reads it, so 'end' comes at once; and 'aborted' when the answer had not ended.
    // Two listeners more per stream than before: 60–110 ns a stream (a micro-benchmark of once()).
    stream.once("aborted", reset);
    stream.once("end", () => {
      if (!closedEarly()) return;
      reset();
      // Its answer ended but can never be written out: Node would keep the stream (and its place
      // among the session's open streams) until the session closes.
      if (stream.writableEnded && !stream.writableFinished) stream.destroy();
    });
    stream.once("close", () => {
      open--;
      if (closedEarly()) reset();
    });
  });
  // Node's session timer calls its callback once: armed again while streams are open.
  const onIdle = () => {
    if (s.destroyed) return;
    if (open > 0) s.setTimeout(idleMs, onIdle);
    else s.destroy();
  };
  s.setTimeout(idleMs, onIdle);
}

/**
 * The accept queue asked of the kernel (which caps it at net.core.somaxconn). Node's default of 511
 * overflows when thousands of clients connect within a second (a GPU pool's worth of streams after a
 * deploy): the kernel then drops SYNs and resets handshakes, and clients see connect timeouts and
 * ECONNRESET before the gateway ever saw them. Only kernel memory for pending connections; no cost
 * per request.
 */
export const LISTEN_BACKLOG = 4096;

function listenOn(server: net.Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen({ port, host, backlog: LISTEN_BACKLOG }, () => {
      server.off("error", reject);
      resolve();
    });
  });
}

function makeListener(server: net.Server, sockets: Set<net.Socket>, sessions: Set<http2.Http2Session>): Listener {
  const addr = server.address() as net.AddressInfo;
  return {
    host: addr.address,
    port: addr.port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Ask HTTP/2 peers to stop opening streams; in-flight ones finish.
        for (const s of sessions) if (!s.closed) s.close();
      }),
    destroyAll: () => {
      for (const s of sessions) s.destroy();
      for (const s of sockets) s.destroy();
    },
    reloadTls: () => {},
    startDrain: () => {},
  };
}

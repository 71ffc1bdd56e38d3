import type { ServerResponse } from "node:http";
import type { Http2ServerResponse } from "node:http2";
import type { ChatPipeline, Runtime } from "../chat/index.js";
import { hashedPlaceholder, rawChunkOf, releaseHeldBody, type CallContext, type Chunk, type Operation, type Principal, type RequestOrigin } from "../wire/index.js";
import { GatewayError, toGatewayError } from "../errors/index.js";
import { SSE_DONE, sseData } from "../upstream/index.js";
import { AuthFailure, duplicateAuthorization, repeatedAuthorization, type Authenticator } from "./auth.js";
import { ClientCancel } from "./client-cancel.js";
import { bufferedBodyBytes, parseJsonBytes, readJsonBody, type NodeRequest } from "./http-body.js";

export type NodeResponse = ServerResponse | Http2ServerResponse;

export interface ShimDeps {
  pipeline: ChatPipeline;
  runtime: () => Runtime;
  auth: () => Authenticator;
  /** The largest body read (limits.max_body_bytes, which a reload may change). */
  maxBodyBytes: () => number;
  /** False while starting or draining: /readyz answers 503. */
  ready: () => boolean;
  /** GET /metrics (admin scope): the Prometheus exposition, aggregated across workers when there are several. */
  metrics?: () => Promise<{ contentType: string; text: string }>;
}

/** The OpenAI-compatible HTTP API: what the openai SDKs and curl talk to. */
export function createOpenAiShim(deps: ShimDeps) {
  return function openAiShim(req: NodeRequest, res: NodeResponse): void {
    handle(deps, req, res).catch((err) => {
      // handle() answers its own errors; this only guards against a fault while answering.
      if (!res.headersSent) sendError(res, toGatewayError(err));
      else res.destroy();
    });
  };
}

async function handle(deps: ShimDeps, req: NodeRequest, res: NodeResponse): Promise<void> {
  const url = req.url ?? "/";
  const q = url.indexOf("?");
  const path = q < 0 ? url : url.slice(0, q);
  const method = req.method ?? "GET";
  try {
    switch (path) {
      case "/v1/chat/completions":
      case "/chat/completions":
        return await completion(deps, req, res, "chat", method, "/v1/chat/completions");
      case "/v1/completions":
      case "/completions":
        return await completion(deps, req, res, "completion", method, "/v1/completions");
      case "/v1/models":
        allow(method, "GET");
        await authenticate(deps.auth(), deps, req, "models", originOf(req, "/v1/models"));
        return sendJson(res, 200, modelList(deps.runtime()));
      case "/healthz":
        allow(method, "GET");
        return sendJson(res, 200, { status: "ok" });
      case "/readyz": {
        allow(method, "GET");
        const rt = deps.runtime();
        const healthy = rt.registry.states.filter((s) => s.healthy).length;
        const ready = deps.ready() && healthy > 0;
        return sendJson(res, ready ? 200 : 503, { status: ready ? "ready" : "not_ready", healthy_targets: healthy, targets: rt.registry.states.length });
      }
      case "/metrics":
        // Without a metrics source (a --metrics-listen address serves them instead) it is no route.
        if (deps.metrics) {
          allow(method, "GET");
          deps.auth().authenticate(header(req, "authorization"), req.socket?.remoteAddress, "admin");
          return sendMetrics(res, await deps.metrics());
        }
    }
    if (path.startsWith("/v1/models/")) {
      allow(method, "GET");
      await authenticate(deps.auth(), deps, req, "models", originOf(req, "/v1/models/{model}"));
      const id = decodePathPart(path.slice("/v1/models/".length));
      const m = modelList(deps.runtime()).data.find((x) => x.id === id);
      if (!m) throw new GatewayError("KT_ERR_UNKNOWN_MODEL", `The model \`${hashedPlaceholder("unknown-model", id)}\` does not exist.`, { param: "model" });
      return sendJson(res, 200, m);
    }
    // Neither the path nor an HTTP/2 client's free-form :method is echoed (src/wire/client-text.ts).
    throw new GatewayError("KT_ERR_ROUTE_NOT_FOUND", `no route for ${STANDARD_METHODS.has(method) ? method : "this method"} at this path (${hashedPlaceholder("path", path)})`);
  } catch (err) {
    const e = toGatewayError(err);
    if (!res.headersSent) sendError(res, e);
    else res.destroy();
  }
}

/** Methods a route-not-found answer may name. */
const STANDARD_METHODS: ReadonlySet<string> = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"]);

function allow(method: string, expected: string): void {
  if (method !== expected) throw new GatewayError("KT_ERR_METHOD_NOT_ALLOWED", `use ${expected} for this route`);
}

/**
 * Authenticates, and records a refusal before it is answered (see docs/audit.md): the principal
 * at once, or a promise that rejects once the refusal is recorded. Not an async function: a
 * request that passes (every served one) costs no promise and no await hop (issue #20).
 */
function authenticate(auth: Authenticator, deps: ShimDeps, req: NodeRequest, operation: string, origin: RequestOrigin): Principal | Promise<never> {
  try {
    // Node keeps only the first of repeated Authorization headers; two credentials are refused (and recorded).
    if (repeatedAuthorization(req.rawHeaders)) throw duplicateAuthorization(req.rawHeaders);
    return auth.authenticate(header(req, "authorization"), origin.clientAddress);
  } catch (err) {
    if (err instanceof AuthFailure)
      return refuse(deps, req, operation, origin, err, err.principal, err.fingerprint ?? "none").then(() => {
        throw err;
      });
    throw err;
  }
}

/**
 * Records a request refused before the pipeline; the answer goes out once the record is written.
 * A record the audit log could not write turns the refusal into 503 audit_log_unavailable, the
 * answer every request gets while the log is failed (not a bare 500).
 */
async function refuse(deps: ShimDeps, req: NodeRequest, operation: string, origin: RequestOrigin, error: GatewayError, principal: Principal | undefined, credential?: string): Promise<void> {
  try {
    await record(deps, req, operation, origin, error, principal, credential);
  } catch {
    throw new GatewayError("KT_ERR_AUDIT_UNAVAILABLE", "the audit log cannot be written; requests are refused until it is repaired");
  }
}

function record(deps: ShimDeps, req: NodeRequest, operation: string, origin: RequestOrigin, error: GatewayError, principal: Principal | undefined, credential?: string): Promise<void> | void {
  return deps.pipeline.refuse({
    kind: "request",
    operation,
    model: "",
    stream: false,
    frontDoor: "openai",
    principal,
    credential: principal ? undefined : credential,
    error,
    origin,
    traceparent: header(req, "traceparent"),
    tracestate: header(req, "tracestate"),
  });
}

/** The peer and route of a request, for its span and record. */
function originOf(req: NodeRequest, route: string): RequestOrigin {
  const s = req.socket;
  return {
    clientAddress: s?.remoteAddress,
    clientPort: s?.remotePort,
    httpMethod: req.method ?? "GET",
    httpRoute: route,
    protocolVersion: req.httpVersionMajor === 2 ? "2" : req.httpVersion,
  };
}

/** A percent-encoded path segment; malformed encoding is the client's error (400), not a fault. */
function decodePathPart(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new GatewayError("KT_ERR_INVALID_REQUEST", "the request path has malformed percent-encoding");
  }
}

function header(req: NodeRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

async function completion(deps: ShimDeps, req: NodeRequest, res: NodeResponse, op: Operation, method: string, route: string): Promise<void> {
  allow(method, "POST");
  const origin = originOf(req, route);
  const auth = deps.auth();
  const authenticated = authenticate(auth, deps, req, op, origin);
  // Always one await before the body is read, a refusal's or this one: Node's HTTP/1 parser
  // pushes a body that came in the packet of its headers into the request only after the
  // 'request' handler has returned; after one microtask hop it is there (see bufferedBodyBytes).
  let principal = await authenticated;
  const cancel = new ClientCancel();
  // Inline, not a named const: the CLI runs through tsx, whose esbuild keepNames would give a
  // named closure a defineProperty call on every request.
  // Before the body is read: a client that goes while a large body is read or parsed in the pool
  // cancels its jobs there, and the pipeline records it as cancelled without calling the upstream
  // (attached after the read, the listener missed a close that came meanwhile, and the model ran).
  // writableEnded, not writableFinished: an HTTP/2 compat response reports itself finished when
  // its stream is reset, so an h2 client's cancel, closed session or GOAWAY never reached the upstream.
  // on(), not once(): a response closes once, and once() adds a wrapper per request.
  // A large answer's pooled memory goes back once the response has closed (its last byte has
  // left, or it never will): reused before then, it could be zeroed under a write in progress.
  let closed = false;
  let afterClose: (() => void) | undefined;
  (res as unknown as NodeJS.EventEmitter).on("close", () => {
    closed = true;
    if (!res.writableEnded) cancel.abort();
    afterClose?.();
  });
  let body: unknown;
  // The bytes the body was parsed from (none for a held one): the pipeline may send them upstream.
  let raw: Uint8Array | undefined;
  try {
    const limit = deps.maxBodyBytes();
    const depth = deps.runtime().config.limits.maxJsonDepth;
    // An ordinary body is all there by now: read and parsed without a promise (see bufferedBodyBytes).
    const buffered = bufferedBodyBytes(req, limit);
    if (buffered !== undefined) {
      body = parseJsonBytes(buffered, depth);
      raw = buffered;
    } else {
      // A large body counts against its key's share of limits.max_held_body_bytes (src/wire/shared-memory.ts).
      const read = await readJsonBody(req, limit, depth, principal.keyId, cancel);
      body = read.body;
      raw = read.raw;
    }
  } catch (err) {
    // An unreadable body (malformed JSON, too large, bad UTF-8) never reaches the pipeline; nor
    // does one whose client went while it was parsed (recorded as cancelled).
    await refuse(deps, req, op, origin, toGatewayError(err), principal);
    throw err;
  }
  // A reload while the body arrived (up to the request timeout) may have removed the key or its
  // scope: the call is admitted under the keys in force now, not those of its headers' time.
  // An identity comparison per request; the key is hashed again only after a reload.
  const now = deps.auth();
  if (now !== auth) {
    try {
      principal = await authenticate(now, deps, req, op, origin);
    } catch (err) {
      releaseHeldBody(body);
      throw err;
    }
  }
  try {
    const result = await deps.pipeline.run(op, body, new ShimCallContext(principal, cancel, header(req, "traceparent"), header(req, "tracestate"), origin, raw));
    // An answer no rule changed goes out as the upstream sent it: its bytes when they were valid
    // UTF-8 (no byte count of the text, no encoding it again for the socket), else its text.
    if (!result.stream) {
      // A held answer (src/wire/held-answer.ts): `rawBytes` is its pooled memory, sent in slices.
      if (result.release) {
        // The client has gone: nothing to send, the memory goes back now.
        if (closed) return result.release();
        afterClose = result.release;
        return await sendSliced(res, result.rawBytes!, result.headers, cancel);
      }
      return sendJsonText(res, 200, result.rawBytes ?? result.raw ?? JSON.stringify(result.body), result.headers);
    }
    await relayStream(result.chunks, res, cancel, result.headers, result.verbatim === true);
  } finally {
    // A large body's pooled memory (its bytes, its rewrites, its upstream form) goes back for
    // the next one; a pool job still reading it keeps it until the job ends.
    releaseHeldBody(body);
  }
}

/**
 * A class, not an object literal with a getter: a literal's getter is a new closure per request,
 * which V8 hangs on a per-object hidden class in old space — that kept every request's closure
 * context (request, response, body) alive past two scavenges, so each was promoted and later
 * collected by a full GC (1.5 MB promoted per scavenge under load).
 */
class ShimCallContext implements CallContext {
  readonly frontDoor = "openai" as const;
  constructor(
    readonly principal: Principal,
    readonly cancel: ClientCancel,
    readonly traceparent: string | undefined,
    readonly tracestate: string | undefined,
    readonly origin: RequestOrigin,
    readonly rawBody: Uint8Array | undefined,
  ) {}

  get signal(): AbortSignal {
    return this.cancel.signal;
  }
}

/**
 * Pulls the first chunk before answering, so a failure that happens before any data (an upstream
 * fault, a buffered-mode block) is a plain HTTP error the SDK maps to its error class. After the
 * headers, a failure becomes an OpenAI-style `data: {"error":…}` event and the stream ends.
 */
async function relayStream(chunks: AsyncIterable<Chunk>, response: NodeResponse, cancel: ClientCancel, headers: Record<string, string> | undefined, verbatim: boolean): Promise<void> {
  // http and http2 compat responses share this surface; TypeScript cannot call through their union.
  const res = response as ServerResponse;
  const it = chunks[Symbol.asyncIterator]();
  let next = await it.next();
  const head = ["content-type", "text/event-stream; charset=utf-8", "cache-control", "no-cache", "x-accel-buffering", "no"];
  if (headers) for (const k in headers) head.push(k, headers[k]!);
  res.writeHead(200, head);
  // The events of chunks that were ready one after another go out in one write, once the relay
  // waits for more (process.nextTick runs after the microtasks that relayed them): a write per
  // event cost a chunked-encoding frame (four buffers) and a writev entry each, ~20% of the
  // main thread's time under a fast upstream of one-character deltas.
  const out = new PendingWrites(res, cancel);
  try {
    while (!next.done) {
      if (cancel.aborted) break;
      // An unchanged chunk goes out as the upstream wrote it: no serialising per chunk.
      const text = (verbatim && rawChunkOf(next.value)) || JSON.stringify(next.value);
      out.add(sseData(text));
      // The client reads slower than the upstream sends: wait for its socket before the next chunk.
      const full = out.full;
      if (full) await full;
      next = await it.next();
    }
    if (!cancel.aborted) res.end(out.take() + SSE_DONE);
  } catch (err) {
    if (cancel.aborted) return;
    const e = toGatewayError(err);
    res.end(out.take() + sseData(JSON.stringify(e.toOpenAI())) + SSE_DONE);
  } finally {
    if (cancel.aborted) await it.return?.();
  }
}

/** Text waiting for one write reaches the socket at once from this many characters. */
const WRITE_NOW_CHARS = 64 * 1024;

/**
 * A stream's events waiting for their write: written together on the next tick, or at once from
 * WRITE_NOW_CHARS. `full` is set (a promise of the socket's drain, or of a cancel) once a write
 * found the socket's buffer full.
 */
class PendingWrites {
  private text = "";
  private scheduled = false;
  full: Promise<void> | undefined;
  private readonly flush = (): void => {
    this.scheduled = false;
    this.write();
  };

  constructor(
    private readonly res: NodeResponse,
    private readonly cancel: ClientCancel,
  ) {}

  add(event: string): void {
    this.text += event;
    if (this.text.length >= WRITE_NOW_CHARS) this.write();
    else if (!this.scheduled) {
      this.scheduled = true;
      process.nextTick(this.flush);
    }
  }

  /** What waits, taken for a last write of the caller's own (the stream's end). */
  take(): string {
    const t = this.text;
    this.text = "";
    return t;
  }

  private write(): void {
    if (this.text === "" || this.cancel.aborted) return;
    const t = this.take();
    if (!(this.res as ServerResponse).write(t) && this.full === undefined) this.full = drained(this.res, this.cancel).then(() => void (this.full = undefined));
  }
}

/** A held answer goes to the client in writes of this size, one per turn of the event loop. */
const ANSWER_SLICE_BYTES = 64 * 1024;

/**
 * A large answer written in slices, one per turn, waiting for the socket to drain when its buffer
 * is full: written whole, the first 8 MiB answer on a connection held the event loop ~47 ms in
 * the one write (the kernel copying what its socket buffer takes), more with several at once.
 */
async function sendSliced(res: NodeResponse, bytes: Uint8Array, extra: Record<string, string> | undefined, cancel: ClientCancel): Promise<void> {
  const headers: (string | number)[] = ["content-type", "application/json", "content-length", bytes.byteLength];
  if (extra) for (const k in extra) headers.push(k, extra[k]!);
  const r = res as ServerResponse;
  r.writeHead(200, headers as string[]);
  for (let at = 0; at < bytes.byteLength; at += ANSWER_SLICE_BYTES) {
    if (at > 0) await new Promise<void>((resolve) => setImmediate(resolve));
    if (cancel.aborted) return;
    if (!r.write(bytes.subarray(at, Math.min(bytes.byteLength, at + ANSWER_SLICE_BYTES)))) await drained(res, cancel);
  }
  if (!cancel.aborted) r.end();
}

function drained(res: NodeResponse, cancel: ClientCancel): Promise<void> {
  const em = res as unknown as NodeJS.EventEmitter;
  return new Promise((resolve) => {
    const done = () => {
      em.off("drain", done);
      cancel.off("abort", done);
      resolve();
    };
    em.once("drain", done);
    cancel.once("abort", done);
  });
}

function modelList(rt: Runtime) {
  const created = Math.floor(Date.now() / 1000);
  return {
    object: "list" as const,
    data: rt.registry.models().map((m) => ({
      id: m.id,
      object: "model" as const,
      created,
      owned_by: "openllm",
      kind: m.kind,
      targets: m.targets,
    })),
  };
}

function sendMetrics(res: NodeResponse, m: { contentType: string; text: string }): void {
  res.writeHead(200, { "content-type": m.contentType, "content-length": Buffer.byteLength(m.text), "cache-control": "no-store" });
  res.end(m.text);
}

export function sendJson(res: NodeResponse, status: number, body: unknown, extra?: Record<string, string>): void {
  sendJsonText(res, status, JSON.stringify(body), extra);
}

/**
 * The headers as one flat list (name, value, …), which both Node's HTTP/1 and HTTP/2 responses
 * take as they are: no object spread of the rate-limit headers into a new object per answer.
 */
function sendJsonText(res: NodeResponse, status: number, text: string | Uint8Array, extra?: Record<string, string>): void {
  const headers: (string | number)[] = ["content-type", "application/json", "content-length", typeof text === "string" ? Buffer.byteLength(text) : text.byteLength];
  if (extra) for (const k in extra) headers.push(k, extra[k]!);
  (res as ServerResponse).writeHead(status, headers as string[]);
  res.end(text);
}

export function sendError(res: NodeResponse, e: GatewayError): void {
  const extra: Record<string, string> = {};
  // A policy block or a bad request will not change on retry; tell the SDKs so.
  if (e.status < 500 && e.status !== 429 && e.status !== 408) extra["x-should-retry"] = "false";
  if (e.retryAfter !== undefined) extra["retry-after"] = String(e.retryAfter);
  // Rate-limit state (and, for a spent budget, x-should-retry: false) goes on errors too.
  sendJson(res, e.status, e.toOpenAI(), e.headers ? { ...extra, ...e.headers } : extra);
}

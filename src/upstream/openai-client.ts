import { isUtf8 } from "node:buffer";
import type { Target } from "../config/index.js";
import { GatewayError } from "../errors/index.js";
import { type CancelSignal, type Chunk, type JsonObject, type Operation } from "../wire/index.js";
import { abortSignalOf } from "./cancel-signal.js";
import { ClientPool } from "./client-pool.js";
import { postForText, type HeldTextAnswer, type TextAnswer } from "./post-for-text.js";
import { openSseStream } from "./sse-stream.js";
import { transportError, upstreamStatusError, type AbortCause } from "./upstream-error.js";

export interface UpstreamCall {
  op: Operation;
  /** The request body as it goes upstream (model already set to the target's model). */
  body: JsonObject;
  /** The body already written as UTF-8 JSON (a large body, written by a policy worker): sent as is. */
  bytes?: Uint8Array;
  signal: CancelSignal;
  traceparent?: string;
  tracestate?: string;
  /** A stream's chunks keep the upstream's JSON text beside them (rawChunkOf) for a relay that sends them unchanged; false when a guard rewrites every chunk anyway. */
  keepRaw?: boolean;
  /**
   * A successful non-streamed answer from this many bytes comes back held (jsonText's `held`): its
   * bytes in pooled shared memory, not decoded or parsed here. Only the chat pipeline asks, since
   * only it has a pool worker parse them (src/policy/held-answer.ts).
   */
  holdAnswerFrom?: number;
}

/** A whole answer: parsed, as text, and as the bytes of that text when they were valid UTF-8. */
export type JsonAnswer = { body: JsonObject; text: string; bytes: Buffer | undefined; held?: undefined } | { held: { bytes: SharedArrayBuffer; length: number } };

/**
 * A request body from this size goes to the upstream socket in slices of SLICE_BYTES, one per turn
 * of the event loop, and waits for the socket to drain when its buffer is full. Written whole, a
 * 15 MiB body held the main thread 0.4-0.5 s in one write (the kernel copies what it accepts
 * during the call); a slice costs about 2 ms. Below it one write is cheaper than the hand-offs.
 */
export const SLICE_MIN_BYTES = 256 * 1024;
const SLICE_BYTES = 64 * 1024;

/**
 * The body in slices, as undici reads an iterable body (it awaits 'drain' when a write returns
 * false). A new iterable per dispatch: an iterable is read once, and a retried call needs its own.
 * The slices are views of `bytes`, never copies; the caller's bytes must stay unchanged until the
 * call has settled.
 */
export async function* bodySlices(bytes: Uint8Array, sliceBytes = SLICE_BYTES): AsyncGenerator<Buffer> {
  for (let at = 0; at < bytes.length; at += sliceBytes) {
    // Other requests' turn between slices (not before the first: headers and slice go together).
    if (at > 0) await new Promise<void>((resolve) => setImmediate(resolve));
    yield Buffer.from(bytes.buffer, bytes.byteOffset + at, Math.min(sliceBytes, bytes.length - at));
  }
}

/**
 * The request body and its headers as undici is given them: a large body in slices, with its
 * length declared (undici then sends content-length, not chunked encoding, and refuses a body
 * that does not match it).
 */
function requestBody(call: UpstreamCall, headers: Record<string, string>): { body: string | Uint8Array | AsyncIterable<Buffer>; headers: Record<string, string> } {
  const bytes = call.bytes;
  if (!bytes) return { body: JSON.stringify(call.body), headers };
  if (bytes.length < SLICE_MIN_BYTES) return { body: bytes, headers };
  return { body: bodySlices(bytes), headers: { ...headers, "content-length": String(bytes.length) } };
}

const USER_AGENT = "keeptrusts-gateway";

/** Largest upstream body the gateway reads (non-streamed responses and error bodies). */
const MAX_UPSTREAM_BODY = 64 * 1024 * 1024;

/**
 * An OpenAI-wire client for one target: a keep-alive undici pool, the target's bearer token
 * (never the client's), and OpenLLM's quirks normalised into GatewayErrors.
 */
export class UpstreamClient {
  private readonly pool: ClientPool;
  private readonly basePath: string;
  /** The target's bearer token as the header's value (never the client's), or undefined. */
  private readonly authorization: string | undefined;

  constructor(readonly target: Target, opts: { connections?: number } = {}) {
    const url = new URL(target.baseUrl);
    this.basePath = url.pathname.replace(/\/+$/, "");
    this.pool = new ClientPool(url.origin, {
      // A stream holds its connection for its whole length, so the pool must be as wide as the
      // streams the gateway admits (limits.max_concurrent_streams, default 2000); fewer would
      // queue streams behind each other.
      connections: opts.connections ?? 2048,
      keepAliveTimeout: 30_000,
      keepAliveMaxTimeout: 600_000,
      connect: { timeout: target.connectTimeoutSeconds * 1000 },
    });
    this.authorization = target.secret ? `Bearer ${target.secret}` : undefined;
  }

  /**
   * A new object literal per call, its members added in one order. Not a spread copy of a shared
   * object: V8 (Node 20) adds a member to an object made by spreading a non-empty one (here the
   * trace context, on every request an audit log or tracing records) through its runtime, copying
   * the object's map each time, ~2 us a request (issue #20, round 12).
   */
  private requestHeaders(accept: string, traceparent?: string, tracestate?: string): Record<string, string> {
    const h: Record<string, string> = { "content-type": "application/json", accept, "user-agent": USER_AGENT };
    if (this.authorization !== undefined) h.authorization = this.authorization;
    if (traceparent) h.traceparent = traceparent;
    if (tracestate) h.tracestate = tracestate;
    return h;
  }

  /** The client's signal, joined with the target's total_timeout_seconds when it has one. */
  private bounded(client: CancelSignal): { total: AbortSignal | undefined; signal: CancelSignal } {
    const seconds = this.target.totalTimeoutSeconds;
    if (seconds === undefined) return { total: undefined, signal: client };
    const total = AbortSignal.timeout(seconds * 1000);
    return { total, signal: AbortSignal.any([abortSignalOf(client), total]) };
  }

    private path(op: Operation): string {
    return this.basePath + (op === "chat" ? "/chat/completions" : "/completions");
  }

  /** A non-streamed call, bounded by the target's `timeout_seconds` (and `total_timeout_seconds`). */
  async json(call: UpstreamCall): Promise<JsonObject> {
    const a = await this.jsonText(call);
    if (a.held) throw new GatewayError("KT_ERR_INTERNAL", "a held answer where a parsed one was asked for");
    return a.body;
  }

  /**
   * As json(), with the answer's text as the upstream sent it, and its bytes when they are valid
   * UTF-8 (then they are exactly the text's UTF-8 encoding, and can be sent on as they came). With
   * `holdAnswerFrom`, a successful answer of that size or more comes back `held` instead, unread.
   */
  async jsonText(call: UpstreamCall): Promise<JsonAnswer> {
    const t = this.target;
    const timeoutMs = t.timeoutSeconds * 1000;
    const deadline = performance.now() + timeoutMs;
    // undici's own header and body timers bound the call; an AbortSignal per request is only
    // paid for when a total bound is configured.
    const { total, signal } = this.bounded(call.signal);
    // timeout_seconds bounds a non-streamed answer, body included: undici's body timer firing is
    // the same fault as the header timer (upstream_timeout), not a stream's idle timeout.
    const cause = (err: unknown) =>
      abortCause(call.signal, undefined, total) ?? ((err as { code?: string } | undefined)?.code === "UND_ERR_BODY_TIMEOUT" ? "first-byte" : undefined);
    let res: TextAnswer | HeldTextAnswer;
    try {
      const sent = requestBody(call, this.requestHeaders("application/json", call.traceparent, call.tracestate));
      res = await postForText(
        this.pool,
        {
          path: this.path(call.op),
          headers: sent.headers,
          body: sent.body,
          timeoutMs,
          deadline,
          limit: MAX_UPSTREAM_BODY,
          targetId: t.id,
          holdFrom: call.holdAnswerFrom,
        },
        signal,
      );
    } catch (err) {
      throw err instanceof GatewayError ? err : transportError(err, t.id, cause(err));
    }
    if (res.shared) return { held: { bytes: res.shared, length: res.length } };
    const text = res.text;
    if (res.status < 200 || res.status >= 300) throw upstreamStatusError(res.status, text, t.id);
    try {
      const body = JSON.parse(text);
      // Invalid UTF-8 was decoded with replacement characters: only the text is the answer then.
      if (body && typeof body === "object" && !Array.isArray(body)) return { body: body as JsonObject, text, bytes: isUtf8(res.bytes) ? res.bytes : undefined };
    } catch {
      // fall through to the protocol error
    }
    throw new GatewayError("KT_ERR_UPSTREAM_PROTOCOL", `target '${t.id}' sent a response that is not a JSON object`);
  }

  /**
   * A streamed call. Resolves once the upstream has answered with its headers (so failures before
   * the first byte reach the caller as a rejected promise, not a broken stream), then yields chunks.
   */
  async stream(call: UpstreamCall): Promise<AsyncIterable<Chunk>> {
    const t = this.target;
    const { total, signal } = this.bounded(call.signal);
    const cause = () => abortCause(call.signal, undefined, total);
    let sent;
    try {
      sent = requestBody(call, this.requestHeaders("text/event-stream", call.traceparent, call.tracestate));
    } catch (err) {
      throw transportError(err, t.id, cause());
    }
    return openSseStream(
      this.pool,
      {
        path: this.path(call.op),
        headers: sent.headers,
        body: sent.body,
        headersTimeoutMs: t.timeoutSeconds * 1000,
        bodyTimeoutMs: t.idleTimeoutSeconds * 1000,
        limit: MAX_UPSTREAM_BODY,
        targetId: t.id,
        keepRaw: call.keepRaw !== false,
      },
      signal,
      cause,
    );
  }

  /** GET {base_url}/models, for health probes. */
  async probe(timeoutMs: number): Promise<void> {
    const res = await this.pool.request({
      method: "GET",
      path: `${this.basePath}/models`,
      headers: this.requestHeaders("application/json"),
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await readText(res.body, 1024 * 1024);
    if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode}`);
    const body = JSON.parse(text);
    if (!Array.isArray(body?.data)) throw new Error("not an OpenAI model list");
  }

  close(): Promise<void> {
    return this.pool.close();
  }

  destroy(): Promise<void> {
    return this.pool.destroy();
  }
}

function abortCause(client: CancelSignal, firstByte: AbortSignal | undefined, total: AbortSignal | undefined): AbortCause {
  if (client.aborted) return "client";
  if (total?.aborted) return "total";
  if (firstByte?.aborted) return "first-byte";
  return undefined;
}

type BodyStream = AsyncIterable<Buffer> &
  NodeJS.EventEmitter & {
    destroy?: (e?: Error) => void;
    iterator(opts: { destroyOnReturn: boolean }): AsyncIterable<Buffer>;
    readonly readableEnded: boolean;
    resume(): void;
  };

/**
 * Reads a whole body. `deadline` (a performance.now() value) bounds a body trickled in pieces
 * that each arrive within the idle timer: checked as pieces come, so it costs no timer. Plain
 * stream events rather than `for await`: this runs for every non-streamed answer, and the async
 * iterator costs a promise per piece.
 */
function readText(body: BodyStream, limit: number, deadline = Infinity, targetId = ""): Promise<string> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    const fail = (e: Error) => {
      body.removeListener("data", onData);
      body.destroy?.();
      reject(e);
    };
    const onData = (part: Buffer) => {
      size += part.length;
      if (size > limit) return fail(new GatewayError("KT_ERR_UPSTREAM_PROTOCOL", "upstream response is too large"));
      if (performance.now() > deadline)
        return fail(new GatewayError("KT_ERR_UPSTREAM_TIMEOUT", `target '${targetId}' did not finish its answer within timeout_seconds`));
      parts.push(part);
    };
    body.on("data", onData);
    body.once("end", () => resolve(parts.length === 1 ? parts[0]!.toString("utf8") : Buffer.concat(parts, size).toString("utf8")));
    body.on("error", reject);
  });
}


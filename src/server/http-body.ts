import type { IncomingMessage } from "node:http";
import type { Http2ServerRequest } from "node:http2";
import { GatewayError } from "../errors/index.js";
import { parseHeldBody, TOO_MANY_VALUES } from "../policy/index.js";
import { jsonSyntaxDetail, nestingExceeds, releaseSharedMemory, sharedMemory, SharedMemoryBoundError, SharedMemoryTooLargeError, type CancelSignal } from "../wire/index.js";

export type NodeRequest = IncomingMessage | Http2ServerRequest;

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Bodies from this size are not parsed on the main thread: they are copied piece by piece, as they
 * arrive, into shared memory (made by a helper thread, reused across requests: src/wire/
 * shared-memory.ts), and a policy
 * worker parses them (src/wire/held-body.ts). Below it the body is parsed here, as every ordinary
 * request is: a few milliseconds at most.
 */
export const HOLD_MIN_BYTES = 256 * 1024;

/** A request body as read: small ones as one Buffer, large ones in shared memory. */
export interface RawBody {
  bytes: Buffer;
  size: number;
  /**
   * The body's bytes [0, size) when it was held (from HOLD_MIN_BYTES), in pooled memory: the
   * reader hands it back with releaseSharedMemory() when done with it (readJsonBody's caller:
   * releaseHeldBody() on the parsed body).
   */
  shared: SharedArrayBuffer | undefined;
}

/**
 * A parsed request body, with the bytes it was parsed from when it was read whole here (a small
 * body; a held one has none): the pipeline may send those upstream as they are (CallContext.rawBody).
 */
export interface JsonBody {
  body: unknown;
  raw: Uint8Array | undefined;
}

/**
 * Reads a JSON request body within `limit` bytes; every failure is a GatewayError for the client.
 * A held body's pooled memory goes back with releaseHeldBody() on the result, once the request is done.
 * `cancel`: the request's cancellation; a held body's pool jobs are dropped when it fires (KT_ERR_CANCELLED).
 */
export async function readJsonBody(req: NodeRequest, limit: number, maxDepth = 64, owner?: string, cancel?: CancelSignal): Promise<JsonBody> {
  const { bytes, size, shared } = await readBody(req, limit, owner);
  if (shared) {
    let body: unknown;
    try {
      body = await readHeld(shared, size, maxDepth, cancel);
    } catch (err) {
      releaseSharedMemory(shared);
      throw err;
    }
    // Only an object is held (marked); anything else the pipeline refuses, so its memory goes now.
    if (body === null || typeof body !== "object" || Array.isArray(body)) releaseSharedMemory(shared);
    return { body, raw: undefined };
  }
  return { body: parseSmall(bytes, size, maxDepth), raw: bytes };
}

/**
 * readJsonBody's bytes without a promise when every declared byte of a small body is already
 * buffered (an ordinary request: its body came with its headers), for parseJsonBytes; undefined
 * when the caller must await readJsonBody. The front door's hottest path, so one async step fewer
 * per request (issue #20).
 */
export function bufferedBodyBytes(req: NodeRequest, limit: number): Buffer | undefined {
  const declared = Number(req.headers["content-length"]);
  if (!(declared <= limit)) return undefined;
  return bufferedBody(req, declared, limit);
}

/** A body bufferedBodyBytes returned, checked and parsed: the GatewayErrors readJsonBody rejects with. */
export function parseJsonBytes(bytes: Buffer, maxDepth = 64): unknown {
  return parseSmall(bytes, bytes.length, maxDepth);
}

/** A body read whole into one Buffer, checked and parsed on this thread. */
function parseSmall(bytes: Buffer, size: number, maxDepth: number): unknown {
  if (size === 0) throw new GatewayError("KT_ERR_MALFORMED_JSON", "the request body is empty; send a JSON object");
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw new GatewayError("KT_ERR_MALFORMED_JSON", "the request body is not valid UTF-8");
  }
  if (nestingExceeds(bytes, maxDepth))
    throw new GatewayError("KT_ERR_INVALID_REQUEST", `the request body nests deeper than ${maxDepth} levels`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new GatewayError("KT_ERR_MALFORMED_JSON", `the request body is not valid JSON (${jsonSyntaxDetail(err)})`);
  }
  return parsed;
}

/**
 * Reads a request body within `limit` bytes, holding a large one in shared memory without ever
 * concatenating or decoding it here; every failure is a GatewayError for the client.
 */
export function readBody(req: NodeRequest, limit: number, owner?: string): Promise<RawBody> {
  const declared = Number(req.headers["content-length"]);
  if (declared > limit) return Promise.reject(tooLarge(limit));
  const whole = bufferedBody(req, declared, limit);
  if (whole) return Promise.resolve({ bytes: whole, size: whole.length, shared: undefined });
  // Plain events rather than an async iterator: this runs for every request.
  return new Promise<RawBody>((resolve, reject) => {
    // Pieces not yet in shared memory (all of a small body's).
    let parts: Buffer[] = [];
    let size = 0;
    let shared: SharedArrayBuffer | undefined;
    let view: Uint8Array | undefined;
    let copied = 0;
    let asking = false;
    let ended = false;
    let settled = false;
    const r = req as unknown as NodeJS.ReadableStream & { destroyed?: boolean };
    const fail = (e: Error) => {
      if (settled) return;
      settled = true;
      releaseSharedMemory(shared);
      shared = undefined;
      reject(e);
    };
    const finish = () => {
      if (settled) return;
      settled = true;
      resolve({ bytes: shared ? Buffer.alloc(0) : parts.length === 1 ? parts[0]! : Buffer.concat(parts, size), size, shared });
    };
    // Large: the body goes into shared memory a helper thread has faulted in (src/server/
    // body-memory.ts); the request is paused meanwhile. Sized by Content-Length when sent, else
    // doubled as it grows (a fixed buffer: copies into a growable one are many times slower).
    const ask = () => {
      asking = true;
      r.pause();
      const want = Math.min(limit, declared >= size ? declared : Math.max(size * 2, (view?.length ?? 0) * 2));
      // The buffer it outgrows is given back once this one is filled: not counted against the bound twice.
      sharedMemory(want, true, owner, shared?.byteLength ?? 0).then(
        (sab) => {
          if (settled) return releaseSharedMemory(sab);
          if (size > sab.byteLength) {
            // More came while it was made (a piece already on its way): a larger one.
            releaseSharedMemory(sab);
            asking = false;
            ask();
            return;
          }
          const next = new Uint8Array(sab);
          if (view) next.set(view.subarray(0, copied));
          // The smaller buffer it outgrew goes back to the pool.
          releaseSharedMemory(shared);
          shared = sab;
          view = next;
          // Buffer#copy, not Uint8Array#set: V8's set() takes a slow path for a Buffer source.
          for (const p of parts) copied += p.copy(view, copied);
          parts = [];
          asking = false;
          if (ended) finish();
          else r.resume();
        },
        (err: unknown) => {
          // The rest of the body is read and dropped, as for one too large: the client can finish
          // sending and read its answer.
          r.removeAllListeners("data");
          r.resume();
          // A buffer larger than the bound (or a key's share) alone: no retry can pass, so no 503.
          if (err instanceof SharedMemoryTooLargeError) fail(new GatewayError("KT_ERR_BODY_TOO_LARGE", err.message));
          else fail(new GatewayError("KT_ERR_OVERLOADED", err instanceof SharedMemoryBoundError ? err.message : "the gateway has no memory for this request body now; retry shortly", { retryAfter: 1 }));
        },
      );
    };
    r.on("data", (part: Buffer) => {
      size += part.length;
      if (size > limit) {
        r.removeAllListeners("data");
        r.resume();
        fail(tooLarge(limit));
        return;
      }
      if (view && !asking && size <= view.length) {
        copied += part.copy(view, copied);
        return;
      }
      parts.push(part);
      if (!asking && size >= HOLD_MIN_BYTES) ask();
    });
    r.once("end", () => {
      ended = true;
      if (!asking) finish();
    });
    r.once("error", fail);
    (r as unknown as { once(e: "aborted", f: () => void): void }).once("aborted", () => fail(new GatewayError("KT_ERR_CANCELLED", "the client went away while sending the body")));
  });
}

/**
 * The body when all of its declared bytes are already buffered in the request: an ordinary
 * request's body comes in the packet of its headers, and Node's HTTP/1 parser has pushed it into
 * the request by the time the handler's first await returns. Then one read() takes it, without the
 * listeners, closures and 'data' events of the general path; resume() lets the request run to its
 * end as before (its 'end' event, the connection's next request). Anything else (no
 * Content-Length, bytes still to come, a body to hold, one over the limit, a stream someone
 * already reads) takes the general path.
 */
function bufferedBody(req: NodeRequest, declared: number, limit: number): Buffer | undefined {
  const r = req as IncomingMessage;
  const n = r.readableLength;
  if (n === 0 || n !== declared || n > limit || n >= HOLD_MIN_BYTES || r.readableFlowing !== null) return undefined;
  const bytes = r.read() as Buffer | null;
  // In byte mode read() returns everything buffered, as one Buffer.
  if (bytes === null || bytes.length !== n) throw new Error(`request body: read ${bytes?.length ?? "nothing"} of ${n} buffered bytes`);
  r.resume();
  return bytes;
}

function tooLarge(limit: number): GatewayError {
  return new GatewayError("KT_ERR_BODY_TOO_LARGE", `the request body exceeds the limit of ${limit} bytes`);
}

/** A large body, parsed by a worker: the same errors, word for word, as a small body's. */
async function readHeld(bytes: SharedArrayBuffer, size: number, maxDepth: number, cancel: CancelSignal | undefined): Promise<unknown> {
  const r = await parseHeldBody(bytes, size, maxDepth, cancel);
  if (!("fault" in r)) return r.body;
  switch (r.fault) {
    case "empty":
      throw new GatewayError("KT_ERR_MALFORMED_JSON", "the request body is empty; send a JSON object");
    case "utf8":
      throw new GatewayError("KT_ERR_MALFORMED_JSON", "the request body is not valid UTF-8");
    case "depth":
      throw new GatewayError("KT_ERR_INVALID_REQUEST", `the request body nests deeper than ${maxDepth} levels`);
    case "key":
      throw new GatewayError("KT_ERR_INVALID_REQUEST", "the request body has an object key of 65,536 characters or more");
    case "values":
      throw new GatewayError("KT_ERR_INVALID_REQUEST", TOO_MANY_VALUES);
    case "json":
      throw new GatewayError("KT_ERR_MALFORMED_JSON", `the request body is not valid JSON (${r.detail})`);
  }
}

export { nestingExceeds };

import type { IncomingMessage } from "node:http";
import type { Http2ServerRequest } from "node:http2";
import { GatewayError } from "../errors/index.js";
import { parseHeldBody } from "../policy/index.js";
import { keepRawBody, nestingExceeds } from "../wire/index.js";

export type NodeRequest = IncomingMessage | Http2ServerRequest;

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Bodies from this size are not parsed on the main thread: they are copied piece by piece, as they
 * arrive, into shared memory, and a policy worker parses them (src/wire/held-body.ts). Below it
 * the body is parsed here, as every ordinary request is: a few milliseconds at most.
 */
export const HOLD_MIN_BYTES = 256 * 1024;


/** Reads a JSON request body within `limit` bytes; every failure is a GatewayError for the client. */
export async function readJsonBody(req: NodeRequest, limit: number, maxDepth = 64): Promise<unknown> {
  const declared = Number(req.headers["content-length"]);
  if (declared > limit) throw tooLarge(limit);
  // Plain events rather than an async iterator: this runs for every request.
  const { bytes, size, shared } = await new Promise<{ bytes: Buffer; size: number; shared: SharedArrayBuffer | undefined }>((resolve, reject) => {
    let parts: Buffer[] = [];
    let size = 0;
    let shared: SharedArrayBuffer | undefined;
    let view: Uint8Array | undefined;
    const r = req as unknown as NodeJS.ReadableStream;
    r.on("data", (part: Buffer) => {
      size += part.length;
      if (size > limit) {
        r.removeAllListeners("data");
        r.resume();
        reject(tooLarge(limit));
        return;
      }
      if (!shared) {
        parts.push(part);
        if (size < HOLD_MIN_BYTES) return;
        // Large: from here on each piece is copied into shared memory as it comes (a short copy
        // per piece), never concatenated or decoded here. Sized by Content-Length when sent.
        shared = new SharedArrayBuffer(Math.min(limit, declared >= size ? declared : size * 2));
        view = new Uint8Array(shared);
        let at = 0;
        for (const p of parts) {
          view.set(p, at);
          at += p.length;
        }
        parts = [];
        return;
      }
      if (size > shared.byteLength) {
        // No Content-Length: doubled (a fixed buffer: copies into a growable one are many times slower).
        const next = new SharedArrayBuffer(Math.min(limit, Math.max(size, shared.byteLength * 2)));
        const v = new Uint8Array(next);
        v.set(view!.subarray(0, size - part.length));
        shared = next;
        view = v;
      }
      view!.set(part, size - part.length);
    });
    r.once("end", () => resolve({ bytes: shared ? Buffer.alloc(0) : parts.length === 1 ? parts[0]! : Buffer.concat(parts, size), size, shared }));
    r.once("error", reject);
    (r as unknown as { once(e: "aborted", f: () => void): void }).once("aborted", () => reject(new GatewayError("KT_ERR_CANCELLED", "the client went away while sending the body")));
  });
  if (shared) return readHeld(shared, size, maxDepth);
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
    const detail = err instanceof SyntaxError ? err.message.replace(/\s*"[^"]*"\s*/g, " ").slice(0, 120) : "invalid JSON";
    throw new GatewayError("KT_ERR_MALFORMED_JSON", `the request body is not valid JSON (${detail.trim()})`);
  }
  // The pipeline may send these bytes upstream as they are (src/wire/raw-body.ts).
  keepRawBody(parsed, bytes);
  return parsed;
}

function tooLarge(limit: number): GatewayError {
  return new GatewayError("KT_ERR_BODY_TOO_LARGE", `the request body exceeds the limit of ${limit} bytes`);
}

/** A large body, parsed by a worker: the same errors, word for word, as a small body's. */
async function readHeld(bytes: SharedArrayBuffer, size: number, maxDepth: number): Promise<unknown> {
  const r = await parseHeldBody(bytes, size, maxDepth);
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
    case "json":
      throw new GatewayError("KT_ERR_MALFORMED_JSON", `the request body is not valid JSON (${r.detail})`);
  }
}

export { nestingExceeds };

import type { IncomingMessage } from "node:http";
import type { Http2ServerRequest } from "node:http2";
import { GatewayError } from "../errors/index.js";

export type NodeRequest = IncomingMessage | Http2ServerRequest;

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Reads a JSON request body within `limit` bytes; every failure is a GatewayError for the client. */
export async function readJsonBody(req: NodeRequest, limit: number, maxDepth = 64): Promise<unknown> {
  const declared = Number(req.headers["content-length"]);
  if (declared > limit) throw tooLarge(limit);
  // Plain events rather than an async iterator: this runs for every request.
  const { bytes, size } = await new Promise<{ bytes: Buffer; size: number }>((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    const r = req as unknown as NodeJS.ReadableStream;
    r.on("data", (part: Buffer) => {
      size += part.length;
      if (size > limit) {
        r.removeAllListeners("data");
        r.resume();
        reject(tooLarge(limit));
        return;
      }
      parts.push(part);
    });
    r.once("end", () => resolve({ bytes: parts.length === 1 ? parts[0]! : Buffer.concat(parts, size), size }));
    r.once("error", reject);
    (r as unknown as { once(e: "aborted", f: () => void): void }).once("aborted", () => reject(new GatewayError("KT_ERR_CANCELLED", "the client went away while sending the body")));
  });
  if (size === 0) throw new GatewayError("KT_ERR_MALFORMED_JSON", "the request body is empty; send a JSON object");
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw new GatewayError("KT_ERR_MALFORMED_JSON", "the request body is not valid UTF-8");
  }
  if (nestingExceeds(bytes, maxDepth))
    throw new GatewayError("KT_ERR_INVALID_REQUEST", `the request body nests deeper than ${maxDepth} levels`);
  try {
    return JSON.parse(text);
  } catch (err) {
    const detail = err instanceof SyntaxError ? err.message.replace(/\s*"[^"]*"\s*/g, " ").slice(0, 120) : "invalid JSON";
    throw new GatewayError("KT_ERR_MALFORMED_JSON", `the request body is not valid JSON (${detail.trim()})`);
  }
}

function tooLarge(limit: number): GatewayError {
  return new GatewayError("KT_ERR_BODY_TOO_LARGE", `the request body exceeds the limit of ${limit} bytes`);
}

/**
 * True when brackets outside strings nest deeper than `max`. Checked on the raw bytes before
 * parsing, so a hostile body cannot drive the parser or later tree walks into deep recursion.
 */
export function nestingExceeds(bytes: Uint8Array, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i]!;
    if (inString) {
      if (c === 0x5c /* \\ */) i++;
      else if (c === 0x22 /* " */) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      if (++depth > max) return true;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return false;
}

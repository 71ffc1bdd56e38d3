import type { IncomingMessage } from "node:http";
import type { Http2ServerRequest } from "node:http2";
import { GatewayError } from "../errors/index.js";

export type NodeRequest = IncomingMessage | Http2ServerRequest;

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Reads a JSON request body within `limit` bytes; every failure is a GatewayError for the client. */
export async function readJsonBody(req: NodeRequest, limit: number): Promise<unknown> {
  const declared = Number(req.headers["content-length"]);
  if (declared > limit) throw tooLarge(limit);
  const parts: Buffer[] = [];
  let size = 0;
  for await (const part of req as AsyncIterable<Buffer>) {
    size += part.length;
    if (size > limit) throw tooLarge(limit);
    parts.push(part);
  }
  if (size === 0) throw new GatewayError("KT_ERR_MALFORMED_JSON", "the request body is empty; send a JSON object");
  const bytes = parts.length === 1 ? parts[0]! : Buffer.concat(parts, size);
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw new GatewayError("KT_ERR_MALFORMED_JSON", "the request body is not valid UTF-8");
  }
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

import { Code } from "@connectrpc/connect";
import { compressionBrotli, compressionGzip } from "@connectrpc/connect-node";
import type { UniversalServerResponse } from "@connectrpc/connect/protocol";
import { endStreamFromJson } from "@connectrpc/connect/protocol-connect";
import { findTrailerError } from "@connectrpc/connect/protocol-grpc";
import { trailerParse } from "@connectrpc/connect/protocol-grpc-web";
import { GatewayError } from "../../errors/index.js";

/**
 * What Connect answered a call it refused before any interceptor or handler ran (src/server/
 * request-handler.ts records it): the error as the record names it, read back from the answer in
 * the client's protocol — the status of a Connect unary answer, the trailers of a gRPC one, the
 * first (and only) envelope of a gRPC-Web or Connect streaming one. Undefined when the answer
 * carries no error. The record gets a fixed message, never Connect's (a JSON decoding error
 * quotes the client's bytes).
 *
 * Connect refuses before the interceptors only what it cannot read: an unsupported content type
 * (415), a body over max_body_bytes (RESOURCE_EXHAUSTED), a message it cannot decode
 * (INVALID_ARGUMENT), a compression it does not know or a missing message (UNIMPLEMENTED), a
 * client that went away (CANCELED) or whose deadline passed while its body was read.
 */
export async function faultOfAnswer(res: UniversalServerResponse): Promise<{ fault: GatewayError | undefined; res: UniversalServerResponse }> {
  // A method the RPC is not served with: not an API call (as a wrong method on the OpenAI routes).
  if (res.status === 405) return { fault: undefined, res };
  if (res.status === 415) return { fault: new GatewayError("KT_ERR_UNSUPPORTED_MEDIA_TYPE", "unsupported content type for this RPC"), res };
  if (res.status !== 200) return { fault: faultOfCode(CONNECT_STATUS.get(res.status) ?? Code.Unknown), res };
  if (res.trailer !== undefined) {
    // gRPC: the trailers carry the status (set by the time the answer's body has ended, which it
    // has here: no handler ran to produce a message).
    const err = findTrailerError(res.trailer);
    return { fault: err ? faultOfCode(err.code) : undefined, res };
  }
  const type = res.header?.get("content-type") ?? "";
  const grpcWeb = type.startsWith("application/grpc-web");
  if (!grpcWeb && !type.startsWith("application/connect+")) return { fault: undefined, res };
  // The first envelope is the end of the stream (no message was produced); it is put back for the client.
  const body = res.body;
  if (body === undefined || body instanceof Uint8Array) return { fault: undefined, res };
  const it = body[Symbol.asyncIterator]();
  const first = await it.next();
  const rest: UniversalServerResponse = { ...res, body: replay(first, it) };
  if (first.done || first.value.length < 5) return { fault: undefined, res: rest };
  const bytes = first.value;
  const flags = bytes[0]!;
  const size = new DataView(bytes.buffer, bytes.byteOffset + 1, 4).getUint32(0);
  let data = bytes.subarray(5, 5 + size);
  try {
    if (flags & 0x01) {
      const encoding = res.header?.get(grpcWeb ? "grpc-encoding" : "connect-content-encoding");
      const compression = encoding === "gzip" ? compressionGzip : encoding === "br" ? compressionBrotli : undefined;
      if (!compression) return { fault: faultOfCode(Code.Unknown), res: rest };
      data = await compression.decompress(data, 1 << 20);
    }
    if (grpcWeb) {
      if (!(flags & 0x80)) return { fault: undefined, res: rest };
      const err = findTrailerError(trailerParse(data));
      return { fault: err ? faultOfCode(err.code) : undefined, res: rest };
    }
    if (!(flags & 0x02)) return { fault: undefined, res: rest };
    const end = endStreamFromJson(data);
    return { fault: end.error ? faultOfCode(end.error.code) : undefined, res: rest };
  } catch {
    return { fault: faultOfCode(Code.Unknown), res: rest };
  }
}

async function* replay(first: IteratorResult<Uint8Array>, it: AsyncIterator<Uint8Array>): AsyncIterable<Uint8Array> {
  if (first.done) return;
  yield first.value;
  for (let n = await it.next(); !n.done; n = await it.next()) yield n.value;
}

/** A Connect unary error's HTTP status back to its code (the statuses Connect gives the codes it can answer here). */
const CONNECT_STATUS: ReadonlyMap<number, Code> = new Map([
  [400, Code.InvalidArgument],
  [401, Code.Unauthenticated],
  [403, Code.PermissionDenied],
  [429, Code.ResourceExhausted],
  [499, Code.Canceled],
  [501, Code.Unimplemented],
  [504, Code.DeadlineExceeded],
]);

function faultOfCode(code: Code): GatewayError {
  switch (code) {
    case Code.InvalidArgument:
      return new GatewayError("KT_ERR_MALFORMED_JSON", "the request message could not be decoded");
    case Code.ResourceExhausted:
      return new GatewayError("KT_ERR_BODY_TOO_LARGE", "the request message exceeds max_body_bytes");
    case Code.Canceled:
    case Code.Aborted:
      return new GatewayError("KT_ERR_CANCELLED", "the client went away before its message was read");
    case Code.DeadlineExceeded:
      return new GatewayError("KT_ERR_DEADLINE_EXCEEDED", "the call's deadline passed before its message was read");
    case Code.Unimplemented:
      return new GatewayError("KT_ERR_INVALID_REQUEST", "the call is not well-formed (a compression not supported, no message, or more than one)");
    case Code.Unauthenticated:
      return new GatewayError("KT_ERR_UNAUTHENTICATED", "the call was refused on its credentials");
    case Code.PermissionDenied:
      return new GatewayError("KT_ERR_FORBIDDEN", "the call was refused on its credentials");
    default:
      return new GatewayError("KT_ERR_INTERNAL", "internal gateway error");
  }
}

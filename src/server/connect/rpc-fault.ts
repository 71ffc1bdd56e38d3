import { Code, ConnectError } from "@connectrpc/connect";
import { compressionBrotli, compressionGzip } from "@connectrpc/connect-node";
import type { UniversalServerResponse } from "@connectrpc/connect/protocol";
import { endStreamFromJson, errorFromJsonBytes } from "@connectrpc/connect/protocol-connect";
import { findTrailerError } from "@connectrpc/connect/protocol-grpc";
import { trailerParse } from "@connectrpc/connect/protocol-grpc-web";
import { GatewayError } from "../../errors/index.js";
import { undecodableJson, undecodableProtobuf } from "./undecodable-message.js";

/**
 * What Connect answered a call it refused before any interceptor or handler ran (src/server/
 * request-handler.ts records it): the error as the record names it, read back from the answer in
 * the client's protocol — the status of a Connect unary answer, the trailers of a gRPC one, the
 * first (and only) envelope of a gRPC-Web or Connect streaming one. Undefined when the answer
 * carries no error. `error`: the error as Connect worded it, when read (a decoding error is
 * answered again without it: undecodableRefusal). The record gets a fixed message, never
 * Connect's (a JSON decoding error quotes the client's bytes).
 *
 * Connect refuses before the interceptors only what it cannot read: an unsupported content type
 * (415), a body over max_body_bytes (RESOURCE_EXHAUSTED), a message it cannot decode
 * (INVALID_ARGUMENT for JSON, INTERNAL for protobuf), a compression it does not know or a missing message (UNIMPLEMENTED), a
 * client that went away (CANCELED) or whose deadline passed while its body was read.
 */
export async function faultOfAnswer(res: UniversalServerResponse): Promise<{ fault: GatewayError | undefined; res: UniversalServerResponse; error?: ConnectError }> {
  // A method the RPC is not served with: not an API call (as a wrong method on the OpenAI routes).
  if (res.status === 405) return { fault: undefined, res };
  if (res.status === 415) return { fault: new GatewayError("KT_ERR_UNSUPPORTED_MEDIA_TYPE", "unsupported content type for this RPC"), res };
  if (res.status !== 200) {
    const code = CONNECT_STATUS.get(res.status) ?? Code.Unknown;
    // A Connect unary error: its body is read only when it may be one the front door answers
    // again: a decoding error (400, 500: undecodableRefusal) or one quoting a header (400, 501:
    // echoingRefusal).
    if (res.status !== 400 && res.status !== 500 && res.status !== 501) return { fault: faultOfCode(code), res };
    return unaryError(res, code);
  }
  if (res.trailer !== undefined) {
    // gRPC: the trailers carry the status (set by the time the answer's body has ended, which it
    // has here: no handler ran to produce a message).
    const err = findTrailerError(res.trailer);
    return { fault: err ? faultOfCode(err.code) : undefined, res, error: err };
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
      return { fault: err ? faultOfCode(err.code) : undefined, res: rest, error: err };
    }
    if (!(flags & 0x02)) return { fault: undefined, res: rest };
    const end = endStreamFromJson(data);
    return { fault: end.error ? faultOfCode(end.error.code) : undefined, res: rest, error: end.error };
  } catch {
    return { fault: faultOfCode(Code.Unknown), res: rest };
  }
}

/** A Connect unary error answer's code and message, read from its (small, JSON) body, which is put back. */
async function unaryError(res: UniversalServerResponse, code: Code): Promise<{ fault: GatewayError; res: UniversalServerResponse; error?: ConnectError }> {
  const fault = faultOfCode(code);
  const body = res.body;
  if (body === undefined) return { fault, res };
  const chunks: Uint8Array[] = [];
  if (body instanceof Uint8Array) chunks.push(body);
  else if (Symbol.asyncIterator in (body as object)) for await (const c of body as AsyncIterable<Uint8Array>) chunks.push(c);
  else return { fault, res };
  const bytes = Buffer.concat(chunks);
  const rest: UniversalServerResponse = { ...res, body: replay({ done: false, value: bytes }, EMPTY) };
  try {
    const encoding = res.header?.get("content-encoding");
    const compression = encoding === "gzip" ? compressionGzip : encoding === "br" ? compressionBrotli : undefined;
    if (encoding !== null && encoding !== undefined && encoding !== "identity" && !compression) return { fault, res: rest };
    const json = compression ? await compression.decompress(bytes, 1 << 20) : bytes;
    return { fault, res: rest, error: errorFromJsonBytes(json, undefined, new ConnectError("", code)) };
  } catch {
    return { fault, res: rest };
  }
}

const EMPTY: AsyncIterator<Uint8Array> = { next: async () => ({ done: true, value: undefined }) };

/**
 * Connect's refusal of a message it could not decode, told anew without the client's bytes
 * (undecodable-message.ts): INVALID_ARGUMENT, whatever the codec, recorded KT_ERR_MALFORMED_PROTOBUF
 * or KT_ERR_MALFORMED_JSON by the codec. Connect answers a protobuf
 * message it cannot parse with INTERNAL ("parse binary: premature EOF") and a Connect GET's
 * message that is not base64 with a bare INTERNAL; a JSON one with INVALID_ARGUMENT quoting the
 * body's first characters or the offending value. Undefined for every other refusal, which keeps
 * Connect's answer. `inputType`: the RPC's request message type; `url`: the request's.
 */
export function undecodableRefusal(error: ConnectError, inputType: string, method: string, url: string): GatewayError | undefined {
  const raw = error.rawMessage;
  if (error.code === Code.Internal && raw.startsWith("parse binary: ")) return new GatewayError("KT_ERR_MALFORMED_PROTOBUF", undecodableProtobuf(inputType, raw.slice("parse binary: ".length)));
  if (error.code === Code.InvalidArgument && raw.startsWith("cannot decode ")) return new GatewayError("KT_ERR_MALFORMED_JSON", undecodableJson(inputType, raw));
  if (error.code === Code.Internal && method === "GET" && raw === "internal error" && notBase64Query(url))
    // Recorded by the codec the query names (encoding=json, else proto).
    return new GatewayError(/[?&]encoding=json(&|$)/.test(url) ? "KT_ERR_MALFORMED_JSON" : "KT_ERR_MALFORMED_PROTOBUF", "the request message (the query's message parameter, base64=1) is not valid base64");
  return undefined;
}

/**
 * Connect's refusals that quote a request header (@connectrpc/connect 2.x): a timeout it cannot
 * parse (`protocol error: invalid connect timeout value: <the header>`, the same for grpc-timeout)
 * and a compression it does not know (`unknown compression "<the header>": …`). Told anew in fixed
 * words: a header can hold anything, and an error is logged further than the request. Undefined
 * for every other refusal.
 */
export function echoingRefusal(error: ConnectError): GatewayError | undefined {
  const raw = error.rawMessage;
  if (error.code === Code.InvalidArgument && raw.startsWith("protocol error: invalid connect timeout value: "))
    return new GatewayError("KT_ERR_INVALID_REQUEST", "the connect-timeout-ms header is not a timeout (1 to 10 digits, in milliseconds)");
  if (error.code === Code.InvalidArgument && raw.startsWith("protocol error: invalid grpc timeout value: "))
    return new GatewayError("KT_ERR_INVALID_REQUEST", "the grpc-timeout header is not a timeout (1 to 8 digits and a unit: H, M, S, m, u or n)");
  if (error.code === Code.Unimplemented && raw.startsWith("unknown compression "))
    return new GatewayError("KT_ERR_INVALID_REQUEST", "the message's compression is not supported: use gzip, br or identity");
  return undefined;
}

/** A Connect GET whose message is said to be base64 but has a character outside both base64 alphabets (what protobuf-es's decoder throws on). */
function notBase64Query(url: string): boolean {
  let query: URLSearchParams;
  try {
    query = new URL(url).searchParams;
  } catch {
    return false;
  }
  return query.get("base64") === "1" && /[^A-Za-z0-9+/\-_=\s]/.test(query.get("message") ?? "");
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
  [500, Code.Internal],
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

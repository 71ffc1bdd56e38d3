import { brotliDecompressSync, gunzipSync } from "node:zlib";
import { create, fromBinary, fromJson, toBinary, toJsonString, type DescMessage } from "@bufbuild/protobuf";
import { ChatCompletionRequestSchema, CompletionRequestSchema } from "../../../gen/keeptrusts/v1/chat_pb.js";
import { toGatewayError } from "../../errors/index.js";
import { heldSkeletonOf } from "../../policy/index.js";
import { chatRequestToOpenAI, completionRequestToOpenAI } from "./convert.js";

/**
 * Runs in a policy pool worker (a "module" job): decodes a large ChatService request held in
 * shared memory (src/server/connect/held-rpc.ts) and converts it to the pipeline's OpenAI JSON,
 * written as UTF-8 into new shared memory, with the skeleton the main thread works on: the same
 * held body the OpenAI route makes (src/wire/held-body.ts). Connect on the main thread is handed a
 * small message in the client's own framing and codec, so authentication, interceptors and errors
 * stay Connect's.
 */

export type HeldRpcMethod = "CreateChatCompletion" | "StreamChatCompletion" | "CreateCompletion" | "StreamCompletion";

export interface HeldRpcInput {
  bytes: SharedArrayBuffer;
  length: number;
  method: HeldRpcMethod;
  /** The request's content type, without parameters. */
  contentType: string;
  /** The compression of an enveloped message (grpc-encoding / connect-content-encoding) or of a unary Connect body (content-encoding). */
  encoding: string | undefined;
  maxBytes: number;
  nonce: string;
  holdMin: number;
}

export type HeldRpcOutput =
  | { fault: string }
  | {
      /** The small message Connect decodes: the request's model only, framed as the client framed it. */
      message: Uint8Array;
      /** The conversion failed as a small request's would (the handler refuses it the same way). */
      convert?: { code: string; message: string };
      json?: { bytes: SharedArrayBuffer; length: number; skeleton: unknown; extraBytes: number };
    };

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Whether a content type frames its message in envelopes (gRPC, gRPC-Web, Connect streaming). */
export function isEnveloped(contentType: string): boolean {
  return /^application\/(grpc|grpc-web|connect)(\+|$)/.test(contentType);
}

function isJson(contentType: string): boolean {
  return contentType === "application/json" || contentType.endsWith("+json");
}

function inflate(bytes: Uint8Array, encoding: string | undefined, maxBytes: number): Uint8Array {
  if (encoding === "gzip") return gunzipSync(bytes, { maxOutputLength: maxBytes });
  if (encoding === "br") return brotliDecompressSync(bytes, { maxOutputLength: maxBytes });
  if (encoding === undefined || encoding === "identity") return bytes;
  throw new Error(`unsupported compression ${encoding}`);
}

function frame(message: Uint8Array, enveloped: boolean): Uint8Array {
  if (!enveloped) return message;
  const out = new Uint8Array(5 + message.length);
  new DataView(out.buffer).setUint32(1, message.length);
  out.set(message, 5);
  return out;
}

export function decodeHeldRpc(input: HeldRpcInput): HeldRpcOutput {
  // A private copy: a shared buffer cannot be decoded in place.
  let body: Uint8Array = new Uint8Array(input.bytes, 0, input.length).slice();
  const enveloped = isEnveloped(input.contentType);
  try {
    if (enveloped) {
      if (body.length < 5) return { fault: "protocol error: incomplete envelope" };
      const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
      const flags = view.getUint8(0);
      const size = view.getUint32(1);
      if (size !== body.length - 5) return { fault: "protocol error: a unary request must carry exactly one message" };
      body = body.subarray(5);
      if (flags & 1) body = inflate(body, input.encoding, input.maxBytes);
    } else body = inflate(body, input.encoding, input.maxBytes);
  } catch (err) {
    return { fault: `cannot decompress the message: ${(err as Error).message}` };
  }
  const schema: DescMessage = input.method.endsWith("ChatCompletion") ? ChatCompletionRequestSchema : CompletionRequestSchema;
  let msg;
  try {
    msg = isJson(input.contentType) ? fromJson(schema, JSON.parse(utf8.decode(body))) : fromBinary(schema, body);
  } catch (err) {
    return { fault: `cannot decode the request message: ${(err as Error).message.slice(0, 200)}` };
  }
  const model = (msg as { model?: string }).model ?? "";
  const small = create(schema, { model } as never);
  const message = frame(isJson(input.contentType) ? new TextEncoder().encode(toJsonString(schema, small)) : toBinary(schema, small), enveloped);
  const stream = input.method.startsWith("Stream");
  let out: Record<string, unknown>;
  try {
    out = schema === ChatCompletionRequestSchema ? chatRequestToOpenAI(msg as never, { stream }) : completionRequestToOpenAI(msg as never, { stream });
  } catch (err) {
    const e = toGatewayError(err);
    return { message, convert: { code: e.code, message: e.message } };
  }
  const encoded = new TextEncoder().encode(JSON.stringify(out));
  const bytes = new SharedArrayBuffer(encoded.length);
  new Uint8Array(bytes).set(encoded);
  const held = heldSkeletonOf(out, input.holdMin, input.nonce);
  if ("fault" in held) return { fault: "the request has an object key of 65,536 characters or more" };
  return { message, json: { bytes, length: encoded.length, skeleton: held.skeleton, extraBytes: held.extraBytes } };
}

import { ConnectError, createContextKey, type ContextValues } from "@connectrpc/connect";
import { adoptHeldBody, newHold, scanPool } from "../../policy/index.js";
import { GatewayError, toGatewayError } from "../../errors/index.js";
import { releaseHeldBody, releaseSharedMemory, type CancelSignal, type JsonObject } from "../../wire/index.js";
import { readBody, type NodeRequest } from "../http-body.js";
import { toConnectError } from "./connect-errors.js";
import type { UniversalServerResponse } from "@connectrpc/connect/protocol";
import type { HeldEvaluateDecoded, HeldRpcInput, HeldRpcMethod, HeldRpcOutput, RpcBodyRef } from "./held-rpc-job.js";

/**
 * Large ChatService requests are never decoded on the main thread. The front door reads the body
 * itself (as the OpenAI route does: from 256 KiB into shared memory a helper thread made), a pool
 * worker decodes the message and converts it to the pipeline's JSON (src/server/connect/
 * held-rpc-job.ts), and Connect is handed a small message in the client's own framing, so
 * authentication, interceptors and error answers stay Connect's. The handler finds the held body
 * under `heldChatKey` and runs the pipeline on it exactly as on a large OpenAI body. A 15 MiB
 * request decoded by Connect here held the event loop for well over a second.
 */

/** What the handler runs instead of converting the (small) message Connect decoded. */
export interface HeldChat {
  body?: JsonObject;
  /** The message could not be converted, as a small one's would fail (refused the same way). */
  convert?: { code: string; message: string };
  /** Set once a handler runs the body (heldOr): the handler releases it when its call is done. */
  taken?: boolean;
  /** Released unused once the call's response closed (releaseUntakenOnClose): never to be run. */
  released?: boolean;
}

export const heldChatKey = createContextKey<HeldChat | undefined>(undefined, { description: "keeptrusts held ChatService body" });

/**
 * A large EvaluatePolicy call: Connect decodes a message without its text, the handler has a
 * worker run the chain over the held text and encode the whole answer (`answer`), and the front
 * door sends those bytes in place of the small answer Connect encoded (withHeldAnswer).
 */
export interface HeldEvaluate {
  body: RpcBodyRef;
  /** The complete EvaluatePolicyResponse in the client's codec, set by the handler. */
  answer?: Uint8Array;
  /** Set once the handler runs: it releases the text's memory when done (releaseHeldEvaluate). */
  taken?: boolean;
  /** Released unused once the call's response closed (releaseUntakenOnClose): never to be run. */
  released?: boolean;
}

export const heldEvaluateKey = createContextKey<HeldEvaluate | undefined>(undefined, { description: "keeptrusts held EvaluatePolicy text" });

/** Hands back a held EvaluatePolicy text's pooled memory (charged to the caller's key). */
export function releaseHeldEvaluate(held: HeldEvaluate | undefined): void {
  if (held) releaseSharedMemory(held.body.bytes);
}

/**
 * Once a call's response has closed (answered, or the client gone): the memory of a held body no
 * handler took, e.g. a call Connect or an interceptor refused before its handler ran. It is marked
 * released, so a handler that starts after all (a stream's, first run once the response is read)
 * refuses the call rather than read memory another request may hold by then. A taken body is its
 * handler's to release, after the pipeline is done with it: a stream's response can close before
 * its handler has ended.
 */
export function releaseUntakenOnClose(values: ContextValues, res: { closed?: boolean; stream?: { closed?: boolean }; once(e: "close", f: () => void): unknown }): void {
  if (values.get(heldChatKey) === undefined && values.get(heldEvaluateKey) === undefined) return;
  const release = () => {
    const chat = values.get(heldChatKey);
    if (chat && !chat.taken) {
      chat.released = true;
      releaseHeldBody(chat.body);
    }
    const evaluate = values.get(heldEvaluateKey);
    if (evaluate && !evaluate.taken) {
      evaluate.released = true;
      releaseHeldEvaluate(evaluate);
    }
  };
  // HTTP/1.1's response says it is closed; an HTTP/2 compatibility response, its stream.
  if (res.closed === true || res.stream?.closed === true) release();
  else res.once("close", release);
}

/** The error a handler raises for a held body released before it ran (releaseUntakenOnClose). */
export function heldGone(): GatewayError {
  return new GatewayError("KT_ERR_CANCELLED", "the call ended before its handler ran");
}

/**
 * A large ChatService unary answer (src/wire/held-answer.ts): the handler has a worker encode the
 * whole response message (`answer`) and returns an empty one; the front door sends the worker's
 * bytes in its place (withHeldAnswer), as for a held EvaluatePolicy answer.
 */
export interface HeldChatAnswer {
  answer?: Uint8Array;
}

export const heldAnswerKey = createContextKey<HeldChatAnswer | undefined>(undefined, { description: "keeptrusts held ChatService answer" });

/** Content types whose answers a worker encodes (gRPC-Web's base64 text form Connect refuses, 415). */
export function encodesHeldAnswer(contentType: string): boolean {
  return HELD_TYPES.test(contentType);
}

type FrontMethod = HeldRpcMethod | "EvaluatePolicy";

const METHODS: ReadonlyMap<string, FrontMethod> = new Map<string, FrontMethod>([
  ...(["CreateChatCompletion", "StreamChatCompletion", "CreateCompletion", "StreamCompletion"] as const).map((m) => [`/keeptrusts.v1.ChatService/${m}`, m] as const),
  ["/keeptrusts.v1.GovernanceService/EvaluatePolicy", "EvaluatePolicy"],
]);

/** Content types whose messages a worker decodes (gRPC-Web's base64 text form Connect refuses, 415). */
const HELD_TYPES = /^application\/((grpc|grpc-web|connect)(\+(proto|json))?|proto|json)$/;

function header(req: NodeRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function contentTypeOf(req: NodeRequest): string {
  return (header(req, "content-type") ?? "").split(";", 1)[0]!.trim().toLowerCase();
}

/** The ChatService method whose body the front door reads itself, if this request calls one. */
export function heldRpcMethod(req: NodeRequest, path: string): FrontMethod | undefined {
  const m = METHODS.get(path);
  return m !== undefined && req.method === "POST" && HELD_TYPES.test(contentTypeOf(req)) ? m : undefined;
}

const jobUrl = new URL(import.meta.url.endsWith(".ts") ? "./held-rpc-job.ts" : "./held-rpc-job.js", import.meta.url).href;

async function* once(bytes: Uint8Array): AsyncIterable<Uint8Array> {
  yield bytes;
}

// eslint-disable-next-line require-yield
async function* failing(err: ConnectError): AsyncIterable<Uint8Array> {
  throw err;
}

/**
 * A body the front door could not read or decode, as the stream Connect reads (it answers the
 * error in the client's protocol: RESOURCE_EXHAUSTED for too large or overloaded, CANCELLED for a
 * client gone) and as `fault`, what the front door records (the call never reaches a handler).
 */
function refused(err: unknown): { body: AsyncIterable<Uint8Array>; fault: GatewayError } {
  const fault = toGatewayError(err);
  return { body: failing(toConnectError(fault)), fault };
}

/**
 * A message a worker could not decode: INVALID_ARGUMENT, recorded as KT_ERR_MALFORMED_JSON or
 * KT_ERR_MALFORMED_PROTOBUF by its content type's codec, with the worker's words (never the
 * body's: undecodable-message.ts), as a small message's refusal.
 */
function undecodable(message: string, contentType: string): { body: AsyncIterable<Uint8Array>; fault: GatewayError } {
  const json = contentType === "application/json" || contentType.endsWith("+json");
  const fault = new GatewayError(json ? "KT_ERR_MALFORMED_JSON" : "KT_ERR_MALFORMED_PROTOBUF", message);
  return { body: failing(toConnectError(fault)), fault };
}

/**
 * Reads the request's body: a small one goes to Connect as it came; a large one is decoded by a
 * worker, and Connect gets the small message (and `held` the body the handler runs). A body that
 * cannot be read or decoded reaches Connect as a stream that fails with the matching code.
 * `signal`: the call's; a client gone drops the decoding job and every later pool job on the body.
 */
export async function holdRpcRequest(
  req: NodeRequest,
  method: FrontMethod,
  limit: number,
  owner?: string,
  signal?: AbortSignal,
): Promise<{ body: AsyncIterable<Uint8Array>; held?: HeldChat; evaluate?: HeldEvaluate; size?: number; fault?: GatewayError }> {
  let raw;
  try {
    raw = await readBody(req, limit, owner);
  } catch (err) {
    return refused(err);
  }
  if (!raw.shared) return { body: once(raw.bytes) };
  const contentType = contentTypeOf(req);
  const enveloped = /^application\/(grpc|grpc-web|connect)/.test(contentType);
  const encoding = enveloped ? (header(req, contentType.startsWith("application/connect") ? "connect-content-encoding" : "grpc-encoding") ?? undefined) : header(req, "content-encoding");
  const ref: RpcBodyRef = { bytes: raw.shared, length: raw.size, contentType, encoding, maxBytes: limit };
  if (method === "EvaluatePolicy") {
    let d: HeldEvaluateDecoded;
    try {
      d = await runHeldRpcJob<HeldEvaluateDecoded>("decodeHeldEvaluate", ref, raw.size, false, signal);
    } catch (err) {
      releaseSharedMemory(raw.shared);
      return refused(err);
    }
    if ("fault" in d) {
      releaseSharedMemory(raw.shared);
      return undecodable(d.fault, contentType);
    }
    // The text stays held for the handler, which releases it when done (or, if it never runs,
    // the front door once the response has closed: releaseUntakenOnClose).
    return { body: once(d.message), evaluate: { body: ref }, size: d.message.length };
  }
  const hold = newHold();
  const input: HeldRpcInput = { ...ref, method, nonce: hold.nonce, holdMin: hold.holdMin };
  let out: HeldRpcOutput;
  try {
    out = await runHeldRpcJob<HeldRpcOutput>("decodeHeldRpc", input, raw.size, false, signal);
  } catch (err) {
    return refused(err);
  } finally {
    // The message's bytes are read once: the worker wrote the OpenAI body to memory of its own.
    releaseSharedMemory(raw.shared);
  }
  if ("fault" in out) return undecodable(out.fault, contentType);
  const held: HeldChat = out.convert
    ? { convert: out.convert }
    : { body: adoptHeldBody(out.json!.skeleton as JsonObject, out.json!.bytes, out.json!.length, hold, out.json!.extraBytes, owner, signal) };
  return { body: once(out.message), held, size: out.message.length };
}

/** The body a ChatService handler runs: the held one when the front door held it. */
export function heldOr(held: HeldChat | undefined, convert: () => JsonObject): JsonObject {
  if (held?.convert) throw new GatewayError(held.convert.code as "KT_ERR_INVALID_REQUEST", held.convert.message);
  if (held?.released) throw heldGone();
  if (!held?.body) return convert();
  held.taken = true;
  return held.body;
}

/** Runs an export of held-rpc-job.ts in a pool worker; `cancel` drops it (KT_ERR_CANCELLED) if the client goes first. */
export function runHeldRpcJob<T>(name: string, input: unknown, chars: number, committed = false, cancel?: CancelSignal): Promise<T> {
  return scanPool().run({ kind: "module", url: jobUrl, name, input, chars, committed }, cancel) as Promise<T>;
}

/**
 * The answer Connect encoded for a held EvaluatePolicy call (everything but the text and the
 * findings) replaced by the one the worker encoded: for gRPC, gRPC-Web and Connect streaming the
 * first data envelope, for Connect unary the whole body. Errors (no data envelope, or a status
 * other than 200) pass as Connect wrote them.
 */
export function withHeldAnswer(res: UniversalServerResponse, answer: Uint8Array, contentType: string): UniversalServerResponse {
  if (res.status !== 200 || !res.body) return res;
  if (!/^application\/(grpc|grpc-web|connect)/.test(contentType)) {
    const header = new Headers(res.header);
    if (header.has("content-length")) header.set("content-length", String(answer.length));
    return { ...res, header, body: once(answer) };
  }
  return { ...res, body: replaceFirstData(res.body, answer) };
}

async function* replaceFirstData(body: AsyncIterable<Uint8Array>, answer: Uint8Array): AsyncIterable<Uint8Array> {
  let pending = new Uint8Array(0);
  let replaced = false;
  for await (const chunk of body) {
    const joined = new Uint8Array(pending.length + chunk.length);
    joined.set(pending);
    joined.set(chunk, pending.length);
    let at = 0;
    while (joined.length - at >= 5) {
      const flags = joined[at]!;
      const size = new DataView(joined.buffer, joined.byteOffset + at + 1, 4).getUint32(0);
      if (joined.length - at - 5 < size) break;
      if (flags === 0 && !replaced) {
        replaced = true;
        // The header apart from the answer: never a copy of the answer into new memory here.
        const head = new Uint8Array(5);
        new DataView(head.buffer).setUint32(1, answer.length);
        yield head;
        yield answer;
      } else yield joined.slice(at, at + 5 + size);
      at += 5 + size;
    }
    pending = joined.slice(at);
  }
  if (pending.length > 0) yield pending;
}

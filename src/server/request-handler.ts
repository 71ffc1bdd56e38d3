import { Code, ConnectError, createConnectRouter, createContextValues, type ConnectRouter, type ContextValues, type Interceptor } from "@connectrpc/connect";
import { compressionBrotli, compressionGzip, universalRequestFromNodeRequest, universalResponseToNodeResponse } from "@connectrpc/connect-node";
import type { UniversalHandler, UniversalServerRequest, UniversalServerResponse } from "@connectrpc/connect/protocol";
import { GatewayError, toGatewayError } from "../errors/index.js";
import type { Refusal } from "../observer/index.js";
import type { Principal } from "../wire/index.js";
import { AuthFailure, duplicateAuthorization, repeatedAuthorization, type Authenticator } from "./auth.js";
import { chatOperationOf } from "./connect/auth-interceptor.js";
import { admittedByKey, admittedKey, answeredKey, bodyFaultKey, frontDoorOf, principalKey, refusedOnHeadersKey, remoteAddressKey, remotePortKey, rpcOrigin } from "./connect/call-context.js";
import { heldAnswerKey, heldChatKey, heldEvaluateKey, heldRpcMethod, holdRpcRequest, releaseUntakenOnClose, withHeldAnswer } from "./connect/held-rpc.js";
import { echoingRefusal, faultOfAnswer, undecodableRefusal } from "./connect/rpc-fault.js";

export interface ConnectServices {
  routes: (router: ConnectRouter) => void;
  interceptors?: Interceptor[];
}

/**
 * The one handler both HTTP servers share: Connect, gRPC and gRPC-Web routes first, and every
 * other path to the OpenAI shim. Connect's own Node adapter, but for one step: a ChatService
 * request's body is read here first, and a large one is decoded by a pool worker rather than by
 * Connect on the event loop (src/server/connect/held-rpc.ts).
 */
export function createRequestHandler(opts: {
  shim: (req: any, res: any) => void;
  services: ConnectServices | undefined;
  /** The largest body read (limits.max_body_bytes, which a reload may change). */
  maxBodyBytes: () => number;
  /**
   * The API keys in force. A call's headers are checked here, before its body is read (Governance
   * needs the admin scope): a call that would not pass is refused by Connect's interceptor as
   * before, but its body is never read; an admitted one's large body counts against its key's
   * share of limits.max_held_body_bytes.
   */
  auth?: () => Authenticator;
  /** Records a call Connect refused before any interceptor or handler could (see answeredKey). */
  refuse?: (refusal: Refusal) => Promise<void> | void;
}): (req: any, res: any) => void {
  // Connect applies its readMaxBytes to the bodies it reads itself (and to what a compressed one
  // inflates to): the routes are built again when a reload changes the limit. Calls in flight
  // keep the handlers they began with.
  const routes = (limit: number) => {
    const router = createConnectRouter({
      interceptors: opts.services?.interceptors,
      readMaxBytes: limit,
      acceptCompression: [compressionGzip, compressionBrotli],
    });
    opts.services?.routes(router);
    const paths = new Map<string, UniversalHandler>();
    for (const h of router.handlers) paths.set(h.requestPath, h);
    return { limit, paths };
  };
  let routed = routes(opts.maxBodyBytes());
  return function nodeRequestHandler(req: any, res: any): void {
    // The path before any query: indexOf and slice, not split (a runtime call and an array per request).
    const url: string = req.url ?? "";
    const q = url.indexOf("?");
    const path = q < 0 ? url : url.slice(0, q);
    let handler = routed.paths.get(path);
    if (!handler) return opts.shim(req, res);
    const limit = opts.maxBodyBytes();
    if (limit !== routed.limit) {
      routed = routes(limit);
      handler = routed.paths.get(path)!;
    }
    // Loopback-only mode needs the peer address, which Connect's handler context does not carry.
    const values = createContextValues().set(remoteAddressKey, req.socket?.remoteAddress).set(remotePortKey, req.socket?.remotePort);
    const uReq = universalRequestFromNodeRequest(req, res, undefined, values);
    const record = opts.refuse;
    let principal: Principal | undefined;
    // Connect reads and decodes a request's message before its interceptors run, so a call without
    // a valid key could make the gateway read, hold and decode up to max_body_bytes (16 MiB by
    // default) per stream before being refused, and stall its body to hold that memory for the
    // request timeout. Its headers are checked first; a refused call's body is replaced by an
    // empty message in its own framing, and Connect's auth interceptor refuses and records it.
    // POST and GET (a Connect GET of a read-only RPC) are the methods Connect serves.
    if (opts.auth !== undefined && (req.method === "POST" || req.method === "GET")) {
      const auth = opts.auth();
      let refusal: GatewayError | undefined;
      // Node keeps only the first of an HTTP/1.1 request's repeated Authorization headers: two
      // credentials are refused (INVALID_ARGUMENT), not resolved to the first.
      if (repeatedAuthorization(req.rawHeaders)) refusal = duplicateAuthorization(req.rawHeaders);
      else
        try {
          principal = auth.authenticate(uReq.header.get("authorization") ?? undefined, req.socket?.remoteAddress, handler.service.typeName === GOVERNANCE ? "admin" : "chat");
        } catch (err) {
          refusal = toGatewayError(err);
        }
      if (refusal !== undefined) {
        values.set(refusedOnHeadersKey, refusal);
        refusedMessage(uReq, req.headers["content-type"]);
        handleRpc(handler, uReq, res, values, record);
        return;
      }
      values.set(admittedKey, principal).set(admittedByKey, auth);
    }
    const method = heldRpcMethod(req, path);
    const ready = method
      ? holdRpcRequest(req, method, limit, principal?.keyId, uReq.signal).then((r) => {
          uReq.body = r.body;
          if (r.fault) values.set(bodyFaultKey, r.fault);
          if (r.evaluate) {
            values.set(heldEvaluateKey, r.evaluate);
            // Its answer is spliced as the worker encoded it: Connect must not compress it.
            for (const h of ["grpc-accept-encoding", "connect-accept-encoding", "accept-encoding"]) uReq.header.delete(h);
          }
          if (r.held || r.evaluate) {
            if (r.held) values.set(heldChatKey, r.held);
            // The small message Connect reads is neither compressed nor as long as the body was.
            uReq.header.delete("content-encoding");
            if (uReq.header.has("content-length")) uReq.header.set("content-length", String(r.size));
          }
        })
      : Promise.resolve();
    ready.then(() => {
      // A held body no handler took (the call refused before its handler ran) goes back once the response closes.
      releaseUntakenOnClose(values, res);
      return handleRpc(handler, uReq, res, values, record);
    });
  };
}

const GOVERNANCE = "keeptrusts.v1.GovernanceService";

function handleRpc(handler: UniversalHandler, uReq: UniversalServerRequest, res: any, values: ContextValues, record: ((r: Refusal) => Promise<void> | void) | undefined): Promise<void> {
  return handler(uReq)
    .then((uRes) => {
      // Refused by Connect before any interceptor or handler took charge of its record (a body it
      // could not read or decode, a content type it does not serve): recorded here, before the
      // answer goes, and a message it could not decode answered again in fixed words. Every call
      // a handler answers has the flag set: one lookup per call.
      if (!values.get(answeredKey)) return settleRefused(handler, uReq, uRes, values, record);
      return uRes;
    })
    .then((uRes) => {
      // A held EvaluatePolicy answer, or a large ChatService answer, as a worker encoded it.
      const answer = values.get(heldEvaluateKey)?.answer ?? values.get(heldAnswerKey)?.answer;
      return answer ? withHeldAnswer(uRes, answer, uReq.header.get("content-type")?.split(";", 1)[0]?.trim().toLowerCase() ?? "") : uRes;
    })
    .then((uRes) => universalResponseToNodeResponse(uRes, res))
    .catch((reason: unknown) => {
      if (ConnectError.from(reason).code === Code.Aborted) return;
      console.error(`handler for rpc ${handler.method.name} of ${handler.service.typeName} failed`, reason);
      // No path leaves a call open: a bare 500 if nothing went out yet, else the stream is cut.
      if (res.writableEnded || res.destroyed) return;
      if (!res.headersSent) {
        res.writeHead(500, { "content-type": "text/plain" });
        res.end();
      } else res.destroy();
    });
}

/**
 * Answers a call again with `error`, in the client's own protocol, in place of what Connect
 * answered. Connect encodes it: the handler runs again on an empty message, refused by the auth
 * interceptor as a call refused on its headers, with nothing more to record.
 */
function answerAgain(handler: UniversalHandler, uReq: UniversalServerRequest, error: GatewayError): Promise<UniversalServerResponse> {
  const values = createContextValues().set(refusedOnHeadersKey, error).set(answeredKey, true);
  const again: UniversalServerRequest = { ...uReq, contextValues: values };
  refusedMessage(again, uReq.header.get("content-type"));
  return handler(again);
}

/**
 * The answer to a call whose refusal could not be recorded (the audit log cannot be written):
 * UNAVAILABLE (audit_log_unavailable), as every call gets while the log is failed.
 */
function auditUnavailable(handler: UniversalHandler, uReq: UniversalServerRequest): Promise<UniversalServerResponse> {
  return answerAgain(handler, uReq, new GatewayError("KT_ERR_AUDIT_UNAVAILABLE", "the audit log cannot be written; requests are refused until it is repaired"));
}

/**
 * A call Connect answered with an error before its interceptors ran (or, for a stream, before its
 * handler): the front door's own refusal on the headers (the credential's fingerprint, counted in
 * its address's window like any failed authentication), else the error read back from the
 * answer when it is one answered again, else the body fault the front door met reading it, else
 * the error read back. A message Connect could not decode is answered again, INVALID_ARGUMENT
 * without the client's bytes (Connect says INTERNAL for protobuf and quotes the body's start or a
 * field's value for JSON: rpc-fault.ts), and so is a header Connect refused quoting it (a timeout,
 * a compression: echoingRefusal). Then it is recorded.
 * Secrets never: the record holds codes, the key's id or a fingerprint.
 */
async function settleRefused(
  handler: UniversalHandler,
  uReq: UniversalServerRequest,
  uRes: UniversalServerResponse,
  values: ContextValues,
  record: ((r: Refusal) => Promise<void> | void) | undefined,
): Promise<UniversalServerResponse> {
  const refusal = values.get(refusedOnHeadersKey);
  let fault: GatewayError | undefined = refusal;
  if (fault === undefined) {
    // Read even when the front door met a fault in the body: Connect checks a call's headers
    // (timeout, compression) before it reads the body, and that refusal is what went out.
    const bodyFault = values.get(bodyFaultKey);
    const read = await faultOfAnswer(uRes);
    ({ fault, res: uRes } = read);
    const again = read.error && (undecodableRefusal(read.error, handler.method.input.typeName, uReq.method, uReq.url) ?? echoingRefusal(read.error));
    if (again) {
      fault = again;
      uRes = await answerAgain(handler, uReq, again);
    } else if (bodyFault !== undefined) fault = bodyFault;
  }
  // A 405 (a method the RPC is not served with) is not an API call; nor is an answer without an error.
  if (record === undefined || fault === undefined || uRes.status === 405) return uRes;
  const governance = handler.service.typeName === GOVERNANCE;
  const principal = refusal instanceof AuthFailure ? refusal.principal : refusal === undefined ? (values.get(principalKey) ?? values.get(admittedKey)) : undefined;
  try {
    await record({
      kind: governance ? "access" : "request",
      operation: governance ? `GovernanceService/${handler.method.name}` : chatOperationOf(handler.method.name),
      model: "",
      stream: handler.method.methodKind === "server_streaming",
      frontDoor: frontDoorOf(uReq.header.get("content-type")),
      principal,
      credential: principal ? undefined : refusal instanceof AuthFailure ? (refusal.fingerprint ?? "none") : "none",
      error: fault,
      origin: rpcOrigin(values, handler.service.typeName, handler.method.name),
      traceparent: uReq.header.get("traceparent") ?? undefined,
      tracestate: uReq.header.get("tracestate") ?? undefined,
    });
  } catch {
    // The log is now marked failed (the audit observer says why, once); Connect's refusal is not
    // sent without its record.
    return auditUnavailable(handler, uReq);
  }
  return uRes;
}

const EMPTY_ENVELOPE = new Uint8Array(5);
const EMPTY_JSON_ENVELOPE = new Uint8Array([0, 0, 0, 0, 2, 0x7b, 0x7d]);
const EMPTY_JSON = new Uint8Array([0x7b, 0x7d]);

/**
 * The message Connect decodes for a call refused before it is read: the body of a POST, the query
 * of a Connect GET (whose message is in the URL: decoded again, an undecodable one would be
 * refused again with Connect's own error instead of the refusal meant).
 */
function refusedMessage(uReq: UniversalServerRequest, contentType: string | string[] | null | undefined): void {
  // A refusal is answered at once, so it needs no deadline; and Connect checks the timeout before
  // the interceptor runs: one it cannot parse would be answered instead of the refusal meant.
  uReq.header.delete("connect-timeout-ms");
  uReq.header.delete("grpc-timeout");
  if (uReq.method === "POST") refusedBody(uReq, contentType);
  else if (uReq.method === "GET") refusedQuery(uReq);
}

/**
 * A Connect GET's query with an empty JSON message (`{}`) in place of the client's: no base64,
 * no compression. A unary error is JSON whatever the encoding asked for, so the refusal reads the
 * same; the `connect` version parameter is kept.
 */
function refusedQuery(uReq: UniversalServerRequest): void {
  const url = new URL(uReq.url);
  const version = url.searchParams.get("connect");
  url.search = "";
  if (version !== null) url.searchParams.set("connect", version);
  url.searchParams.set("encoding", "json");
  url.searchParams.set("message", "{}");
  uReq.url = url.toString();
}

/**
 * The body Connect reads for a call refused on its headers: an empty message in the client's own
 * framing and codec (an envelope for gRPC, gRPC-Web and Connect streaming; `{}` for JSON), so
 * the interceptor's refusal is what the client gets, in its protocol's format. The client's bytes
 * stay unread: Node discards an HTTP/1.1 body the handler left, and closes an HTTP/2 stream once
 * the answer has gone.
 */
function refusedBody(uReq: UniversalServerRequest, contentType: string | string[] | null | undefined): void {
  const type = String(contentType ?? "").split(";", 1)[0]!.trim().toLowerCase();
  const json = type.endsWith("json");
  const enveloped = /^application\/(grpc|grpc-web|connect)(\+|$)/.test(type);
  const bytes = enveloped ? (json ? EMPTY_JSON_ENVELOPE : EMPTY_ENVELOPE) : json ? EMPTY_JSON : new Uint8Array(0);
  uReq.body = (async function* () {
    yield bytes;
  })();
  // The stand-in is neither compressed nor as long as the client said.
  uReq.header.delete("content-encoding");
  uReq.header.delete("connect-content-encoding");
  uReq.header.delete("grpc-encoding");
  if (uReq.header.has("content-length")) uReq.header.set("content-length", String(bytes.length));
}

import { Code, ConnectError, createConnectRouter, createContextValues, type ConnectRouter, type Interceptor } from "@connectrpc/connect";
import { compressionBrotli, compressionGzip, universalRequestFromNodeRequest, universalResponseToNodeResponse } from "@connectrpc/connect-node";
import type { UniversalHandler } from "@connectrpc/connect/protocol";
import { remoteAddressKey, remotePortKey } from "./connect/call-context.js";
import { heldAnswerKey, heldChatKey, heldEvaluateKey, heldRpcMethod, holdRpcRequest, withHeldAnswer } from "./connect/held-rpc.js";

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
  maxBodyBytes: number;
}): (req: any, res: any) => void {
  const router = createConnectRouter({
    interceptors: opts.services?.interceptors,
    readMaxBytes: opts.maxBodyBytes,
    acceptCompression: [compressionGzip, compressionBrotli],
  });
  opts.services?.routes(router);
  const paths = new Map<string, UniversalHandler>();
  for (const h of router.handlers) paths.set(h.requestPath, h);
  return function nodeRequestHandler(req: any, res: any): void {
    const path: string = (req.url ?? "").split("?", 2)[0];
    const handler = paths.get(path);
    if (!handler) return opts.shim(req, res);
    // Loopback-only mode needs the peer address, which Connect's handler context does not carry.
    const values = createContextValues().set(remoteAddressKey, req.socket?.remoteAddress).set(remotePortKey, req.socket?.remotePort);
    const uReq = universalRequestFromNodeRequest(req, res, undefined, values);
    const method = heldRpcMethod(req, path);
    const ready = method
      ? holdRpcRequest(req, method, opts.maxBodyBytes).then((r) => {
          uReq.body = r.body;
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
    ready
      .then(() => handler(uReq))
      .then((uRes) => {
        // A held EvaluatePolicy answer, or a large ChatService answer, as a worker encoded it.
        const answer = values.get(heldEvaluateKey)?.answer ?? values.get(heldAnswerKey)?.answer;
        return answer ? withHeldAnswer(uRes, answer, uReq.header.get("content-type")?.split(";", 1)[0]?.trim().toLowerCase() ?? "") : uRes;
      })
      .then((uRes) => universalResponseToNodeResponse(uRes, res))
      .catch((reason: unknown) => {
        if (ConnectError.from(reason).code === Code.Aborted) return;
        console.error(`handler for rpc ${handler.method.name} of ${handler.service.typeName} failed`, reason);
      });
  };
}

import { createContextValues, type ConnectRouter, type Interceptor } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { remoteAddressKey, remotePortKey } from "./connect/call-context.js";

export interface ConnectServices {
  routes: (router: ConnectRouter) => void;
  interceptors?: Interceptor[];
}

/**
 * The one handler both HTTP servers share: Connect, gRPC and gRPC-Web routes first, and every
 * other path to the OpenAI shim.
 */
export function createRequestHandler(opts: {
  shim: (req: any, res: any) => void;
  services: ConnectServices | undefined;
  maxBodyBytes: number;
}): (req: any, res: any) => void {
  return connectNodeAdapter({
    routes: opts.services?.routes ?? (() => {}),
    interceptors: opts.services?.interceptors,
    fallback: opts.shim,
    readMaxBytes: opts.maxBodyBytes,
    // Loopback-only mode needs the peer address, which Connect's handler context does not carry.
    contextValues: (req) => createContextValues().set(remoteAddressKey, req.socket?.remoteAddress).set(remotePortKey, req.socket?.remotePort),
  });
}

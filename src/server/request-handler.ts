import type { ConnectRouter, Interceptor } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";

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
    grpc: true,
    grpcWeb: true,
    connect: true,
  });
}

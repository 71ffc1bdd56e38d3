/**
 * @keeptrusts/client for browsers (and any runtime with `fetch`): the same typed clients as the
 * Node entry, over `@connectrpc/connect-web`. The gateway serves Connect and gRPC-Web on its one
 * port, over HTTP/1.1 or HTTP/2 as the browser negotiates.
 *
 *   import { createKeeptrustsClient } from "@keeptrusts/client/web";
 *   const kt = createKeeptrustsClient({ baseUrl: location.origin, apiKey });
 *   const { targets } = await kt.governance.listTargets({});
 */
import type { Interceptor, Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-web";
import { bearerAuth, keeptrustsClientFromTransport, type KeeptrustsClient } from "./core.js";

export interface KeeptrustsWebClientOptions {
  /** The gateway's address, e.g. `https://gateway.example.com`, or `location.origin` on its own pages. */
  baseUrl: string;
  /**
   * An API key configured on the gateway; sent as `authorization: Bearer <apiKey>`. Omit it only
   * for a gateway without keys, which serves loopback clients only.
   */
  apiKey?: string;
  /** `connect` (default) or `grpc-web`; plain gRPC needs HTTP trailers, which browsers do not expose. */
  protocol?: "connect" | "grpc-web";
  /** Protobuf binary messages (default) or JSON. */
  useBinaryFormat?: boolean;
  /** Default deadline for every call, in milliseconds; a call's own `timeoutMs` wins. */
  defaultTimeoutMs?: number;
  /** More interceptors, run after the auth interceptor. */
  interceptors?: Interceptor[];
  /** A `fetch` of your own (e.g. one that sets `credentials`). */
  fetch?: typeof globalThis.fetch;
}

/** Creates `{ chat, governance }` clients sharing one fetch-based transport. */
export function createKeeptrustsClient(options: KeeptrustsWebClientOptions): KeeptrustsClient {
  return keeptrustsClientFromTransport(createKeeptrustsTransport(options));
}

/** The transport `createKeeptrustsClient` uses, for callers who build their own clients. */
export function createKeeptrustsTransport(options: KeeptrustsWebClientOptions): Transport {
  const interceptors: Interceptor[] = [];
  if (options.apiKey !== undefined) interceptors.push(bearerAuth(options.apiKey));
  if (options.interceptors) interceptors.push(...options.interceptors);
  const common = {
    baseUrl: options.baseUrl,
    interceptors,
    useBinaryFormat: options.useBinaryFormat ?? true,
    ...(options.defaultTimeoutMs === undefined ? {} : { defaultTimeoutMs: options.defaultTimeoutMs }),
    ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
  };
  const protocol = options.protocol ?? "connect";
  if (protocol === "connect") return createConnectTransport(common);
  if (protocol === "grpc-web") return createGrpcWebTransport(common);
  throw new TypeError(`unknown protocol '${String(protocol)}' (use 'connect' or 'grpc-web')`);
}

export { bearerAuth, keeptrustsClientFromTransport, type KeeptrustsClient } from "./core.js";
export * from "./shared-exports.js";

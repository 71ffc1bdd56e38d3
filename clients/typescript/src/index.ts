/**
 * @keeptrusts/client: the TypeScript SDK of the Keeptrusts governance gateway for Node.js.
 *
 *   const kt = createKeeptrustsClient({ baseUrl: "http://localhost:41002", apiKey: process.env.KT_API_KEY });
 *   const res = await kt.chat.createChatCompletion({ model: "openllm-llama3", messages: [{ role: "user", content: "Hi" }] });
 */
import type { Interceptor, Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import type * as http2 from "node:http2";
import type * as https from "node:https";
import { bearerAuth, keeptrustsClientFromTransport, type KeeptrustsClient } from "./core.js";

export type KeeptrustsProtocol = "grpc" | "connect" | "grpc-web";

export interface KeeptrustsClientOptions {
  /** The gateway's address, e.g. `http://localhost:41002` (h2c) or `https://gateway.example.com`. */
  baseUrl: string;
  /** An API key configured on the gateway; sent as `authorization: Bearer <apiKey>`. */
  apiKey?: string;
  /** Wire protocol; default `connect`. The gateway serves all three on one port. */
  protocol?: KeeptrustsProtocol;
  /**
   * HTTP version. `grpc` needs `2` (the default for it); `connect` defaults to `2` and allows
   * `1.1`; `grpc-web` defaults to `1.1` and allows `2`.
   */
  httpVersion?: "1.1" | "2";
  /** Connect and gRPC-Web: protobuf binary (default) or JSON messages. */
  useBinaryFormat?: boolean;
  /** Default deadline for every call, in milliseconds; a call's own `timeoutMs` wins. */
  defaultTimeoutMs?: number;
  /** More interceptors, run after the auth interceptor. */
  interceptors?: Interceptor[];
  /** TLS and socket options for Node's http2/https (e.g. `ca` for a private CA). */
  nodeOptions?: http2.SecureClientSessionOptions | https.RequestOptions;
}

/** Creates `{ chat, governance }` clients sharing one transport. */
export function createKeeptrustsClient(options: KeeptrustsClientOptions): KeeptrustsClient {
  return keeptrustsClientFromTransport(createKeeptrustsTransport(options));
}

/** The transport `createKeeptrustsClient` uses, for callers who build their own clients. */
export function createKeeptrustsTransport(options: KeeptrustsClientOptions): Transport {
  const protocol = options.protocol ?? "connect";
  const interceptors: Interceptor[] = [];
  if (options.apiKey !== undefined) interceptors.push(bearerAuth(options.apiKey));
  if (options.interceptors) interceptors.push(...options.interceptors);
  const common = {
    baseUrl: options.baseUrl,
    interceptors,
    ...(options.defaultTimeoutMs === undefined ? {} : { defaultTimeoutMs: options.defaultTimeoutMs }),
  };
  const format = options.useBinaryFormat === undefined ? {} : { useBinaryFormat: options.useBinaryFormat };

  switch (protocol) {
    case "grpc": {
      if (options.httpVersion === "1.1") throw new TypeError("protocol 'grpc' requires httpVersion '2'");
      return createGrpcTransport({ ...common, nodeOptions: options.nodeOptions as http2.SecureClientSessionOptions | undefined });
    }
    case "connect":
    case "grpc-web": {
      const create = protocol === "connect" ? createConnectTransport : createGrpcWebTransport;
      const httpVersion = options.httpVersion ?? (protocol === "connect" ? "2" : "1.1");
      if (httpVersion === "2") {
        return create({ ...common, ...format, httpVersion, nodeOptions: options.nodeOptions as http2.SecureClientSessionOptions | undefined });
      }
      if (httpVersion === "1.1") {
        return create({ ...common, ...format, httpVersion, nodeOptions: options.nodeOptions as https.RequestOptions | undefined });
      }
      throw new TypeError(`unknown httpVersion '${String(httpVersion)}' (use '1.1' or '2')`);
    }
    default:
      throw new TypeError(`unknown protocol '${String(protocol)}' (use 'grpc', 'connect' or 'grpc-web')`);
  }
}

export { bearerAuth, keeptrustsClientFromTransport, type KeeptrustsClient } from "./core.js";
export * from "./shared-exports.js";

/**
 * The transport-agnostic part of the Keeptrusts client: no Node.js imports, so it also serves a
 * browser build with a transport from `@connectrpc/connect-web`.
 */
import { createClient, type Client, type Interceptor, type Transport } from "@connectrpc/connect";
import { ChatService } from "./gen/keeptrusts/v1/chat_pb.js";
import { GovernanceService } from "./gen/keeptrusts/v1/governance_pb.js";

/** Typed clients for both services of the gateway. */
export interface KeeptrustsClient {
  /** Chat and legacy completions, unary and streaming, and the model list. */
  chat: Client<typeof ChatService>;
  /** Targets, policy configuration and the audit log (needs an `admin` key). */
  governance: Client<typeof GovernanceService>;
  /** The transport both clients share. */
  transport: Transport;
}

/**
 * An interceptor that sends `authorization: Bearer <apiKey>` on every call, the same header the
 * OpenAI SDKs send to the gateway's HTTP shim.
 */
export function bearerAuth(apiKey: string): Interceptor {
  if (apiKey === "" || /[\r\n]/.test(apiKey)) {
    throw new TypeError("apiKey must be a non-empty string without line breaks");
  }
  const value = `Bearer ${apiKey}`;
  return (next) => (req) => {
    req.header.set("authorization", value);
    return next(req);
  };
}

/** Both service clients over a transport you built yourself (e.g. with `@connectrpc/connect-web`). */
export function keeptrustsClientFromTransport(transport: Transport): KeeptrustsClient {
  return {
    chat: createClient(ChatService, transport),
    governance: createClient(GovernanceService, transport),
    transport,
  };
}

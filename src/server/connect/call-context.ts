import { createContextKey, type HandlerContext } from "@connectrpc/connect";
import type { CallContext, FrontDoor, Principal, RequestOrigin } from "../../wire/index.js";
import type { GatewayError } from "../../errors/index.js";
import type { Authenticator } from "../auth.js";

/** The authenticated principal, set by the auth interceptor for the handlers. */
export const principalKey = createContextKey<Principal | undefined>(undefined, { description: "keeptrusts principal" });
/**
 * Set by the front door when the call's headers failed authentication (or named more than one
 * Authorization value): the refusal the interceptor records and answers. Its body was not read.
 */
export const refusedOnHeadersKey = createContextKey<GatewayError | undefined>(undefined, { description: "keeptrusts refused on headers" });

/**
 * Set once something has taken charge of the call's record: the auth interceptor's refusal, an
 * admitted Governance call (its access record follows log_all_access), a ChatService handler (the
 * pipeline's record). A call answered with an error while it is unset was refused by Connect
 * before any of them (an unreadable or undecodable body, an unsupported content type): the front
 * door records it (request-handler.ts).
 */
export const answeredKey = createContextKey<boolean>(false, { description: "keeptrusts call record in hand" });

/** Set by the front door when it could not read the call's body itself (too large, overloaded, cancelled): what it answered. */
export const bodyFaultKey = createContextKey<GatewayError | undefined>(undefined, { description: "keeptrusts body fault" });

/** Set by the front door when the call's headers authenticated: the interceptor takes it rather than hashing the key again. */
export const admittedKey = createContextKey<Principal | undefined>(undefined, { description: "keeptrusts principal admitted on headers" });

/**
 * The keys (Authenticator) that admitted it: a reload while the body arrived replaces them, and
 * the interceptor then checks the call again under the keys in force (a removed key is refused).
 */
export const admittedByKey = createContextKey<Authenticator | undefined>(undefined, { description: "keeptrusts keys that admitted the call" });

/** The peer address, from the Node request (Connect's context does not carry the socket). */
export const remoteAddressKey = createContextKey<string | undefined>(undefined, { description: "peer address" });
/** The peer port, beside the address. */
export const remotePortKey = createContextKey<number | undefined>(undefined, { description: "peer port" });

export function frontDoorOf(contentType: string | null): FrontDoor {
  if (!contentType) return "connect";
  if (contentType.startsWith("application/grpc-web")) return "grpc-web";
  if (contentType.startsWith("application/grpc")) return "grpc";
  return "connect";
}

/** The peer and the RPC called, for the request's span and record. */
export function rpcOrigin(values: HandlerContext["values"], service: string, method: string): RequestOrigin {
  return { clientAddress: values.get(remoteAddressKey), clientPort: values.get(remotePortKey), rpcService: service, rpcMethod: method };
}

export function callContext(ctx: HandlerContext): CallContext {
  const principal = ctx.values.get(principalKey);
  if (!principal) throw new Error("auth interceptor did not run");
  return {
    principal,
    signal: ctx.signal,
    frontDoor: frontDoorOf(ctx.requestHeader.get("content-type")),
    traceparent: ctx.requestHeader.get("traceparent") ?? undefined,
    tracestate: ctx.requestHeader.get("tracestate") ?? undefined,
    origin: rpcOrigin(ctx.values, ctx.service.typeName, ctx.method.name),
  };
}

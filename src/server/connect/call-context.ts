import { createContextKey, type HandlerContext } from "@connectrpc/connect";
import type { CallContext, FrontDoor, Principal, RequestOrigin } from "../../wire/index.js";

/** The authenticated principal, set by the auth interceptor for the handlers. */
export const principalKey = createContextKey<Principal | undefined>(undefined, { description: "keeptrusts principal" });
/** The peer address, from the Node request (Connect's context does not carry the socket). */
/** Set by the front door when the call's headers failed authentication and its body was not read. */
export const refusedOnHeadersKey = createContextKey<boolean>(false, { description: "keeptrusts refused on headers" });

/** Set by the front door when the call's headers authenticated: the interceptor takes it rather than hashing the key again. */
export const admittedKey = createContextKey<Principal | undefined>(undefined, { description: "keeptrusts principal admitted on headers" });

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

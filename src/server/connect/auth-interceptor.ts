import type { Interceptor } from "@connectrpc/connect";
import { GovernanceService } from "../../../gen/keeptrusts/v1/governance_pb.js";
import type { Refusal } from "../../observer/index.js";
import { AuthFailure, type Authenticator } from "../auth.js";
import { admittedByKey, admittedKey, answeredKey, frontDoorOf, principalKey, refusedOnHeadersKey, remoteAddressKey, rpcOrigin } from "./call-context.js";
import { toConnectError } from "./connect-errors.js";
import { GatewayError } from "../../errors/index.js";

/**
 * The same API keys as the shim, from `authorization` metadata; Governance needs the admin scope.
 * A refused call is recorded (see docs/audit.md) before the refusal is sent.
 */
export function authInterceptor(auth: () => Authenticator, refuse?: (r: Refusal) => Promise<void> | void): Interceptor {
  return (next) => async (req) => {
    const governance = req.service.typeName === GovernanceService.typeName;
    try {
      // Refused on its headers by the front door (request-handler.ts); its body was not read, so
      // the call cannot go on even if a reload made its key valid in the meantime.
      const refused = req.contextValues.get(refusedOnHeadersKey);
      if (refused) throw refused;
      // The front door authenticated the headers already: the same key, scope and peer, unless a
      // reload replaced the keys while the body arrived (up to the request timeout): then the call
      // is checked again under the keys in force, so a removed key is not served. An identity
      // comparison per call; the key is hashed again only after a reload.
      const current = auth();
      let principal = req.contextValues.get(admittedKey);
      if (principal === undefined || req.contextValues.get(admittedByKey) !== current)
        principal = current.authenticate(req.header.get("authorization") ?? undefined, req.contextValues.get(remoteAddressKey), governance ? "admin" : "chat");
      req.contextValues.set(principalKey, principal);
      // Its access record (log_all_access) or span is the Governance interceptor's from here.
      if (governance) req.contextValues.set(answeredKey, true);
    } catch (err) {
      if (refuse && err instanceof AuthFailure) {
        const model = (req.message as { model?: unknown } | undefined)?.model;
        const recorded = refuse({
          kind: governance ? "access" : "request",
          operation: governance ? `GovernanceService/${req.method.name}` : chatOperationOf(req.method.name),
          model: typeof model === "string" ? model : "",
          stream: req.stream,
          frontDoor: frontDoorOf(req.header.get("content-type")),
          principal: err.principal,
          credential: err.principal ? undefined : (err.fingerprint ?? "none"),
          error: err,
          origin: rpcOrigin(req.contextValues, req.service.typeName, req.method.name),
          traceparent: req.header.get("traceparent") ?? undefined,
          tracestate: req.header.get("tracestate") ?? undefined,
        });
        req.contextValues.set(answeredKey, true);
        try {
          await recorded;
        } catch {
          // Not written (the audit log just failed): UNAVAILABLE, as every call gets while it is failed.
          throw toConnectError(new GatewayError("KT_ERR_AUDIT_UNAVAILABLE", "the audit log cannot be written; requests are refused until it is repaired"));
        }
      }
      throw toConnectError(err);
    }
    return next(req);
  };
}

/** The operation a ChatService method performs, as the pipeline names it. */
export function chatOperationOf(method: string): string {
  if (method.endsWith("ChatCompletion")) return "chat";
  if (method.endsWith("Completion")) return "completion";
  return method === "ListModels" ? "models" : method;
}

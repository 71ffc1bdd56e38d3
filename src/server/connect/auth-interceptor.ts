import type { Interceptor } from "@connectrpc/connect";
import { GovernanceService } from "../../../gen/keeptrusts/v1/governance_pb.js";
import type { Authenticator } from "../auth.js";
import { principalKey, remoteAddressKey } from "./call-context.js";
import { toConnectError } from "./connect-errors.js";

/** The same API keys as the shim, from `authorization` metadata; Governance needs the admin scope. */
export function authInterceptor(auth: () => Authenticator): Interceptor {
  return (next) => async (req) => {
    const need = req.service.typeName === GovernanceService.typeName ? "admin" : "chat";
    try {
      const principal = auth().authenticate(req.header.get("authorization") ?? undefined, req.contextValues.get(remoteAddressKey), need);
      req.contextValues.set(principalKey, principal);
    } catch (err) {
      throw toConnectError(err);
    }
    return next(req);
  };
}

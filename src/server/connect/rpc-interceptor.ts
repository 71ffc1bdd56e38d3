import { ConnectError, type Interceptor } from "@connectrpc/connect";
import { Code } from "@connectrpc/connect";
import { GovernanceService } from "../../../gen/keeptrusts/v1/governance_pb.js";
import type { AuditObserver } from "../../audit/index.js";
import { frontDoorOf, principalKey, rpcOrigin } from "./call-context.js";

export interface RpcAuditOptions {
  observer: AuditObserver;
  /** The audit-logger's `log_all_access`: record every Governance call as an access record. */
  logAllAccess: () => boolean;
}

/**
 * Governance calls that passed authentication: one SERVER span each (RPC conventions, no GenAI
 * attributes) and, with `log_all_access`, an access record. ChatService calls get their one
 * SERVER span from the chat pipeline, and refused calls theirs from the auth interceptor, so no
 * call is traced twice.
 */
export function rpcAuditInterceptor(opts: RpcAuditOptions): Interceptor {
  return (next) => async (req) => {
    if (req.service.typeName !== GovernanceService.typeName) return next(req);
    const trace = opts.observer.access({
      operation: `GovernanceService/${req.method.name}`,
      frontDoor: frontDoorOf(req.header.get("content-type")),
      principal: req.contextValues.get(principalKey)?.keyId ?? "unauthenticated",
      origin: rpcOrigin(req.contextValues, req.service.typeName, req.method.name),
      traceparent: req.header.get("traceparent") ?? undefined,
      tracestate: req.header.get("tracestate") ?? undefined,
      record: opts.logAllAccess(),
    });
    const finish = (err: unknown) => {
      const code = err === undefined ? 0 : ConnectError.from(err).code;
      return trace.end(code, code === 0 ? undefined : Code[code]);
    };
    try {
      const res = await next(req);
      if (!res.stream) {
        await finish(undefined);
        return res;
      }
      // Streams end later: wrap the message iterator so the span covers the whole call.
      const messages = res.message;
      return {
        ...res,
        message: (async function* () {
          try {
            yield* messages;
            await finish(undefined);
          } catch (err) {
            await finish(err);
            throw err;
          }
        })(),
      };
    } catch (err) {
      await finish(err);
      throw err;
    }
  };
}

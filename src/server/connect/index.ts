import type { ConnectRouter } from "@connectrpc/connect";
import type { Refusal } from "../../observer/index.js";
import { ChatService } from "../../../gen/keeptrusts/v1/chat_pb.js";
import { GovernanceService } from "../../../gen/keeptrusts/v1/governance_pb.js";
import type { Gateway } from "../gateway.js";
import type { ConnectServices } from "../request-handler.js";
import { authInterceptor } from "./auth-interceptor.js";
import { chatService } from "./chat-service.js";
import { governanceService, type AuditRpcs, type ConsoleOptions } from "./governance-service.js";
import { rpcAuditInterceptor, type RpcAuditOptions } from "./rpc-interceptor.js";

export { auditRpcs, toAuditEvent } from "./audit-rpcs.js";
export { maskedConfig, type AuditRpcs, type ConsoleOptions } from "./governance-service.js";
export { toConnectError } from "./connect-errors.js";
export { admittedKey, remoteAddressKey, remotePortKey, principalKey, refusedOnHeadersKey } from "./call-context.js";
export type { RpcAuditOptions } from "./rpc-interceptor.js";

/** ChatService and GovernanceService for the one-port handler. */
export function connectServices(
  gateway: Gateway,
  audit?: { rpcs: () => AuditRpcs | undefined } & RpcAuditOptions,
  consoleOpts?: ConsoleOptions,
): ConnectServices {
  const refuse = (r: Refusal) => gateway.pipeline.refuse(r);
  return {
    routes: (router: ConnectRouter) => {
      router.service(ChatService, chatService(gateway.pipeline, gateway.runtime));
      router.service(GovernanceService, governanceService(gateway, audit?.rpcs, consoleOpts));
    },
    // Auth first: it records refused calls itself; the Governance span and access record then
    // cover authenticated calls with their principal.
    interceptors: audit ? [authInterceptor(gateway.auth, refuse), rpcAuditInterceptor(audit)] : [authInterceptor(gateway.auth, refuse)],
  };
}

import { SpanKind, SpanStatusCode, trace, ROOT_CONTEXT, type Span } from "@opentelemetry/api";
import { ConnectError, Code, type Interceptor } from "@connectrpc/connect";
import { GovernanceService } from "../../../gen/keeptrusts/v1/governance_pb.js";
import { formatTraceparent, parseTraceparent, startRequestSpan, type AuditLog, type Telemetry } from "../../audit/index.js";
import { frontDoorOf, principalKey } from "./call-context.js";

export interface RpcAuditOptions {
  telemetry: () => Telemetry | undefined;
  log: () => AuditLog | undefined;
  /** The audit-logger's `log_all_access`: record every Governance call as an access record. */
  logAllAccess: () => boolean;
}

/**
 * One span per RPC (OpenTelemetry `rpc.*` conventions); the chat pipeline's GenAI span becomes
 * its child through the forwarded `traceparent`. With `log_all_access`, Governance calls (reads of
 * the config, targets and the audit log itself) each leave an access record.
 */
export function rpcAuditInterceptor(opts: RpcAuditOptions): Interceptor {
  return (next) => async (req) => {
    const tel = opts.telemetry();
    const isGovernance = req.service.typeName === GovernanceService.typeName;
    const access = isGovernance && opts.logAllAccess() ? opts.log() : undefined;
    if (!tel && !access) return next(req);

    const frontDoor = frontDoorOf(req.header.get("content-type"));
    let span: Span | undefined;
    if (tel) {
      const parent = parseTraceparent(req.header.get("traceparent") ?? undefined);
      const ctx = parent
        ? trace.setSpanContext(ROOT_CONTEXT, { traceId: parent.traceId, spanId: parent.spanId, traceFlags: parent.flags, isRemote: true })
        : ROOT_CONTEXT;
      span = tel.tracer.startSpan(
        `${req.service.typeName}/${req.method.name}`,
        {
          kind: SpanKind.SERVER,
          attributes: {
            "rpc.system": frontDoor === "connect" ? "connect_rpc" : "grpc",
            "rpc.service": req.service.typeName,
            "rpc.method": req.method.name,
            "kt.front_door": frontDoor,
          },
        },
        ctx,
      );
      const sc = span.spanContext();
      req.header.set("traceparent", formatTraceparent(sc.traceId, sc.spanId, sc.traceFlags));
    }
    const finish = (err: unknown) => {
      if (span) {
        span.setAttribute("rpc.grpc.status_code", err === undefined ? 0 : ConnectError.from(err).code);
        if (err !== undefined) span.setStatus({ code: SpanStatusCode.ERROR });
        span.end();
      }
      if (access) {
        const principal = req.contextValues.get(principalKey)?.keyId ?? "unauthenticated";
        const s = startRequestSpan(
          { kind: "access", operation: `GovernanceService/${req.method.name}`, frontDoor, principal, model: "", stream: false, traceparent: req.header.get("traceparent") ?? undefined },
          undefined,
        );
        const record = s.end({ outcome: err === undefined ? "ok" : "error", errorCode: err === undefined ? undefined : Code[ConnectError.from(err).code] });
        return access.append(record);
      }
      return undefined;
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

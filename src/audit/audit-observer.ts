import type { RequestObserver, RequestSummary, RequestTrace } from "../chat/index.js";
import { errorCodes, GatewayError } from "../errors/index.js";
import type { AuditLog } from "./audit-log.js";
import { startRequestSpan } from "./request-span.js";
import type { Telemetry } from "./telemetry.js";

export interface AuditObserverOptions {
  /** The local audit log in force, if the config has an audit-logger. */
  log: () => AuditLog | undefined;
  pack: () => { name: string; version: string } | undefined;
  telemetry: () => Telemetry | undefined;
  /** Where an audit write failure is reported; never holds request content. */
  onError?: (err: Error) => void;
}

/**
 * Turns each pipeline request into one span and one audit record with the same ids and facts.
 * Records are appended without holding the answer back, unless the log is saturated: then the
 * request waits for room (back-pressure), so no record is ever dropped.
 */
export function auditObserver(opts: AuditObserverOptions): RequestObserver {
  return {
    start(info): RequestTrace {
      // Fail closed: a request that cannot be recorded is not served.
      const log = opts.log();
      if (log?.failed) throw new GatewayError("KT_ERR_AUDIT_UNAVAILABLE", "the audit log cannot be written; requests are refused until it is repaired");
      const telemetry = opts.telemetry();
      // Nothing records this request: pass the client's trace context on and do no other work.
      if (!log && !telemetry) return { traceparent: info.traceparent, tracestate: info.tracestate, end() {} };
      const span = startRequestSpan(
        {
          operation: info.op,
          frontDoor: info.frontDoor,
          principal: info.principal.keyId,
          model: info.model,
          stream: info.stream,
          traceparent: info.traceparent,
          tracestate: info.tracestate,
          pack: opts.pack(),
        },
        telemetry,
      );
      return {
        traceparent: span.traceparent(),
        tracestate: span.tracestate(),
        firstChunk: () => span.markFirstChunk(),
        end(summary: RequestSummary) {
          if (summary.target)
            span.setAttributes({
              target: { id: summary.target.id, description: summary.target.description, baseUrl: summary.target.baseUrl },
              targetHealth: summary.targetHealth,
              attempts: summary.attempts.length,
            });
          for (const e of summary.events) span.addGovernanceEvent(e);
          const err = summary.error;
          const record = span.end({
            outcome: summary.outcome,
            errorType: err ? errorCodes[err.code].type : undefined,
            errorCode: err?.code,
            httpStatus: err ? err.status : 200,
            usage: summary.usage,
            finishReasons: summary.finishReasons.length > 0 ? summary.finishReasons : undefined,
            responseModel: summary.responseModel,
            responseId: summary.responseId,
            limits: summary.limits,
          });
          if (!log) return;
          const saturated = log.saturated;
          const appended = log.append(record).then(
            () => {},
            (e: Error) => {
              opts.onError?.(e);
              if (saturated) throw e;
            },
          );
          return saturated ? appended : undefined;
        },
      };
    },
  };
}

import { Code } from "@connectrpc/connect";
import type { AttemptAnswer, AttemptTrace, Refusal, RequestObserver, RequestSummary, RequestTrace } from "../observer/index.js";
import { errorCodes, GatewayError } from "../errors/index.js";
import type { FrontDoor, RequestOrigin } from "../wire/index.js";
import type { AppendReceipt, AuditLog } from "./audit-log.js";
import type { AuditRecordInput } from "./audit-record.js";
import { AuthFailureWindow, type AuthFailureAggregate } from "./auth-failure-window.js";
import { startRequestSpan, type ChainHead } from "./request-span.js";
import type { Telemetry } from "./telemetry.js";

export interface AuditObserverOptions {
  /** The local audit log in force, if the config has an audit-logger. */
  log: () => AuditLog | undefined;
  pack: () => { name: string; version: string } | undefined;
  telemetry: () => Telemetry | undefined;
  /**
   * `write` (default): an answer waits until its record is in the log file (the `write`
   * returned); `fsync`: until an fdatasync covered it.
   */
  durability?: () => "write" | "fsync";
  /** Failed authentications per client address are aggregated over this window (default 60 s). */
  authFailureWindowMs?: () => number;
  /** Where an audit write failure is reported; never holds request content. */
  onError?: (err: Error) => void;
}

export interface AuditObserver extends RequestObserver {
  refuse(refusal: Refusal): Promise<void> | void;
  /**
   * A Governance (admin) call that passed authentication: a SERVER span without GenAI
   * attributes, and an access record when `record` is set (`log_all_access`).
   */
  access(info: AccessStart): AccessTrace;
  /** Writes the aggregates of open failed-authentication windows and stops their timer. */
  close(): void;
}

export interface AccessStart {
  operation: string;
  frontDoor: FrontDoor;
  principal: string;
  origin?: RequestOrigin;
  traceparent?: string;
  tracestate?: string;
  record: boolean;
}

export interface AccessTrace {
  /** Ends the call: `status` is the gRPC/Connect code sent (0 for OK), `errorCode` its name. */
  end(status: number, errorCode?: string): Promise<void> | undefined;
}

/**
 * Turns each request into one SERVER span and one audit record with the same ids and facts, and
 * each upstream attempt into a CLIENT span. The answer to a request waits until its record is in
 * the log file (or, with `durability: fsync`, on disk): a crash of the gateway cannot lose the
 * record of an answered request. A saturated log makes requests wait for room; nothing is dropped.
 */
export function auditObserver(opts: AuditObserverOptions): AuditObserver {
  const durability = opts.durability ?? (() => "write" as const);

  /** Puts the record in the log; the promise the answer must wait for, if any. */
  const append = (log: AuditLog | undefined, record: (seal: (r: AuditRecordInput) => ChainHead | Promise<ChainHead | undefined> | undefined) => void): Promise<void> | undefined => {
    if (!log) {
      record(() => undefined);
      return undefined;
    }
    let wait: Promise<void> | undefined;
    record((r) => {
      let receipt: AppendReceipt | Promise<AppendReceipt>;
      try {
        receipt = log.admit(r);
      } catch (e) {
        opts.onError?.(e as Error);
        wait = Promise.reject(e as Error);
        return undefined;
      }
      const settle = (rc: AppendReceipt): Promise<void> => (durability() === "fsync" ? rc.durable.then(() => undefined) : rc.written);
      if (receipt instanceof Promise) {
        wait = receipt.then(settle);
        return receipt.then((rc) => ({ seq: rc.seq, hash: rc.hash }));
      }
      wait = settle(receipt);
      return { seq: receipt.seq, hash: receipt.hash };
    });
    return wait?.catch((e: Error) => {
      opts.onError?.(e);
      throw e;
    });
  };

  const refuseNow = (r: Refusal, extra: { credential?: string; count?: number; startTime?: number } = {}): Promise<void> | undefined => {
    const log = opts.log();
    const telemetry = opts.telemetry();
    if (!log && !telemetry) return undefined;
    const span = startRequestSpan(
      {
        kind: r.kind,
        operation: r.operation,
        frontDoor: r.frontDoor,
        principal: r.principal?.keyId ?? "unauthenticated",
        model: r.model,
        stream: r.stream,
        traceparent: r.traceparent,
        tracestate: r.tracestate,
        origin: r.origin,
        pack: opts.pack(),
        ...(extra.credential ?? r.credential ? { credential: extra.credential ?? r.credential } : {}),
        ...(extra.count !== undefined ? { count: extra.count } : {}),
        ...(extra.startTime !== undefined ? { startTime: extra.startTime } : {}),
      },
      telemetry,
    );
    const e = r.error;
    const result = {
      outcome: e.code === "KT_ERR_CANCELLED" ? ("cancelled" as const) : ("error" as const),
      errorType: errorCodes[e.code].type,
      errorCode: e.code,
      httpStatus: e.status,
      ...(isRpc(r.frontDoor) ? { grpcStatus: grpcStatusOf(e) } : {}),
    };
    if (log?.failed) {
      // Nothing can be written: the refusal is not sent either, as no answer is without its
      // record. The front door answers 503 audit_log_unavailable (UNAVAILABLE), as every call gets
      // while the log is failed.
      span.end(result);
      return Promise.reject(auditUnavailable());
    }
    // A write that fails is the same answer, whichever front door awaits it.
    return append(log, (seal) => span.end(result, seal))?.catch(() => {
      throw auditUnavailable();
    });
  };

  const window = new AuthFailureWindow({
    windowMs: opts.authFailureWindowMs ?? (() => 60_000),
    emit: (a: AuthFailureAggregate) => {
      void refuseNow(
        {
          kind: "request",
          operation: "auth_failures",
          model: "",
          stream: false,
          frontDoor: a.frontDoor as FrontDoor,
          error: new GatewayError("KT_ERR_UNAUTHENTICATED", "failed authentications aggregated"),
          origin: { clientAddress: a.clientAddress },
        },
        { credential: a.credential, count: a.count, startTime: a.windowStart },
      )?.catch(() => undefined);
    },
  });

  return {
    start(info): RequestTrace {
      const log = opts.log();
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
          origin: info.origin,
          params: info.params,
        },
        telemetry,
      );
      if (log?.failed) {
        // Fail closed: a request that cannot be recorded is not served. The span still says so.
        const e = auditUnavailable();
        span.end({ outcome: "error", errorType: errorCodes[e.code].type, errorCode: e.code, httpStatus: e.status, ...(isRpc(info.frontDoor) ? { grpcStatus: grpcStatusOf(e) } : {}) });
        throw e;
      }
      return {
        traceparent: span.traceparent(),
        tracestate: span.tracestate(),
        firstChunk: () => span.markFirstChunk(),
        attempt(target): AttemptTrace | undefined {
          const a = span.attempt(target);
          if (!a) return undefined;
          return {
            traceparent: a.traceparent,
            end: (error?: GatewayError, answer?: AttemptAnswer) => a.end(error?.code, answer),
          };
        },
        end(summary: RequestSummary) {
          if (summary.target)
            span.setAttributes({
              target: { id: summary.target.id, description: summary.target.description, baseUrl: summary.target.baseUrl },
              targetHealth: summary.targetHealth,
              attempts: summary.attempts.length,
            });
          for (const e of summary.events) span.addGovernanceEvent(e);
          const err = summary.error;
          // The status the client saw: once a stream's first chunk went out, its headers said 200,
          // and the failure reached the client as an error event inside the stream.
          const began = summary.stream && summary.firstChunkMs !== undefined;
          const result = {
            outcome: summary.outcome,
            errorType: err ? errorCodes[err.code].type : undefined,
            errorCode: err?.code,
            httpStatus: err && !began ? err.status : 200,
            ...(isRpc(summary.frontDoor) ? { grpcStatus: err ? grpcStatusOf(err) : 0 } : {}),
            usage: summary.usage,
            finishReasons: summary.finishReasons.length > 0 ? summary.finishReasons : undefined,
            responseModel: summary.responseModel,
            responseId: summary.responseId,
            limits: summary.limits,
          };
          return append(log, (seal) => span.end(result, seal));
        },
      };
    },

    refuse(r: Refusal): Promise<void> | void {
      // A caller that did not authenticate (no key, an unrecognised one, more than one
      // Authorization value) from an address that already failed in this window is counted into
      // the window's aggregate record instead of a record of its own. Every refusal without a
      // principal is one: otherwise a flood of them, whatever their code, could fill the disk.
      // While the log is failed nothing is counted or written: refuseNow rejects, so the front door
      // answers 503 audit_log_unavailable, not the refusal it cannot record.
      if (r.principal === undefined && !opts.log()?.failed) {
        if (!window.admit(r.origin?.clientAddress, r.credential ?? "none", r.frontDoor)) return;
        return refuseNow({ ...r, credential: r.credential ?? "none" });
      }
      return refuseNow(r);
    },

    access(info: AccessStart): AccessTrace {
      const log = info.record ? opts.log() : undefined;
      const telemetry = opts.telemetry();
      if (!log && !telemetry) return { end: () => undefined };
      const span = startRequestSpan(
        {
          kind: "access",
          operation: info.operation,
          frontDoor: info.frontDoor,
          principal: info.principal,
          model: "",
          stream: false,
          traceparent: info.traceparent,
          tracestate: info.tracestate,
          origin: info.origin,
          pack: opts.pack(),
        },
        telemetry,
      );
      return {
        end(status: number, errorCode?: string) {
          const result = { outcome: status === 0 ? ("ok" as const) : ("error" as const), errorCode, errorType: errorCode, grpcStatus: status };
          if (log?.failed) {
            span.end(result);
            return undefined;
          }
          return append(log, (seal) => span.end(result, seal));
        },
      };
    },

    close() {
      window.stop();
    },
  };
}

/** The answer every request gets while the audit log cannot be written. */
function auditUnavailable(): GatewayError {
  return new GatewayError("KT_ERR_AUDIT_UNAVAILABLE", "the audit log cannot be written; requests are refused until it is repaired");
}

function isRpc(frontDoor: FrontDoor): boolean {
  return frontDoor !== "openai";
}

/** The gRPC/Connect code a client receives for an error (as the Connect front door maps it). */
function grpcStatusOf(e: GatewayError): number {
  if (e.code === "KT_ERR_UPSTREAM_REJECTED") return e.status === 404 ? Code.NotFound : e.status === 429 ? Code.ResourceExhausted : Code.InvalidArgument;
  return errorCodes[e.code].grpc;
}

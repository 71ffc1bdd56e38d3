import { create } from "@bufbuild/protobuf";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  AuditEventSchema,
  ListAuditEventsResponseSchema,
  VerifyAuditLogResponseSchema,
  WatchAuditEventsResponseSchema,
  type AuditEvent,
} from "../../../gen/keeptrusts/v1/governance_pb.js";
import type { AuditLog, AuditQuery, StoredAuditRecord } from "../../audit/index.js";
import { ruleFired, verifyAuditLog } from "../../audit/index.js";
import type { AuditRpcs } from "./governance-service.js";

const MAX_PAGE = 1000;

/** ListAuditEvents, WatchAuditEvents and VerifyAuditLog over the local audit log. */
export function auditRpcs(log: AuditLog): AuditRpcs {
  return {
    async listAuditEvents(req) {
      if (req.pageSize < 0) throw new ConnectError("page_size must not be negative", Code.InvalidArgument);
      let page;
      try {
        page = await log.query({
          from: req.startTime ? timestampDate(req.startTime) : undefined,
          to: req.endTime ? timestampDate(req.endTime) : undefined,
          principal: req.principal || undefined,
          target: req.target || undefined,
          decision: (req.decision || undefined) as AuditQuery["decision"],
          traceId: req.traceId || undefined,
          outcome: (req.outcome || undefined) as AuditQuery["outcome"],
          rule: req.rule || undefined,
          pageSize: Math.min(req.pageSize || 100, MAX_PAGE),
          pageToken: req.pageToken || undefined,
        });
      } catch (err) {
        throw new ConnectError(`cannot list audit events: ${(err as Error).message}`, Code.InvalidArgument);
      }
      return create(ListAuditEventsResponseSchema, { events: page.events.map(toAuditEvent), nextPageToken: page.nextPageToken ?? "" });
    },
    async *watchAuditEvents(req, ctx) {
      const queue: StoredAuditRecord[] = [];
      let wake: (() => void) | undefined;
      const stop = log.watch((r) => {
        if (req.principal && r.principal !== req.principal) return;
        if (req.target && r.target !== req.target) return;
        if (req.decision && r.decision !== req.decision) return;
        if (req.traceId && r.traceId !== req.traceId) return;
        if (req.outcome && r.outcome !== req.outcome) return;
        if (req.rule && !ruleFired(r.rulesFired, req.rule)) return;
        queue.push(r);
        wake?.();
      });
      const aborted = new Promise<void>((resolve) => ctx.signal.addEventListener("abort", () => resolve(), { once: true }));
      try {
        while (!ctx.signal.aborted) {
          if (queue.length === 0) await Promise.race([new Promise<void>((r) => (wake = r)), aborted]);
          wake = undefined;
          while (queue.length > 0) yield create(WatchAuditEventsResponseSchema, { event: toAuditEvent(queue.shift()!) });
        }
      } finally {
        stop();
      }
    },
    async verifyAuditLog() {
      await log.flush();
      const r = await verifyAuditLog(log.path);
      if (r.ok) return create(VerifyAuditLogResponseSchema, { ok: true, records: BigInt(r.records), firstSeq: BigInt(r.firstSeq), lastSeq: BigInt(r.lastSeq) });
      return create(VerifyAuditLogResponseSchema, {
        ok: false,
        brokenSeq: r.seq === undefined ? undefined : BigInt(r.seq),
        reason: `${r.segment}:${r.line}: ${r.reason}`,
      });
    },
  };
}

export function toAuditEvent(r: StoredAuditRecord): AuditEvent {
  return create(AuditEventSchema, {
    seq: BigInt(r.seq),
    time: timestampFromDate(new Date(r.time)),
    traceId: r.traceId,
    spanId: r.spanId,
    kind: r.kind,
    operation: r.operation,
    principal: r.principal,
    model: r.model,
    target: r.target ?? "",
    stream: r.stream,
    outcome: r.outcome,
    errorCode: r.errorCode ?? "",
    decision: r.decision,
    rulesFired: r.rulesFired,
    redactions: Object.fromEntries(Object.entries(r.redactions).map(([k, v]) => [k, BigInt(v)])),
    latencyMs: r.latencyMs,
    inputTokens: r.usage?.input,
    outputTokens: r.usage?.output,
    hash: r.hash,
    prevHash: r.prev,
  });
}

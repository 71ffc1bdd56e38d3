import { create, type JsonObject } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import {
  ConfigIssueSchema,
  Direction,
  EvaluatePolicyResponseSchema,
  FindingSchema,
  GetOverviewResponseSchema,
  GetPolicyConfigResponseSchema,
  BudgetUsageSchema,
  GetUsageResponseSchema,
  GovernanceService,
  PolicySummarySchema,
  RuleSummarySchema,
  TargetTrafficSchema,
  TrafficBucketSchema,
  ListTargetsResponseSchema,
  RateUsageSchema,
  UsageSubjectKind,
  UsageSubjectSchema,
  PolicyPackSchema,
  ProbeResultSchema,
  ReloadPolicyConfigResponseSchema,
  TargetSchema,
  type Target,
} from "../../../gen/keeptrusts/v1/governance_pb.js";
import type { GatewayConfig } from "../../config/index.js";
import { ConfigError, formatConfigIssue } from "../../config/index.js";
import { readUsage } from "../../limits/index.js";
import { hashedPlaceholder } from "../../wire/index.js";
import { ApplyError, type Gateway } from "../gateway.js";
import { toConnectError } from "./connect-errors.js";
import { heldEvaluateKey, heldGone, releaseHeldEvaluate, runHeldRpcJob } from "./held-rpc.js";
import type { HeldEvaluateOutput } from "./held-rpc-job.js";
import { GatewayError } from "../../errors/index.js";

/**
 * Findings an EvaluatePolicy answer lists (the first in text order; `findings_total` counts all):
 * a 15 MiB hostile text holds over half a million, whose encoding alone held the event loop for
 * seconds.
 */
const MAX_EVALUATE_FINDINGS = 1000;

/** The audit RPCs, supplied by src/audit when an audit log is configured. */
export type AuditRpcs = Pick<ServiceImpl<typeof GovernanceService>, "listAuditEvents" | "watchAuditEvents" | "verifyAuditLog">;

/** What the console needs beside the gateway: where its trace links point. */
export interface ConsoleOptions {
  /** The Jaeger UI's base URL (`KT_JAEGER_URL`). */
  traceUrl?: string;
}

export function governanceService(gateway: Gateway, audit?: () => AuditRpcs | undefined, consoleOpts: ConsoleOptions = {}): ServiceImpl<typeof GovernanceService> {
  const noAudit = () => new ConnectError("no audit-logger is configured in policy-config.yaml", Code.FailedPrecondition);
  return {
    getOverview() {
      const rt = gateway.runtime();
      const targets = targetsOf(gateway);
      return create(GetOverviewResponseSchema, {
        targets,
        targetTraffic: targets.map((t) => {
          const s = gateway.traffic.target(t.id);
          return create(TargetTrafficSchema, {
            targetId: t.id,
            requests: BigInt(s.requests),
            errors: BigInt(s.errors),
            errorRate: s.requests === 0 ? 0 : s.errors / s.requests,
            latencyP50Ms: s.latencyP50Ms,
            latencyP95Ms: s.latencyP95Ms,
          });
        }),
        traffic: gateway.traffic.lastHour().map((m) =>
          create(TrafficBucketSchema, {
            start: timestampFromDate(m.start),
            requests: BigInt(m.requests),
            blocked: BigInt(m.blocked),
            redacted: BigInt(m.redacted),
            errors: BigInt(m.errors),
          }),
        ),
        policies: rt.config.policies.map((p) =>
          create(PolicySummarySchema, {
            id: p.id,
            description: p.description ?? "",
            rules: p.rules.map((r, i) =>
              create(RuleSummarySchema, {
                id: r.id ?? `${r.type}#${i}`,
                type: r.type,
                action: r.action,
                applyTo: r.apply_to,
                matches: r.type === "pii_detection" ? r.patterns.map((x) => (typeof x === "string" ? x : x.name)) : [...r.categories],
              }),
            ),
          }),
        ),
        pack: rt.config.pack ? create(PolicyPackSchema, rt.config.pack) : undefined,
        loadedAt: timestampFromDate(gateway.loadedAt),
        startedAt: timestampFromDate(gateway.startedAt),
        traceUrl: consoleOpts.traceUrl ?? "",
        auditLog: audit?.() !== undefined,
      });
    },
    listTargets() {
      return create(ListTargetsResponseSchema, { targets: targetsOf(gateway) });
    },
    getPolicyConfig() {
      const c = gateway.runtime().config;
      return create(GetPolicyConfigResponseSchema, {
        config: maskedConfig(c),
        source: c.source,
        pack: c.pack ? create(PolicyPackSchema, c.pack) : undefined,
        loadedAt: timestampFromDate(gateway.loadedAt),
      });
    },
    async reloadPolicyConfig() {
      const r = await gateway.reload();
      // A config that validated but could not be applied: the running one stays; say why.
      if (!r.ok && r.error instanceof ApplyError) throw new ConnectError(r.error.message, Code.FailedPrecondition);
      return create(ReloadPolicyConfigResponseSchema, {
        ok: r.ok,
        errors: r.ok || !(r.error instanceof ConfigError) ? [] : r.error.issues.map(formatConfigIssue),
        issues:
          r.ok || !(r.error instanceof ConfigError)
            ? []
            : r.error.issues.map((i) => create(ConfigIssueSchema, { file: i.file, line: i.line, column: i.col, field: i.field, message: i.message })),
        loadedAt: timestampFromDate(gateway.loadedAt),
      });
    },
    async evaluatePolicy(req, ctx) {
      // A large text (held-rpc.ts): its pooled memory, charged to the caller's key, is this
      // handler's to release once done, whatever the outcome.
      const held = ctx.values.get(heldEvaluateKey);
      if (held?.released) throw toConnectError(heldGone(), ctx.signal);
      if (held) held.taken = true;
      // The proto: an unset direction is the request phase.
      const direction = req.direction === Direction.RESPONSE ? "response" : "request";
      const policy = gateway.runtime().policy;
      try {
        if (req.policyId !== undefined && !gateway.runtime().config.policies.some((p) => p.id === req.policyId))
          throw new ConnectError(`unknown policy '${hashedPlaceholder("unknown-policy", req.policyId)}'`, Code.NotFound);
        if (held) {
          // A large text (held-rpc.ts): a worker runs the chain and encodes the whole answer; the
          // small one returned here is replaced by it on the way out.
          const rules = policy.evaluationRules(direction, req.policyId);
          const text = rules ? undefined : await runHeldRpcJob<string>("heldEvaluateText", held.body, held.body.length, false, ctx.signal);
          if (rules) {
            const out = await runHeldRpcJob<HeldEvaluateOutput>("evaluateHeld", { body: held.body, phase: direction, rules, maxFindings: MAX_EVALUATE_FINDINGS }, held.body.length, false, ctx.signal);
            if ("fault" in out) throw new ConnectError(out.fault, Code.InvalidArgument);
            if ("unavailable" in out) throw new GatewayError("KT_ERR_POLICY_ENGINE_UNAVAILABLE", out.unavailable);
            held.answer = out.message;
            return create(EvaluatePolicyResponseSchema, { decision: out.decision, findingsTotal: out.findingsTotal });
          }
          // A guard-model rule is chosen: the text comes here, as a small one's would.
          req = { ...req, text: text! };
        }
        const r = await policy.evaluateText(req.text, direction, req.policyId, ctx.signal, MAX_EVALUATE_FINDINGS);
        const actionOf = new Map(r.events.map((e) => [`${e.policy}/${e.rule}`, e.action]));
        return create(EvaluatePolicyResponseSchema, {
          decision: r.decision,
          redactedText: r.redactedText,
          findingsTotal: r.findingsTotal,
          findings: r.findings.map((f) =>
            create(FindingSchema, { policy: f.policy, rule: f.rule, type: f.type, start: f.start, end: f.end, action: actionOf.get(`${f.policy}/${f.rule}`) ?? "" }),
          ),
        });
      } catch (err) {
        throw toConnectError(err, ctx.signal);
      } finally {
        releaseHeldEvaluate(held);
      }
    },
    listAuditEvents(req, ctx) {
      const a = audit?.();
      if (!a?.listAuditEvents) throw noAudit();
      return a.listAuditEvents(req, ctx);
    },
    watchAuditEvents(req, ctx) {
      const a = audit?.();
      if (!a?.watchAuditEvents) throw noAudit();
      return a.watchAuditEvents(req, ctx);
    },
    verifyAuditLog(req, ctx) {
      const a = audit?.();
      if (!a?.verifyAuditLog) throw noAudit();
      return a.verifyAuditLog(req, ctx);
    },
    async getUsage(req) {
      const r = await readUsage(gateway.runtime().limits, { keyId: req.keyId, team: req.team, targetId: req.targetId });
      return create(GetUsageResponseSchema, {
        store: r.store,
        storeAvailable: r.available,
        storeError: r.error ?? "",
        time: timestampFromDate(r.time),
        subjects: r.subjects.map((s) =>
          create(UsageSubjectSchema, {
            kind: s.kind === "key" ? UsageSubjectKind.KEY : s.kind === "team" ? UsageSubjectKind.TEAM : UsageSubjectKind.TARGET,
            id: s.id,
            team: s.team ?? "",
            rates: s.rates.map((x) =>
              create(RateUsageSchema, { name: x.name, limit: BigInt(x.limit), used: BigInt(x.used), remaining: BigInt(x.remaining), resetSeconds: x.resetSeconds }),
            ),
            budget: s.budget
              ? create(BudgetUsageSchema, {
                  limit: BigInt(s.budget.limit),
                  period: s.budget.period,
                  timeZone: s.budget.timeZone,
                  used: BigInt(s.budget.used),
                  reserved: BigInt(s.budget.reserved),
                  remaining: BigInt(s.budget.remaining),
                  periodStart: timestampFromDate(s.budget.start),
                  periodEnd: timestampFromDate(s.budget.end),
                })
              : undefined,
            inFlightRequests: s.inFlight,
            maxConcurrentRequests: s.maxConcurrentRequests,
            reservedTokens: BigInt(s.reservedTokens),
          }),
        ),
      });
    },
  };
}

/** The effective config as JSON, with every secret replaced: safe to hand to an operator. */
export function maskedConfig(c: GatewayConfig): JsonObject {
  return JSON.parse(
    JSON.stringify({
      pack: c.pack ?? null,
      targets: c.targets.map((t) => ({ ...t, secret: t.secret === undefined ? null : "***" })),
      policies: c.policies,
      audit: c.audit ?? null,
      streaming: c.streaming,
      api_keys: c.apiKeys.map((k) => ({ id: k.id, scopes: k.scopes, sha256: "***" })),
      limits: c.limits,
    }),
  ) as JsonObject;
}

/** Every configured target and its state, in configuration order. */
function targetsOf(gateway: Gateway): Target[] {
  return gateway.runtime().registry.states.map((s) =>
    create(TargetSchema, {
      id: s.target.id,
      provider: s.target.provider,
      baseUrl: s.target.baseUrl,
      model: s.target.upstreamModel,
      weight: s.target.weight,
      healthy: s.healthy,
      description: s.target.description ?? "",
      kind: s.target.kind,
      timeoutSeconds: s.target.timeoutSeconds,
      healthProbe: s.target.healthProbe,
      circuitState: s.circuit.state,
      consecutiveFailures: s.circuit.consecutiveFailures,
      totalFailures: BigInt(s.circuit.totalFailures),
      totalSuccesses: BigInt(s.circuit.totalSuccesses),
      lastError: s.circuit.lastError ? `${s.circuit.lastError.code}: ${s.circuit.lastError.message}` : "",
      lastErrorTime: s.circuit.lastError ? timestampFromDate(s.circuit.lastError.at) : undefined,
      openUntil: s.circuit.state === "open" ? timestampFromDate(new Date(s.circuit.openUntil)) : undefined,
      inFlight: s.inFlight,
      lastProbe: s.lastProbe
        ? create(ProbeResultSchema, { time: timestampFromDate(s.lastProbe.at), ok: s.lastProbe.ok, error: s.lastProbe.error ?? "" })
        : undefined,
    }),
  );
}

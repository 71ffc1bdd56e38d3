import type { LimitSet } from "../config/index.js";
import { budgetPeriod } from "./budget-period.js";
import type { Limiter, SubjectPlan } from "./limiter.js";
import { RATE_NAMES, type RateName, type UsageQuery } from "./limits-store.js";

export interface UsageReport {
  store: "embedded" | "redis";
  available: boolean;
  error: string | undefined;
  time: Date;
  subjects: SubjectReport[];
}

export interface SubjectReport {
  kind: "key" | "team" | "target";
  id: string;
  team: string | undefined;
  rates: { name: string; limit: number; used: number; remaining: number; resetSeconds: number }[];
  budget: { limit: number; period: string; timeZone: string; used: number; reserved: number; remaining: number; start: Date; end: Date } | undefined;
  inFlight: number;
  maxConcurrentRequests: number;
  reservedTokens: number;
}

const RATE_FIELDS: [RateName, keyof LimitSet][] = [
  ["rpm", "requestsPerMinute"],
  ["tpm", "tokensPerMinute"],
  ["itpm", "inputTokensPerMinute"],
  ["otpm", "outputTokensPerMinute"],
];

/**
 * GetUsage: every key (configuration order), team and limited target, or those the filter names,
 * with their limits and what the store holds against them now. One store call for all of them.
 */
export async function readUsage(limiter: Limiter, filter: { keyId?: string; team?: string; targetId?: string } = {}): Promise<UsageReport> {
  const any = Boolean(filter.keyId || filter.team || filter.targetId);
  const rows: { kind: SubjectReport["kind"]; id: string; team: string | undefined; plan: SubjectPlan }[] = [];
  for (const k of limiter.keys) if (!any || filter.keyId === k.id) rows.push({ kind: "key", id: k.id, team: k.team, plan: limiter.plansFor(k.id)[0]! });
  if (any && filter.keyId && !limiter.keys.some((k) => k.id === filter.keyId))
    rows.push({ kind: "key", id: filter.keyId, team: undefined, plan: limiter.plansFor(filter.keyId)[0]! });
  for (const name of Object.keys(limiter.settings.teams))
    if (!any || filter.team === name) rows.push({ kind: "team", id: name, team: undefined, plan: { subject: `team:${name}`, set: limiter.settings.teams[name]!, tokens: false } });
  for (const t of limiter.targets) {
    const p = limiter.targetPlan(t.id);
    if (p && (!any || filter.targetId === t.id)) rows.push({ kind: "target", id: t.id, team: undefined, plan: p });
  }
  const now = Date.now();
  const queries: UsageQuery[] = rows.map(({ plan }) => {
    const q: UsageQuery = { subject: plan.subject, rates: RATE_FIELDS.filter(([, f]) => plan.set[f] !== undefined).map(([n]) => n) };
    if (plan.set.tokenBudget) q.budget = budgetPeriod(plan.set.tokenBudget, now).name;
    return q;
  });
  const report: UsageReport = { store: limiter.store.kind, available: true, error: undefined, time: new Date(now), subjects: [] };
  let usage: Awaited<ReturnType<typeof limiter.store.usage>> = [];
  try {
    usage = await limiter.store.usage(queries);
  } catch (err) {
    report.available = false;
    report.error = (err as Error).message.split("\n")[0];
  }
  rows.forEach((row, i) => {
    const u = usage[i];
    const set = row.plan.set;
    const rates = RATE_FIELDS.filter(([, f]) => set[f] !== undefined).map(([n, f]) => {
      const limit = set[f] as number;
      const r = u?.rates.find((x) => x.name === n);
      const used = r?.used ?? 0;
      return { name: RATE_NAMES[n], limit, used, remaining: Math.max(0, limit - used), resetSeconds: used >= limit ? (r?.resetMs ?? 0) / 1000 : 0 };
    });
    let budget: SubjectReport["budget"];
    if (set.tokenBudget) {
      const p = budgetPeriod(set.tokenBudget, now);
      const used = u?.budget?.used ?? 0;
      const reserved = u?.budget?.reserved ?? 0;
      budget = {
        limit: set.tokenBudget.tokens,
        period: set.tokenBudget.period,
        timeZone: set.tokenBudget.timeZone,
        used,
        reserved,
        remaining: Math.max(0, set.tokenBudget.tokens - used - reserved),
        start: new Date(p.start),
        end: new Date(p.end),
      };
    }
    report.subjects.push({
      kind: row.kind,
      id: row.id,
      team: row.team,
      rates,
      budget,
      inFlight: u?.inFlight ?? 0,
      maxConcurrentRequests: set.maxConcurrentRequests ?? 0,
      reservedTokens: u?.reservedTokens ?? 0,
    });
  });
  return report;
}

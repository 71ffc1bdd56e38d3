import type { TokenBudget } from "../config/index.js";

/** One calendar period of a token budget: its bounds as instants, and the name its counter is stored under. */
export interface BudgetPeriod {
  /** Epoch ms of the period's first instant (local midnight in the budget's time zone). */
  start: number;
  /** Epoch ms of the next period's first instant. */
  end: number;
  /** Stable name of the period, e.g. `day-2026-11-30`, `week-2026-11-30` (its Monday), `month-2026-11`. */
  name: string;
}

const cache = new Map<string, BudgetPeriod>();

/**
 * The period `now` falls in. Computed once per period and cached, so the hot path is one map
 * lookup and a comparison; daylight-saving changes are handled by resolving local midnight in
 * the time zone (a 23- or 25-hour day is still one day).
 */
export function budgetPeriod(b: TokenBudget, now: number): BudgetPeriod {
  const id = `${b.period}|${b.timeZone}`;
  const hit = cache.get(id);
  if (hit && now >= hit.start && now < hit.end) return hit;
  const p = computePeriod(b.period, b.timeZone, now);
  cache.set(id, p);
  return p;
}

function computePeriod(period: TokenBudget["period"], timeZone: string, now: number): BudgetPeriod {
  const { y, m, d, weekday } = localDate(now, timeZone);
  let sy = y;
  let sm = m;
  let sd = d;
  let ey: number;
  let em: number;
  let ed: number;
  if (period === "day") {
    [ey, em, ed] = addDays(y, m, d, 1);
  } else if (period === "week") {
    // ISO weeks start on Monday.
    [sy, sm, sd] = addDays(y, m, d, -((weekday + 6) % 7));
    [ey, em, ed] = addDays(sy, sm, sd, 7);
  } else {
    sd = 1;
    [ey, em, ed] = m === 12 ? [y + 1, 1, 1] : [y, m + 1, 1];
  }
  const start = localMidnight(sy, sm, sd, timeZone);
  const end = localMidnight(ey, em, ed, timeZone);
  const iso = `${sy}-${pad(sm)}-${pad(sd)}`;
  const name = period === "month" ? `month-${sy}-${pad(sm)}` : `${period}-${iso}`;
  return { start, end, name };
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat("en-US", {
      timeZone,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
      weekday: "short",
    });
    formatters.set(timeZone, f);
  }
  return f;
}

const WEEKDAYS: Record<string, number> = { Sun: 0, Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6 };

function localParts(t: number, timeZone: string) {
  const parts: Record<string, string> = {};
  for (const p of formatter(timeZone).formatToParts(t)) parts[p.type] = p.value;
  return {
    y: Number(parts.year),
    m: Number(parts.month),
    d: Number(parts.day),
    h: Number(parts.hour),
    min: Number(parts.minute),
    s: Number(parts.second),
    weekday: WEEKDAYS[parts.weekday!] ?? 0,
  };
}

function localDate(t: number, timeZone: string) {
  return localParts(t, timeZone);
}

/** The zone's offset from UTC at instant t, in ms (local = utc + offset). */
function offsetAt(t: number, timeZone: string): number {
  const p = localParts(t, timeZone);
  const asUtc = Date.UTC(p.y, p.m - 1, p.d, p.h, p.min, p.s);
  return asUtc - Math.floor(t / 1000) * 1000;
}

/** The instant local midnight of y-m-d happens in the zone (the first instant of that local day). */
function localMidnight(y: number, m: number, d: number, timeZone: string): number {
  const naive = Date.UTC(y, m - 1, d);
  // Two rounds settle the offset across a DST change; a midnight that does not exist (a zone that
  // springs forward at 00:00) resolves to the first instant of the local day.
  let t = naive - offsetAt(naive, timeZone);
  t = naive - offsetAt(t, timeZone);
  const p = localParts(t, timeZone);
  if (p.d !== d) t += 3600_000;
  return t;
}

function addDays(y: number, m: number, d: number, n: number): [number, number, number] {
  const t = new Date(Date.UTC(y, m - 1, d + n));
  return [t.getUTCFullYear(), t.getUTCMonth() + 1, t.getUTCDate()];
}

function pad(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

import type { LimitsStore, RateName, RateState, Refusal, ReserveResult, ReserveSpec, SettleSpec, SubjectUsage, UsageQuery } from "./limits-store.js";

const SPAN = 61;

/** One subject's one-minute window in one-second buckets (a ring of 61). */
class RateWindow {
  private readonly secs = new Float64Array(SPAN).fill(-1);
  private readonly amounts = new Float64Array(SPAN);
  private oldest = Infinity;
  sum = 0;

  /** Drops buckets that left the window: a bucket counts while its second is ≥ now − 60. */
  prune(nowSec: number): void {
    if (this.oldest >= nowSec - 60) return;
    let oldest = Infinity;
    for (let i = 0; i < SPAN; i++) {
      const s = this.secs[i]!;
      if (s < 0) continue;
      if (s < nowSec - 60) {
        this.sum -= this.amounts[i]!;
        this.secs[i] = -1;
        this.amounts[i] = 0;
      } else if (s < oldest) oldest = s;
    }
    this.oldest = oldest;
    if (oldest === Infinity || this.sum < 0) this.sum = 0;
  }

  add(sec: number, amount: number): void {
    const i = sec % SPAN;
    if (this.secs[i] !== sec) {
      this.secs[i] = sec;
      this.amounts[i] = 0;
    }
    this.amounts[i]! += amount;
    this.sum += amount;
    if (sec < this.oldest) this.oldest = sec;
  }

  /** Settlement: moves a bucket by delta if it is still counted; usage past the reservation goes to now. */
  adjust(sec: number, delta: number, nowSec: number): void {
    const i = sec % SPAN;
    if (this.secs[i] === sec && sec >= nowSec - 60) {
      const next = Math.max(0, this.amounts[i]! + delta);
      this.sum += next - this.amounts[i]!;
      this.amounts[i] = next;
    } else if (delta > 0) this.add(nowSec, delta);
  }

  resetMs(nowMs: number): number {
    return this.oldest === Infinity ? 0 : Math.max(0, (this.oldest + SPAN) * 1000 - nowMs);
  }

  /** Ms until `need` more fits under `limit`, as the oldest buckets leave; -1 if it never will. */
  retryAfterMs(need: number, limit: number, nowMs: number): number {
    if (need > limit) return -1;
    const live: [number, number][] = [];
    for (let i = 0; i < SPAN; i++) if (this.secs[i]! >= 0) live.push([this.secs[i]!, this.amounts[i]!]);
    live.sort((a, b) => a[0] - b[0]);
    let freed = 0;
    for (const [s, a] of live) {
      freed += a;
      if (this.sum - freed + need <= limit) return Math.max(1, (s + SPAN) * 1000 - nowMs);
    }
    return 1000;
  }
}

interface Lease {
  expires: number;
  stream: boolean;
  tokens: number;
}

class InFlight {
  readonly leases = new Map<string, Lease>();
  streams = 0;

  prune(now: number): void {
    for (const [id, l] of this.leases)
      if (l.expires <= now) {
        this.leases.delete(id);
        if (l.stream) this.streams--;
      }
  }
}

interface BudgetCounter {
  used: number;
  reserved: number;
  expires: number;
}

/**
 * The default store: counters in this process. Under `--workers` the primary holds one and the
 * workers reach it over IPC (ipc-store.ts), so the limits stay exact for the whole machine.
 */
export class EmbeddedStore implements LimitsStore {
  readonly kind = "embedded" as const;
  private readonly windows = new Map<string, RateWindow>();
  private readonly inflight = new Map<string, InFlight>();
  private readonly budgets = new Map<string, BudgetCounter>();
  private nextSweep = 0;
  /** `subject|name` keys by subject and name: see key(). */
  private readonly keys = new Map<string, Map<string, string>>();

  constructor(private readonly clock: () => number = Date.now) {}

  /**
   * `${subject}|${name}`, the same string each time for the same pair. A key built per lookup is
   * a new string the map lookup must hash character by character; the parts (a subject from the
   * config, a rate's name, a period) keep their hashes, and the key found keeps its own. A reserve
   * and its settlement looked up ten such keys.
   */
  private key(subject: string, name: string): string {
    let byName = this.keys.get(subject);
    if (byName === undefined) {
      if (this.keys.size >= 10_000) this.keys.clear();
      this.keys.set(subject, (byName = new Map()));
    }
    let k = byName.get(name);
    if (k === undefined) {
      k = `${subject}|${name}`;
      // A subject's names are its four rates and its budget's periods: a handful.
      if (byName.size < 64) byName.set(name, k);
    }
    return k;
  }

  reserve(spec: ReserveSpec): ReserveResult {
    const now = this.clock();
    const nowSec = Math.floor(now / 1000);
    this.sweep(now);
    const rates: RateState[] = [];
    let refusal: Refusal | undefined;
    // Check every charge first, apply only if all pass: a refused request costs nothing anywhere.
    for (const c of spec.charges) {
      for (const [name, limit, amount] of c.rates) {
        const w = this.window(c.subject, name);
        w.prune(nowSec);
        if (!refusal && w.sum + amount > limit) {
          const retry = w.retryAfterMs(amount, limit, now);
          refusal = { kind: "rate", subject: c.subject, name, limit, retryAfterMs: retry < 0 ? 0 : retry, tooLarge: retry < 0 };
        }
        rates.push({ subject: c.subject, name, limit, used: w.sum, resetMs: w.resetMs(now) });
      }
      if (refusal) continue;
      if (c.maxRequests > 0 || (spec.stream && c.maxStreams > 0)) {
        const f = this.inflight.get(c.subject);
        if (f) {
          if ((c.maxRequests > 0 && f.leases.size >= c.maxRequests) || (spec.stream && c.maxStreams > 0 && f.streams >= c.maxStreams)) f.prune(now);
          if (c.maxRequests > 0 && f.leases.size >= c.maxRequests) refusal = { kind: "concurrency", subject: c.subject, streams: false, limit: c.maxRequests };
          else if (spec.stream && c.maxStreams > 0 && f.streams >= c.maxStreams) refusal = { kind: "concurrency", subject: c.subject, streams: true, limit: c.maxStreams };
        }
      }
      if (!refusal && c.budget) {
        const [period, limit, amount, end] = c.budget;
        const b = this.budgets.get(this.key(c.subject, period));
        const used = b?.used ?? 0;
        const reserved = b?.reserved ?? 0;
        if (used + reserved + amount > limit)
          refusal = { kind: "budget", subject: c.subject, limit, used, reserved, retryAfterMs: Math.max(0, end - now), tooLarge: amount > limit };
      }
    }
    if (refusal) return { ok: false, at: nowSec, rates, refusal };
    let r = 0;
    for (const c of spec.charges) {
      for (const [name, , amount] of c.rates) {
        const w = this.window(c.subject, name);
        w.add(nowSec, amount);
        const st = rates[r++]!;
        st.used = w.sum;
        st.resetMs = w.resetMs(now);
      }
      let f = this.inflight.get(c.subject);
      if (!f) this.inflight.set(c.subject, (f = new InFlight()));
      f.leases.set(spec.id, { expires: now + spec.leaseMs, stream: spec.stream, tokens: c.tokens });
      if (spec.stream) f.streams++;
      if (c.budget) {
        const [period, , amount, end] = c.budget;
        const k = this.key(c.subject, period);
        const b = this.budgets.get(k);
        if (b) b.reserved += amount;
        else this.budgets.set(k, { used: 0, reserved: amount, expires: end + 86_400_000 });
      }
    }
    return { ok: true, at: nowSec, rates };
  }

  settle(spec: SettleSpec): void {
    const now = this.clock();
    const nowSec = Math.floor(now / 1000);
    for (const c of spec.charges) {
      for (const [name, delta] of c.rates) if (delta !== 0) this.windows.get(this.key(c.subject, name))?.adjust(spec.at, delta, nowSec);
      const f = this.inflight.get(c.subject);
      const l = f?.leases.get(spec.id);
      if (f && l) {
        f.leases.delete(spec.id);
        if (l.stream) f.streams--;
      }
      if (c.budget) {
        const [period, reserved, charged, end] = c.budget;
        const k = this.key(c.subject, period);
        let b = this.budgets.get(k);
        if (!b) this.budgets.set(k, (b = { used: 0, reserved: 0, expires: end + 86_400_000 }));
        // A lease that already expired gave its reservation back by time; do not return it twice.
        b.reserved = Math.max(0, b.reserved - reserved);
        b.used += charged;
      }
    }
  }

  usage(queries: UsageQuery[]): SubjectUsage[] {
    const now = this.clock();
    const nowSec = Math.floor(now / 1000);
    return queries.map((q) => {
      const f = this.inflight.get(q.subject);
      f?.prune(now);
      let reservedTokens = 0;
      if (f) for (const l of f.leases.values()) reservedTokens += l.tokens;
      const out: SubjectUsage = {
        subject: q.subject,
        rates: q.rates.map((name) => {
          const w = this.windows.get(`${q.subject}|${name}`);
          w?.prune(nowSec);
          return { name, used: w?.sum ?? 0, resetMs: w?.resetMs(now) ?? 0 };
        }),
        inFlight: f?.leases.size ?? 0,
        streams: f?.streams ?? 0,
        reservedTokens,
      };
      if (q.budget !== undefined) {
        const b = this.budgets.get(`${q.subject}|${q.budget}`);
        out.budget = { used: b?.used ?? 0, reserved: b?.reserved ?? 0 };
      }
      return out;
    });
  }

  async close(): Promise<void> {}

  private window(subject: string, name: RateName): RateWindow {
    const k = this.key(subject, name);
    let w = this.windows.get(k);
    if (!w) this.windows.set(k, (w = new RateWindow()));
    return w;
  }

  /** Once a minute: forget empty windows, idle subjects and budgets of past periods. */
  private sweep(now: number): void {
    if (now < this.nextSweep) return;
    this.nextSweep = now + 60_000;
    const nowSec = Math.floor(now / 1000);
    for (const [k, w] of this.windows) {
      w.prune(nowSec);
      if (w.sum === 0 && w.resetMs(now) === 0) this.windows.delete(k);
    }
    for (const [k, f] of this.inflight) {
      f.prune(now);
      if (f.leases.size === 0) this.inflight.delete(k);
    }
    for (const [k, b] of this.budgets) if (b.expires <= now) this.budgets.delete(k);
  }
}

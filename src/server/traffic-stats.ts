import type { AttemptTrace, RequestObserver, RequestSummary, RequestTrace } from "../observer/index.js";
import type { Target } from "../config/index.js";

/** Minutes kept: the console's overview shows the last hour. */
export const TRAFFIC_MINUTES = 60;

/**
 * Latency histogram: bucket i holds latencies in [2^(i/4), 2^((i+1)/4)) ms, so a percentile read
 * from it is within 19% of the true value; 84 buckets reach 2^21 ms (35 minutes), past any timeout.
 */
const LATENCY_BUCKETS = 84;

interface MinuteCounts {
  minute: number;
  requests: number;
  blocked: number;
  redacted: number;
  errors: number;
}

interface TargetMinute {
  minute: number;
  requests: number;
  errors: number;
  latency: Uint32Array;
}

export interface TrafficMinute {
  start: Date;
  requests: number;
  blocked: number;
  redacted: number;
  errors: number;
}

export interface TargetTrafficSummary {
  requests: number;
  errors: number;
  latencyP50Ms: number;
  latencyP95Ms: number;
}

/**
 * Per-minute counts of the last hour, overall and per target, for the console's overview. Kept in
 * fixed rings indexed by minute, so recording a request is a few increments with no allocation and
 * memory does not grow with traffic. Measured cost: ~0.15 µs per request (2M records, 300 ns
 * against a 150 ns baseline of the loop's own object and Date.now, load average 18 on 2 cores);
 * the full policy chain costs ~220 µs.
 */
export class TrafficStats {
  private readonly minutes: MinuteCounts[] = Array.from({ length: TRAFFIC_MINUTES }, () => ({ minute: -1, requests: 0, blocked: 0, redacted: 0, errors: 0 }));
  private readonly targets = new Map<string, TargetMinute[]>();

  constructor(private readonly now: () => number = Date.now) {}

  record(s: Pick<RequestSummary, "outcome" | "events" | "latencyMs" | "target">): void {
    const minute = Math.floor(this.now() / 60_000);
    const m = this.minutes[minute % TRAFFIC_MINUTES]!;
    if (m.minute !== minute) {
      m.minute = minute;
      m.requests = m.blocked = m.redacted = m.errors = 0;
    }
    m.requests++;
    if (s.outcome === "blocked") m.blocked++;
    else if (s.outcome === "error") m.errors++;
    for (const e of s.events) {
      if (e.action === "redact" || e.action === "mask") {
        m.redacted++;
        break;
      }
    }
    const id = s.target?.id;
    if (id === undefined) return;
    let ring = this.targets.get(id);
    if (!ring) {
      ring = Array.from({ length: TRAFFIC_MINUTES }, () => ({ minute: -1, requests: 0, errors: 0, latency: new Uint32Array(LATENCY_BUCKETS) }));
      this.targets.set(id, ring);
    }
    const t = ring[minute % TRAFFIC_MINUTES]!;
    if (t.minute !== minute) {
      t.minute = minute;
      t.requests = t.errors = 0;
      t.latency.fill(0);
    }
    t.requests++;
    if (s.outcome === "error") t.errors++;
    t.latency[latencyBucket(s.latencyMs)]!++;
  }

  /** The last hour, oldest minute first, the current minute last. */
  lastHour(): TrafficMinute[] {
    const now = Math.floor(this.now() / 60_000);
    const out: TrafficMinute[] = [];
    for (let minute = now - TRAFFIC_MINUTES + 1; minute <= now; minute++) {
      const m = this.minutes[minute % TRAFFIC_MINUTES]!;
      const live = m.minute === minute;
      out.push({
        start: new Date(minute * 60_000),
        requests: live ? m.requests : 0,
        blocked: live ? m.blocked : 0,
        redacted: live ? m.redacted : 0,
        errors: live ? m.errors : 0,
      });
    }
    return out;
  }

  /** One target's last hour; zeros for a target that served nothing. */
  target(id: string): TargetTrafficSummary {
    const ring = this.targets.get(id);
    const now = Math.floor(this.now() / 60_000);
    const hist = new Uint32Array(LATENCY_BUCKETS);
    let requests = 0;
    let errors = 0;
    for (const t of ring ?? []) {
      if (t.minute <= now - TRAFFIC_MINUTES || t.minute > now) continue;
      requests += t.requests;
      errors += t.errors;
      for (let i = 0; i < LATENCY_BUCKETS; i++) hist[i]! += t.latency[i]!;
    }
    return { requests, errors, latencyP50Ms: percentile(hist, requests, 0.5), latencyP95Ms: percentile(hist, requests, 0.95) };
  }

  /** Wraps an observer so every request that ends is counted here too. */
  observe(inner: RequestObserver): RequestObserver {
    return {
      start: (info) => new CountedTrace(inner.start(info), this),
      // Refused requests are recorded by the inner observer (the audit log) as they are.
      refuse: (r) => inner.refuse?.(r),
    };
  }
}

/** A class rather than a closure per request (see ShimCallContext on why). */
class CountedTrace implements RequestTrace {
  constructor(
    private readonly inner: RequestTrace,
    private readonly stats: TrafficStats,
  ) {}

  get traceparent() {
    return this.inner.traceparent;
  }

  get tracestate() {
    return this.inner.tracestate;
  }

  firstChunk(): void {
    this.inner.firstChunk?.();
  }

  attempt(target: Target): AttemptTrace | undefined {
    return this.inner.attempt?.(target);
  }

  end(summary: RequestSummary): Promise<void> | void {
    this.stats.record(summary);
    return this.inner.end(summary);
  }
}

function latencyBucket(ms: number): number {
  if (!(ms >= 1)) return 0;
  return Math.min(LATENCY_BUCKETS - 1, Math.floor(Math.log2(ms) * 4));
}

/** The geometric middle of the bucket holding the q-quantile. */
function percentile(hist: Uint32Array, total: number, q: number): number {
  if (total === 0) return 0;
  const rank = Math.ceil(q * total);
  let seen = 0;
  for (let i = 0; i < hist.length; i++) {
    seen += hist[i]!;
    if (seen >= rank) return Math.round(2 ** ((i + 0.5) / 4) * 10) / 10;
  }
  return 0;
}

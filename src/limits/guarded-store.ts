import type { LimitsStore, ReserveResult, ReserveSpec, SettleSpec, SubjectUsage, UsageQuery } from "./limits-store.js";

/** Settlements kept while the store is unreachable, replayed when it answers again. */
const MAX_PENDING_SETTLEMENTS = 100_000;
const FIRST_COOL_DOWN_MS = 1_000;
const MAX_COOL_DOWN_MS = 15_000;

export interface StoreHealth {
  state: "closed" | "open" | "half_open";
  failures: number;
  lastError: string | undefined;
  pendingSettlements: number;
}

/**
 * A store behind a circuit: after a failure the store is not asked again for a cool-down (1 s,
 * doubling to 15 s while it keeps failing), so a dead Redis costs each request nothing — the
 * failure mode applies at once. After the cool-down one call tries it; success closes the
 * circuit and replays the settlements that could not be delivered, so reservations made before
 * the outage are returned.
 */
export class GuardedStore {
  private openUntil = 0;
  private coolDown = FIRST_COOL_DOWN_MS;
  private trial = false;
  private failures = 0;
  private lastError: string | undefined;
  private pending: SettleSpec[] = [];
  /** Called on every failure and recovery (metrics, logs). */
  onChange: ((health: StoreHealth, error?: unknown) => void) | undefined;

  constructor(readonly inner: LimitsStore) {}

  get kind(): LimitsStore["kind"] {
    return this.inner.kind;
  }

  get health(): StoreHealth {
    const now = Date.now();
    const state = this.failures === 0 ? "closed" : now < this.openUntil || this.trial ? "open" : "half_open";
    return { state, failures: this.failures, lastError: this.lastError, pendingSettlements: this.pending.length };
  }

  reserve(spec: ReserveSpec): ReserveResult | Promise<ReserveResult> {
    this.admit();
    let r: ReserveResult | Promise<ReserveResult>;
    try {
      r = this.inner.reserve(spec);
    } catch (err) {
      this.failed(err);
      throw err;
    }
    if (!(r instanceof Promise)) return r;
    return r.then(
      (v) => {
        this.succeeded();
        return v;
      },
      (err) => {
        this.failed(err);
        throw err;
      },
    );
  }

  /** Fire and forget: a settlement that cannot be delivered now is queued for the store's return. */
  settle(spec: SettleSpec): void {
    if (this.failures > 0 && (Date.now() < this.openUntil || this.trial)) {
      this.queue(spec);
      return;
    }
    try {
      const r = this.inner.settle(spec);
      if (r instanceof Promise)
        r.then(
          () => this.succeeded(),
          (err) => {
            this.queue(spec);
            this.failed(err);
          },
        );
    } catch (err) {
      this.queue(spec);
      this.failed(err);
    }
  }

  async usage(queries: UsageQuery[]): Promise<SubjectUsage[]> {
    this.admit();
    try {
      const r = await this.inner.usage(queries);
      this.succeeded();
      return r;
    } catch (err) {
      this.failed(err);
      throw err;
    }
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  /** Throws at once while the circuit is open; lets one trial through after the cool-down. */
  private admit(): void {
    if (this.failures === 0) return;
    if (Date.now() < this.openUntil || this.trial) throw new Error(`limits store unavailable (${this.lastError ?? "failing"})`);
    this.trial = true;
  }

  private failed(err: unknown): void {
    this.failures++;
    this.lastError = err instanceof Error ? err.message.split("\n")[0] : String(err);
    this.openUntil = Date.now() + this.coolDown;
    this.coolDown = Math.min(this.coolDown * 2, MAX_COOL_DOWN_MS);
    this.trial = false;
    this.onChange?.(this.health, err);
  }

  private succeeded(): void {
    if (this.failures === 0) return;
    this.failures = 0;
    this.trial = false;
    this.coolDown = FIRST_COOL_DOWN_MS;
    this.lastError = undefined;
    const replay = this.pending;
    this.pending = [];
    for (const s of replay) this.settle(s);
    this.onChange?.(this.health);
  }

  private queue(spec: SettleSpec): void {
    if (this.pending.length < MAX_PENDING_SETTLEMENTS) this.pending.push(spec);
  }
}

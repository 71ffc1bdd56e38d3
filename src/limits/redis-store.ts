import { Redis } from "ioredis";
import type { LimitsStore, RateState, ReserveResult, ReserveSpec, SettleSpec, SubjectUsage, UsageQuery } from "./limits-store.js";
import { RESERVE_SCRIPT, SETTLE_SCRIPT, USAGE_SCRIPT } from "./redis-scripts.js";

type ScriptedRedis = Redis & {
  ktReserve(prefix: string, spec: string): Promise<string>;
  ktSettle(prefix: string, spec: string): Promise<number>;
  ktUsage(prefix: string, queries: string): Promise<string>;
};

export interface RedisStoreOptions {
  url: string;
  keyPrefix: string;
  /** A command slower than this fails (and opens the store's circuit). */
  timeoutMs: number;
}

/**
 * Limits shared by every replica through one Redis: each reservation and each settlement is one
 * Lua script (one round trip; concurrent requests' calls are pipelined into one write by
 * ioredis's auto-pipelining). While Redis is unreachable, commands fail at once (no offline queue)
 * and the connection is retried in the background.
 */
export class RedisStore implements LimitsStore {
  readonly kind = "redis" as const;
  private readonly redis: ScriptedRedis;

  constructor(private readonly opts: RedisStoreOptions) {
    this.redis = new Redis(opts.url, {
      enableOfflineQueue: false,
      enableAutoPipelining: true,
      maxRetriesPerRequest: 0,
      commandTimeout: opts.timeoutMs,
      connectTimeout: Math.max(opts.timeoutMs, 1000),
      retryStrategy: (times) => Math.min(100 * times, 2000),
      lazyConnect: true,
    }) as ScriptedRedis;
    // Errors surface through the commands that fail; without a listener ioredis would log them.
    this.redis.on("error", () => {});
    this.redis.defineCommand("ktReserve", { numberOfKeys: 0, lua: RESERVE_SCRIPT });
    this.redis.defineCommand("ktSettle", { numberOfKeys: 0, lua: SETTLE_SCRIPT });
    this.redis.defineCommand("ktUsage", { numberOfKeys: 0, lua: USAGE_SCRIPT });
  }

  /** Connects, waiting at most a few timeouts; a Redis that is down at start-up is retried in the background. */
  async open(): Promise<this> {
    await Promise.race([this.redis.connect().catch(() => {}), new Promise((r) => setTimeout(r, this.opts.timeoutMs * 4).unref())]);
    return this;
  }

  get status(): string {
    return this.redis.status;
  }

  async reserve(spec: ReserveSpec): Promise<ReserveResult> {
    this.ready();
    const c = spec.charges.map((x) => {
      const o: Record<string, unknown> = { s: x.subject, r: x.rates, mr: x.maxRequests, ms: x.maxStreams, t: x.tokens };
      if (x.budget) o.b = x.budget;
      return o;
    });
    const raw = await this.redis.ktReserve(this.opts.keyPrefix, JSON.stringify({ id: spec.id, st: spec.stream, l: spec.leaseMs, c }));
    const r = JSON.parse(raw) as { ok: boolean; at: number; rates: unknown; refusal?: ReserveResult["refusal"] };
    const rates: RateState[] = Array.isArray(r.rates)
      ? (r.rates as [string, RateState["name"], number, number, number][]).map(([subject, name, limit, used, resetMs]) => ({ subject, name, limit, used, resetMs }))
      : [];
    return { ok: r.ok, at: r.at, rates, refusal: r.refusal };
  }

  async settle(spec: SettleSpec): Promise<void> {
    this.ready();
    const c = spec.charges.map((x) => {
      const o: Record<string, unknown> = { s: x.subject, r: x.rates };
      if (x.budget) o.b = x.budget;
      return o;
    });
    await this.redis.ktSettle(this.opts.keyPrefix, JSON.stringify({ id: spec.id, at: spec.at, st: spec.stream, c }));
  }

  async usage(queries: UsageQuery[]): Promise<SubjectUsage[]> {
    this.ready();
    const q = queries.map((x) => (x.budget !== undefined ? { s: x.subject, r: x.rates, b: x.budget } : { s: x.subject, r: x.rates }));
    const raw = await this.redis.ktUsage(this.opts.keyPrefix, JSON.stringify(q));
    const list = JSON.parse(raw) as unknown;
    if (!Array.isArray(list)) return [];
    return list.map((e: { s: string; rates: unknown; inFlight: number; streams: number; tokens: number; budget?: [number, number] }) => ({
      subject: e.s,
      rates: Array.isArray(e.rates) ? (e.rates as [SubjectUsage["rates"][number]["name"], number, number][]).map(([name, used, resetMs]) => ({ name, used, resetMs })) : [],
      inFlight: e.inFlight,
      streams: e.streams,
      reservedTokens: e.tokens,
      ...(e.budget ? { budget: { used: e.budget[0], reserved: e.budget[1] } } : {}),
    }));
  }

  async close(): Promise<void> {
    this.redis.disconnect();
  }

  /** Not connected: fail now rather than wait for a timeout. */
  private ready(): void {
    if (this.redis.status !== "ready") throw new Error(`redis is ${this.redis.status}`);
  }
}

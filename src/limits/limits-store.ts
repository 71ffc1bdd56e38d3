/**
 * The contract every limits store keeps (embedded, the --workers primary over IPC, Redis): one
 * atomic reservation per request across all its subjects — either every charge is applied or
 * none is — and one settlement that replaces the reservation by what was really used.
 *
 * Rates are sliding windows of one minute kept in one-second buckets: a bucket counts until 61
 * seconds after its second began, so a window never admits more than its limit in any 60
 * seconds (it may refuse up to one second early). Concurrency is a set of leases (a replica that
 * dies without settling frees its slots when the lease ends). Budgets are two counters per
 * subject and calendar period: tokens charged and tokens reserved.
 */

export type RateName = "rpm" | "tpm" | "itpm" | "otpm";

export const RATE_NAMES: Record<RateName, string> = {
  rpm: "requests_per_minute",
  tpm: "tokens_per_minute",
  itpm: "input_tokens_per_minute",
  otpm: "output_tokens_per_minute",
};

/** What one subject (a key, a team, a target) is charged by one request. */
export interface SubjectCharge {
  /** `key:<id>`, `team:<name>` or `target:<id>`; the store adds its own namespace. */
  subject: string;
  /** [name, limit, amount] per configured rate. */
  rates: [RateName, number, number][];
  /** Bound on this subject's requests in flight; 0 for none (they are still counted). */
  maxRequests: number;
  /** Bound on this subject's streams in flight; 0 for none. */
  maxStreams: number;
  /** [period name, limit, amount, period end (epoch ms)] when the subject has a budget. */
  budget?: [string, number, number, number];
  /** Tokens this request reserves (input estimate + output cap), shown as in flight. */
  tokens: number;
}

export interface ReserveSpec {
  id: string;
  stream: boolean;
  /** How long a slot is held if the reservation is never settled (ms). */
  leaseMs: number;
  charges: SubjectCharge[];
}

/** The state of one rate window after the reservation (or at the refusal). */
export interface RateState {
  subject: string;
  name: RateName;
  limit: number;
  /** Used in the window, this request included when admitted. */
  used: number;
  /** Ms until the oldest bucket still counted leaves the window (0 when the window is empty). */
  resetMs: number;
}

export type Refusal =
  | { kind: "rate"; subject: string; name: RateName; limit: number; retryAfterMs: number; tooLarge: boolean }
  | { kind: "concurrency"; subject: string; streams: boolean; limit: number }
  | { kind: "budget"; subject: string; limit: number; used: number; reserved: number; retryAfterMs: number; tooLarge: boolean };

export interface ReserveResult {
  ok: boolean;
  /** The bucket (epoch second, store clock) the reservation was counted in; settlement adjusts it. */
  at: number;
  rates: RateState[];
  refusal?: Refusal;
}

/** Replaces a reservation by real usage: `delta` per rate (real minus reserved, may be negative). */
export interface SettleSpec {
  id: string;
  at: number;
  stream: boolean;
  charges: {
    subject: string;
    rates: [RateName, number][];
    /** [period name, reserved, charged, period end] */
    budget?: [string, number, number, number];
  }[];
}

/** What GetUsage reports of one subject. */
export interface SubjectUsage {
  subject: string;
  rates: { name: RateName; used: number; resetMs: number }[];
  inFlight: number;
  streams: number;
  reservedTokens: number;
  budget?: { used: number; reserved: number };
}

export interface UsageQuery {
  subject: string;
  rates: RateName[];
  /** Period name of the subject's budget, when it has one. */
  budget?: string;
}

export interface LimitsStore {
  readonly kind: "embedded" | "redis";
  reserve(spec: ReserveSpec): ReserveResult | Promise<ReserveResult>;
  settle(spec: SettleSpec): void | Promise<void>;
  usage(queries: UsageQuery[]): SubjectUsage[] | Promise<SubjectUsage[]>;
  close(): Promise<void>;
}

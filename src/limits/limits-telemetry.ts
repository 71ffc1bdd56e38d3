import { CounterCells, log, metrics } from "../telemetry/index.js";
import type { GuardedStore, StoreHealth } from "./guarded-store.js";

/*
 * What usage limits tell operators: tokens reserved and charged by key, refusals by key and the
 * limit that refused, requests decided by the failure mode while the store was unreachable, and
 * (read at scrape time) whether the store answers and how many settlements wait for it. Labels
 * are key ids and limit names from the config.
 */

const reserved = metrics.counter({
  name: "kt_limits_tokens_reserved_total",
  help: "Tokens reserved before upstream calls (prompt estimate plus max_tokens), by key id",
  labelNames: ["key_id"],
});
const charged = metrics.counter({
  name: "kt_limits_tokens_charged_total",
  help: "Tokens charged at settlement (the upstream's usage, or what a cancelled stream generated), by key id",
  labelNames: ["key_id"],
});
const rejected = metrics.counter({
  name: "kt_limits_rejected_total",
  help: "Requests refused by a usage limit, by key id, the subject that refused (key, team, target) and the limit",
  labelNames: ["key_id", "subject", "limit"],
});
const storeFailures = metrics.counter({
  name: "kt_limits_store_failures_total",
  help: "Requests that could not reach the limits store, by store and the failure mode applied (deny: refused 503; allow: served unmetered)",
  labelNames: ["store", "mode"],
});

let watched: GuardedStore | undefined;
metrics.gauge({
  name: "kt_limits_store_up",
  help: "1 while the limits store answers (its circuit is closed), 0 while it is failing; under --workers, the number of workers that reach it",
  collect() {
    this.set(watched ? (watched.health.state === "closed" ? 1 : 0) : 1);
  },
});
metrics.gauge({
  name: "kt_limits_settlements_pending",
  help: "Settlements waiting for the limits store to answer again (replayed when it does)",
  collect() {
    this.set(watched?.health.pendingSettlements ?? 0);
  },
});

export function watchStore(store: GuardedStore): void {
  watched = store;
}

// Bumped twice per request with token limits: through pre-bound cells (see metric-cells.ts).
const reservedCells = new CounterCells(reserved, ["key_id"]);
const chargedCells = new CounterCells(charged, ["key_id"]);

export function noteReserved(keyId: string, tokens: number): void {
  if (tokens > 0 && !reservedCells.inc(keyId, tokens)) reservedCells.first(keyId, { key_id: keyId }, tokens);
}

export function noteCharged(keyId: string, tokens: number): void {
  if (tokens > 0 && !chargedCells.inc(keyId, tokens)) chargedCells.first(keyId, { key_id: keyId }, tokens);
}

export function noteRejected(keyId: string, subject: string, limit: string): void {
  rejected.inc({ key_id: keyId, subject, limit });
}

export function noteStoreFailure(store: string, mode: string): void {
  storeFailures.inc({ store, mode });
}

/** Logged once per change of state, not per request: an outage is one warning and one recovery line. */
export function logStoreChange(store: string, h: StoreHealth, err: unknown): void {
  if (h.state === "closed") log.info({ store, pending_settlements: h.pendingSettlements }, "limits store answers again; pending settlements replayed");
  else if (h.failures === 1) log.warn({ store, error: err instanceof Error ? err.message.split("\n")[0] : String(err) }, "limits store unreachable: on_store_failure applies until it answers");
}

import type { GatewayError } from "../errors/index.js";
import { CounterCells, KeyJoin, log, metrics } from "../telemetry/index.js";
import type { ProbeResult, TargetRegistry, TargetState } from "./target-registry.js";

/*
 * What routing tells operators: every upstream attempt by result, circuit transitions and probe
 * results (counted and logged as warnings), and, read at scrape time from the registries in
 * force, each target's circuit state, health and requests in flight. Labels are target ids from
 * the config.
 */

const live = new Set<TargetRegistry>();

export function watchRegistry(r: TargetRegistry): void {
  live.add(r);
}

export function unwatchRegistry(r: TargetRegistry): void {
  live.delete(r);
}

const attempts = metrics.counter({
  name: "kt_upstream_attempts_total",
  help: "Calls to a target, by result: ok, target_fault (counts against its circuit; may fail over), rejected (the target refused the request: 4xx), cancelled, other",
  labelNames: ["target", "result"],
});
// Every request counts an attempt: through a pre-bound cell, not prom-client's label hashing.
const attemptCells = new CounterCells(attempts, ["target", "result"]);
const attemptKeys = new KeyJoin();
const transitions = metrics.counter({
  name: "kt_circuit_transitions_total",
  help: "Circuit breaker transitions by target and new state (closed, open, half_open)",
  labelNames: ["target", "to"],
});
const probeFailures = metrics.counter({
  name: "kt_health_probe_failures_total",
  help: "Failed active health probes (health_probe: true) by target",
  labelNames: ["target"],
});

const STATES = ["closed", "open", "half_open"] as const;

metrics.gauge({
  name: "kt_target_circuit_state",
  help: "1 for the state each target's circuit is in (closed, open, half_open); under --workers, the number of workers that see it so",
  labelNames: ["target", "state"],
  collect() {
    this.reset();
    for (const r of live)
      for (const s of r.states) {
        // An open circuit past its cool-down takes its next request as the half-open trial.
        const state = s.circuit.state === "open" && Date.now() >= s.circuit.openUntil ? "half_open" : s.circuit.state;
        for (const st of STATES) this.set({ target: s.target.id, state: st }, st === state ? 1 : 0);
      }
  },
});
metrics.gauge({
  name: "kt_target_healthy",
  help: "1 when the target passes its probe (if probed) and its circuit is not open; under --workers, the number of workers that see it healthy",
  labelNames: ["target"],
  collect() {
    this.reset();
    for (const r of live) for (const s of r.states) this.set({ target: s.target.id }, s.healthy ? 1 : 0);
  },
});
metrics.gauge({
  name: "kt_target_in_flight",
  help: "Upstream calls in flight per target (streams included)",
  labelNames: ["target"],
  collect() {
    this.reset();
    for (const r of live) for (const s of r.states) this.inc({ target: s.target.id }, s.inFlight);
  },
});

export function noteAttempt(s: TargetState, error: GatewayError | undefined): void {
  let result: string;
  if (!error) result = "ok";
  else if (error.code === "KT_ERR_UPSTREAM_REJECTED") result = "rejected";
  else if (error.code === "KT_ERR_CANCELLED") result = "cancelled";
  else if (error.code.startsWith("KT_ERR_UPSTREAM")) result = "target_fault";
  else result = "other";
  // The stored key for this pair (KeyJoin): a key concatenated per attempt is a new string that
  // the cell lookup hashes and compares character by character through the runtime.
  const key = attemptKeys.key(s.target.id, result);
  if (!attemptCells.inc(key)) attemptCells.first(key, { target: s.target.id, result });
}

export function noteCircuit(s: TargetState): void {
  const from = s.seenCircuit;
  const to = s.circuit.state;
  s.seenCircuit = to;
  transitions.inc({ target: s.target.id, to });
  const fields = { target: s.target.id, from, to, consecutive_failures: s.circuit.consecutiveFailures, last_error: s.circuit.lastError?.code };
  if (to === "open") log.warn({ ...fields, retry_in_ms: Math.max(0, Math.round(s.circuit.openUntil - Date.now())) }, `circuit opened for target ${s.target.id}`);
  else if (to === "closed") log.warn(fields, `circuit closed for target ${s.target.id}: it answers again`);
  else log.warn(fields, `circuit half-open for target ${s.target.id}: one trial request`);
}

export function noteProbe(s: TargetState, now: ProbeResult, was: ProbeResult | undefined): void {
  if (!now.ok) probeFailures.inc({ target: s.target.id });
  // Warn on the change, not on every failed probe of a target that stays down.
  if (!now.ok && (was === undefined || was.ok)) log.warn({ target: s.target.id, error: now.error }, `health probe failed for target ${s.target.id}`);
  else if (now.ok && was && !was.ok) log.warn({ target: s.target.id }, `health probe recovered for target ${s.target.id}`);
  else if (!now.ok) log.debug({ target: s.target.id, error: now.error }, "health probe still failing");
}

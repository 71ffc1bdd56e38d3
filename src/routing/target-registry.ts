import type { Target } from "../config/index.js";
import { GatewayError } from "../errors/index.js";
import { hashedPlaceholder, type Operation } from "../wire/index.js";
import { UpstreamClient } from "../upstream/index.js";
import { CircuitBreaker, DEFAULT_CIRCUIT, type CircuitOptions, type CircuitState } from "./circuit-breaker.js";
import { noteAttempt, noteCircuit, noteProbe, watchRegistry, unwatchRegistry } from "./routing-telemetry.js";

export interface ProbeResult {
  at: Date;
  ok: boolean;
  /** Why the probe failed; never holds a secret. */
  error: string | undefined;
}

/** One configured target and what the gateway knows about its health. */
export class TargetState {
  readonly client: UpstreamClient;
  readonly circuit: CircuitBreaker;
  /** Result of active probing; true for targets without `health_probe`. */
  probeOk = true;
  lastProbe: ProbeResult | undefined;
  inFlight = 0;
  /** The circuit state last logged and counted (transitions are noticed where they can happen). */
  seenCircuit: CircuitState = "closed";

  /**
   * Each principal's own view of the target: its failures open its own circuit at the threshold
   * (so a client whose calls hang stops sending them), while the shared circuit needs a quorum.
   */
  private readonly personal = new Map<string, CircuitBreaker>();

  constructor(
    readonly target: Target,
    private readonly circuitOptions: CircuitOptions = DEFAULT_CIRCUIT,
    connections?: number,
  ) {
    this.client = new UpstreamClient(target, { connections });
    this.circuit = new CircuitBreaker(circuitOptions);
  }

  /** Healthy: the probe (if any) passes and the circuit is not open. */
  get healthy(): boolean {
    return this.probeOk && this.circuit.state !== "open";
  }

  /** May take a request of `principal` now: healthy, and not a half-open circuit whose trial is out. */
  available(now: number, principal?: string): boolean {
    if (!this.probeOk || !this.circuit.allows(now)) return false;
    const own = principal === undefined ? undefined : this.personal.get(principal);
    return own === undefined || own.allows(now);
  }

  /**
   * The principal's own circuit (created on its first dispatch; keys are configured, so bounded).
   * None when only one principal can exist: the shared circuit is then already its own.
   */
  own(principal: string | undefined): CircuitBreaker | undefined {
    if (principal === undefined || this.circuitOptions.quorum < 2) return undefined;
    let c = this.personal.get(principal);
    if (!c) {
      c = new CircuitBreaker({ ...this.circuitOptions, quorum: 1 });
      this.personal.set(principal, c);
    }
    return c;
  }
}

export interface ServedModel {
  /** The name clients use: the provider string's model (or `model:` for bare `openllm`). */
  id: string;
  kind: Target["kind"];
  targets: string[];
}

const PROBE_TIMEOUT_MS = 5_000;

/**
 * Errors that say something about the target's health rather than the client's request: they
 * count against its circuit, and (before any byte reached the client) another target may be tried.
 */
const TARGET_FAULTS: ReadonlySet<string> = new Set([
  "KT_ERR_UPSTREAM_FAILED",
  "KT_ERR_UPSTREAM_PROTOCOL",
  "KT_ERR_UPSTREAM_CONNECT",
  "KT_ERR_UPSTREAM_CONNECT_TIMEOUT",
  "KT_ERR_UPSTREAM_TIMEOUT",
  "KT_ERR_UPSTREAM_IDLE_TIMEOUT",
]);

/**
 * A client's `model` as it may be recorded or echoed: a configured name as it is; anything else
 * (arbitrary client text of any length) as a bounded placeholder with a hash, so span names,
 * attributes and audit records neither take a client's text verbatim nor grow without bound.
 */
export function recordedModelName(registry: TargetRegistry, model: string): string {
  if (registry.serves(model)) return model;
  return hashedPlaceholder("unknown-model", model);
}

/** Faults no request content can cause: they open the shared circuit without a quorum of principals. */
const CONNECTION_FAULTS: ReadonlySet<string> = new Set(["KT_ERR_UPSTREAM_CONNECT", "KT_ERR_UPSTREAM_CONNECT_TIMEOUT"]);

export function isTargetFault(e: GatewayError): boolean {
  return TARGET_FAULTS.has(e.code);
}

/**
 * Resolves a client's `model` to the group of targets that serve it and picks one by weight among
 * the available ones. A model may be named by target id, provider string or bare model name.
 */
export class TargetRegistry {
  readonly states: TargetState[];
  private readonly byName = new Map<string, TargetState[]>();
  private probeTimer: NodeJS.Timeout | undefined;

  /**
   * `opts.circuit` overrides the passive-health thresholds (failures to open, cool-down); the
   * defaults (DEFAULT_CIRCUIT) suit production, tests shorten the cool-down. `opts.connections`
   * is each target's pool width (default 2048): at least the streams the gateway admits.
   */
  constructor(targets: Target[], opts: { circuit?: Partial<CircuitOptions>; principals?: number; connections?: number } = {}) {
    // Two principals must see a target fail before its circuit opens for all, unless there is only one.
    const quorum = Math.min(2, Math.max(1, opts.principals ?? 2));
    const circuit: CircuitOptions = { ...DEFAULT_CIRCUIT, quorum, ...opts.circuit };
    this.states = targets.map((target) => new TargetState(target, circuit, opts.connections));
    watchRegistry(this);
    for (const s of this.states) {
      const t = s.target;
      for (const name of new Set([t.id, t.provider, t.providerModel, t.upstreamModel])) {
        if (name === undefined) continue;
        const list = this.byName.get(name) ?? [];
        list.push(s);
        this.byName.set(name, list);
      }
    }
  }

  /** The targets that may serve `model` for `op`; throws a 404/400 GatewayError when none do. */
  resolve(model: string, op: Operation): TargetState[] {
    const all = this.byName.get(model);
    // Named as its record names it: the client's text is not echoed (src/wire/client-text.ts).
    if (!all) throw new GatewayError("KT_ERR_UNKNOWN_MODEL", `The model \`${hashedPlaceholder("unknown-model", model)}\` does not exist.`, { param: "model" });
    const group = all.filter((s) => s.target.kind === "any" || s.target.kind === op);
    if (group.length === 0) {
      const other = op === "chat" ? "/v1/completions" : "/v1/chat/completions";
      throw new GatewayError("KT_ERR_INVALID_REQUEST", `The model \`${model}\` is not served for ${op === "chat" ? "chat completions" : "completions"}; use ${other}.`, {
        param: "model",
      });
    }
    return group;
  }

  /** Whether some target answers to `model` (a target id, provider string or model name). */
  serves(model: string): boolean {
    return this.byName.has(model);
  }

  /** Weighted random choice among available targets; `exclude` holds targets already tried. */
  pick(group: TargetState[], exclude?: ReadonlySet<TargetState>, principal?: string): TargetState {
    const now = Date.now();
    let total = 0;
    const candidates: TargetState[] = [];
    for (const s of group) {
      if (exclude?.has(s)) continue;
      const ok = s.available(now, principal);
      // available() moves an expired open circuit to half-open.
      if (s.circuit.state !== s.seenCircuit) noteCircuit(s);
      if (!ok) continue;
      candidates.push(s);
      total += s.target.weight;
    }
    if (candidates.length === 0) {
      throw new GatewayError("KT_ERR_NO_HEALTHY_TARGET", `no healthy target serves \`${group[0]?.target.providerModel ?? group[0]?.target.id}\` right now`, {
        retryAfter: 5,
      });
    }
    let chosen = candidates[candidates.length - 1]!;
    if (total === 0) {
      // Every candidate has weight 0 (standbys): share evenly rather than refuse.
      chosen = candidates[Math.floor(Math.random() * candidates.length)]!;
    } else {
      let r = Math.random() * total;
      for (const s of candidates) {
        r -= s.target.weight;
        if (r < 0) {
          chosen = s;
          break;
        }
      }
    }
    chosen.circuit.onDispatch();
    chosen.own(principal)?.onDispatch();
    chosen.inFlight++;
    return chosen;
  }

  /** Whether another target of the group could take a retry. */
  hasAlternative(group: TargetState[], tried: ReadonlySet<TargetState>): boolean {
    const now = Date.now();
    return group.some((s) => !tried.has(s) && s.probeOk && (s.circuit.state !== "open" || now >= s.circuit.openUntil));
  }

  /**
   * Ends a dispatch from pick(): feeds its outcome to the target's circuit breaker and to the
   * principal's own one, so faults are attributed to whoever saw them.
   */
  report(s: TargetState, error: GatewayError | undefined, principal?: string): void {
    s.inFlight--;
    const own = s.own(principal);
    if (!error || error.code === "KT_ERR_UPSTREAM_REJECTED") {
      // An upstream 4xx: it answered; the request was at fault.
      s.circuit.onSuccess();
      own?.onSuccess();
    } else if (isTargetFault(error)) {
      const now = Date.now();
      // A refused or unaccepted connection is the target's alone, whoever's request met it.
      const byRequest = !CONNECTION_FAULTS.has(error.code);
      s.circuit.onFailure(error.code, error.message, now, byRequest ? (principal ?? "") : undefined);
      own?.onFailure(error.code, error.message, now, principal);
    } else {
      s.circuit.onNeutral();
      own?.onNeutral();
    }
    noteAttempt(s, error);
    if (s.circuit.state !== s.seenCircuit) noteCircuit(s);
  }

  get(id: string): TargetState | undefined {
    return this.states.find((s) => s.target.id === id);
  }

  models(): ServedModel[] {
    const out = new Map<string, ServedModel>();
    for (const { target: t } of this.states) {
      const id = t.providerModel ?? t.upstreamModel;
      const m = out.get(id) ?? { id, kind: t.kind, targets: [] };
      m.targets.push(t.id);
      out.set(id, m);
    }
    return [...out.values()];
  }

  /** Probes every `health_probe` target once now, then every `intervalMs`. */
  async startProbes(intervalMs = 10_000): Promise<void> {
    const probed = this.states.filter((s) => s.target.healthProbe);
    if (probed.length === 0) return;
    await Promise.all(probed.map((s) => this.probe(s)));
    this.probeTimer = setInterval(() => void Promise.all(probed.map((s) => this.probe(s))), intervalMs);
    this.probeTimer.unref();
  }

  async probe(s: TargetState): Promise<ProbeResult> {
    let result: ProbeResult;
    try {
      await s.client.probe(PROBE_TIMEOUT_MS);
      result = { at: new Date(), ok: true, error: undefined };
    } catch (err) {
      const e = err as { code?: string; message?: string };
      result = { at: new Date(), ok: false, error: e.code ?? e.message ?? "probe failed" };
    }
    const was = s.lastProbe;
    s.lastProbe = result;
    s.probeOk = result.ok;
    noteProbe(s, result, was);
    return result;
  }

  async close(): Promise<void> {
    unwatchRegistry(this);
    if (this.probeTimer) clearInterval(this.probeTimer);
    await Promise.all(this.states.map((s) => s.client.close().catch(() => s.client.destroy())));
  }
}

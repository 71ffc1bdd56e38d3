import type { Target } from "../config/index.js";
import { GatewayError } from "../errors/index.js";
import type { Operation } from "../chat/types.js";
import { UpstreamClient } from "../upstream/index.js";

export interface ProbeResult {
  at: Date;
  ok: boolean;
  /** Why the probe failed; never holds a secret. */
  error: string | undefined;
}

/** One configured target and what the gateway knows about its health. */
export interface TargetState {
  readonly target: Target;
  readonly client: UpstreamClient;
  healthy: boolean;
  lastProbe: ProbeResult | undefined;
}

export interface ServedModel {
  /** The name clients use: the provider string's model (or `model:` for bare `openllm`). */
  id: string;
  kind: Target["kind"];
  targets: string[];
}

const PROBE_TIMEOUT_MS = 5_000;

/**
 * Resolves a client's `model` to the group of targets that serve it and picks one by weight among
 * the healthy ones. A model may be named by target id, provider string or bare model name.
 */
export class TargetRegistry {
  readonly states: TargetState[];
  private readonly byName = new Map<string, TargetState[]>();
  private probeTimer: NodeJS.Timeout | undefined;

  constructor(targets: Target[]) {
    this.states = targets.map((target) => ({ target, client: new UpstreamClient(target), healthy: true, lastProbe: undefined }));
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
    if (!all) throw new GatewayError("KT_ERR_UNKNOWN_MODEL", `The model \`${model}\` does not exist.`, { param: "model" });
    const group = all.filter((s) => s.target.kind === "any" || s.target.kind === op);
    if (group.length === 0) {
      const other = op === "chat" ? "/v1/completions" : "/v1/chat/completions";
      throw new GatewayError("KT_ERR_INVALID_REQUEST", `The model \`${model}\` is not served for ${op === "chat" ? "chat completions" : "completions"}; use ${other}.`, {
        param: "model",
      });
    }
    return group;
  }

  /** Weighted random choice among healthy targets; `exclude` holds targets already tried. */
  pick(group: TargetState[], exclude?: ReadonlySet<TargetState>): TargetState {
    let total = 0;
    let healthy = 0;
    for (const s of group) {
      if (!s.healthy || exclude?.has(s)) continue;
      healthy++;
      total += s.target.weight;
    }
    if (healthy === 0) {
      throw new GatewayError("KT_ERR_NO_HEALTHY_TARGET", `no healthy target serves \`${group[0]?.target.providerModel ?? group[0]?.target.id}\` right now`, {
        retryAfter: 5,
      });
    }
    if (total === 0) {
      // Every candidate has weight 0 (standbys): share evenly rather than refuse.
      const candidates = group.filter((s) => s.healthy && !exclude?.has(s));
      return candidates[Math.floor(Math.random() * candidates.length)]!;
    }
    let r = Math.random() * total;
    for (const s of group) {
      if (!s.healthy || exclude?.has(s)) continue;
      r -= s.target.weight;
      if (r < 0) return s;
    }
    return group.find((s) => s.healthy && !exclude?.has(s))!;
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
    s.lastProbe = result;
    s.healthy = result.ok;
    return result;
  }

  async close(): Promise<void> {
    if (this.probeTimer) clearInterval(this.probeTimer);
    await Promise.all(this.states.map((s) => s.client.close().catch(() => s.client.destroy())));
  }
}

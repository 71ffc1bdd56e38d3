import cluster, { type Worker } from "node:cluster";
import { EmbeddedStore } from "./embedded-store.js";
import type { LimitsStore, ReserveResult, ReserveSpec, SettleSpec, SubjectUsage, UsageQuery } from "./limits-store.js";

/**
 * The embedded store under `--workers`: the primary process holds the one EmbeddedStore and each
 * worker asks it over the cluster IPC channel, so a key's limits hold for the machine rather than
 * per worker. One message each way per call (about 30-60 µs on the same host).
 */
interface Call {
  kt_limits: { n: number; op: "reserve" | "settle" | "usage"; arg: unknown };
}
interface Reply {
  kt_limits_reply: { n: number; ok: boolean; value?: unknown; error?: string };
}

const CALL_TIMEOUT_MS = 2_000;

/** In the primary: answer the workers' limits calls from one embedded store. */
export function serveLimitsToWorkers(store: EmbeddedStore = new EmbeddedStore()): () => void {
  const onMessage = (worker: Worker, msg: unknown) => {
    const call = (msg as Call | null)?.kt_limits;
    if (!call || typeof call.n !== "number") return;
    let reply: Reply;
    try {
      const value = call.op === "reserve" ? store.reserve(call.arg as ReserveSpec) : call.op === "settle" ? store.settle(call.arg as SettleSpec) : store.usage(call.arg as UsageQuery[]);
      reply = { kt_limits_reply: { n: call.n, ok: true, value } };
    } catch (err) {
      reply = { kt_limits_reply: { n: call.n, ok: false, error: (err as Error).message } };
    }
    if (worker.isConnected()) worker.send(reply);
  };
  cluster.on("message", onMessage);
  return () => cluster.off("message", onMessage);
}

/** Whether this process is a cluster worker whose primary serves the limits. */
export function isClusterWorker(): boolean {
  return cluster.isWorker && typeof process.send === "function" && process.env.KT_WORKER_ID !== undefined;
}

let nextCall = 1;
const waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
let listening = false;

function call(op: Call["kt_limits"]["op"], arg: unknown): Promise<unknown> {
  if (!listening) {
    listening = true;
    process.on("message", (msg: unknown) => {
      const r = (msg as Reply | null)?.kt_limits_reply;
      if (!r) return;
      const w = waiting.get(r.n);
      if (!w) return;
      waiting.delete(r.n);
      clearTimeout(w.timer);
      if (r.ok) w.resolve(r.value);
      else w.reject(new Error(r.error ?? "limits call failed in the primary"));
    });
  }
  const n = nextCall++;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      waiting.delete(n);
      reject(new Error("the primary did not answer a limits call"));
    }, CALL_TIMEOUT_MS);
    timer.unref();
    waiting.set(n, { resolve, reject, timer });
    process.send!({ kt_limits: { n, op, arg } } satisfies Call, undefined, undefined, (err) => {
      if (!err) return;
      waiting.delete(n);
      clearTimeout(timer);
      reject(err);
    });
  });
}

export class IpcStore implements LimitsStore {
  readonly kind = "embedded" as const;

  reserve(spec: ReserveSpec): Promise<ReserveResult> {
    return call("reserve", spec) as Promise<ReserveResult>;
  }

  settle(spec: SettleSpec): Promise<void> {
    return call("settle", spec).then(() => undefined);
  }

  usage(queries: UsageQuery[]): Promise<SubjectUsage[]> {
    return call("usage", queries) as Promise<SubjectUsage[]>;
  }

  async close(): Promise<void> {}
}

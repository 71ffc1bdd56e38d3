import cluster from "node:cluster";
import { AggregatorRegistry, collectDefaultMetrics, Counter, Registry, type PrometheusContentType } from "prom-client";
import { log } from "./logger.js";
import { registry } from "./metrics-registry.js";

/*
 * `--workers N`: each worker keeps its own registry; one scrape must see them all. A scrape that
 * lands on a worker (the port is shared) asks the primary, which asks every worker for its
 * registry (prom-client's AggregatorRegistry, over the cluster IPC channel), sums counters and
 * histograms, combines gauges by each one's `aggregator`, and answers. The primary's own
 * instruments (worker restarts) are appended.
 */

const ASK = "kt:metrics?";
const ANSWER = "kt:metrics";
const TIMEOUT_MS = 5_000;

export interface Exposition {
  contentType: string;
  text: string;
}

let defaultsOn = false;

/** Process metrics (CPU, memory, event-loop delay, GC; prom-client's defaults), once per process. */
export function collectProcessMetrics(): void {
  if (defaultsOn) return;
  defaultsOn = true;
  collectDefaultMetrics({ register: registry });
}

let asked = 0;
const pending = new Map<number, (e: Exposition | Error) => void>();
let workerReady = false;

/**
 * The exposition a scrape should see from this process: the registry itself, or under
 * `--workers` (in a worker) every worker's, aggregated by the primary.
 */
export function scrapeMetrics(): Promise<Exposition> {
  return scrapeRaw().then(spellNaN);
}

/**
 * prom-client writes a NaN sample (the event-loop lag mean before its first sample, a histogram's
 * quantile with no data) as `Nan`, which Prometheus' own parser happens to accept but the
 * exposition format spells `NaN`; strict parsers reject it.
 */
function spellNaN(e: Exposition): Exposition {
  return e.text.includes(" Nan") ? { ...e, text: e.text.replace(/ Nan$/gm, " NaN") } : e;
}

function scrapeRaw(): Promise<Exposition> {
  if (!cluster.isWorker || !process.send) return registry.metrics().then((text) => ({ contentType: registry.contentType, text }));
  joinClusterMetrics();
  const id = ++asked;
  return new Promise<Exposition>((resolve, reject) => {
    const timer = setTimeout(() => {
      pending.delete(id);
      reject(new Error("the primary did not answer the metrics request in time"));
    }, TIMEOUT_MS);
    pending.set(id, (r) => {
      clearTimeout(timer);
      pending.delete(id);
      if (r instanceof Error) reject(r);
      else resolve(r);
    });
    process.send!({ type: ASK, id });
  });
}

/** In a worker: answer the primary's registry requests, and take its answers to our scrapes. */
export function joinClusterMetrics(): void {
  if (workerReady || !cluster.isWorker) return;
  workerReady = true;
  // Constructing one installs prom-client's worker-side listener; it then serves our registry.
  new AggregatorRegistry();
  AggregatorRegistry.setRegistries([registry]);
  process.on("message", (m: { type?: string; id?: number; text?: string; contentType?: string; error?: string }) => {
    if (m?.type !== ANSWER || typeof m.id !== "number") return;
    const done = pending.get(m.id);
    if (!done) return;
    done(m.error !== undefined ? new Error(m.error) : { contentType: m.contentType ?? registry.contentType, text: m.text ?? "" });
  });
}

let primaryAggregator: AggregatorRegistry<PrometheusContentType> | undefined;
/** The primary's own instruments, apart from the workers' (whose names they must not share). */
const primaryRegistry = new Registry();
const restarts = new Counter({
  name: "kt_worker_restarts_total",
  help: "Workers that exited unexpectedly and were started again (--workers)",
  registers: [primaryRegistry],
});

/** In the primary: a worker exited unexpectedly and is being replaced. */
export function noteWorkerRestart(): void {
  restarts.inc();
}

/** In the primary: every worker's registry aggregated, with the primary's own instruments appended. */
export async function clusterExposition(): Promise<Exposition> {
  primaryAggregator ??= new AggregatorRegistry();
  const [workers, own] = await Promise.all([primaryAggregator.clusterMetrics(), primaryRegistry.metrics()]);
  return spellNaN({ contentType: registry.contentType, text: `${workers.trimEnd()}\n${own}` });
}

/** In the primary: answer workers that were scraped on the shared port. */
export function serveClusterMetrics(): void {
  cluster.on("message", (worker, m: { type?: string; id?: number }) => {
    if (m?.type !== ASK || typeof m.id !== "number") return;
    clusterExposition().then(
      (e) => worker.isConnected() && worker.send({ type: ANSWER, id: m.id, text: e.text, contentType: e.contentType }),
      (err: Error) => {
        log.warn({ error: err.message }, "cluster metrics aggregation failed");
        if (worker.isConnected()) worker.send({ type: ANSWER, id: m.id, error: err.message });
      },
    );
  });
}

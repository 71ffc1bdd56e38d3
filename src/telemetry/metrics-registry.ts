import { Counter, Gauge, Histogram, Registry, type Aggregator } from "prom-client";

/**
 * The process's one metrics registry (prom-client). Every part of the gateway registers its own
 * instruments here through `metrics.*`; `/metrics` and the OTLP export read the same registry.
 */
export const registry = new Registry();

interface Common<L extends string> {
  /** Prometheus name: `kt_<area>_<what>[_<unit>]`, counters end in `_total`. */
  name: string;
  help: string;
  /**
   * Label names. Every value must come from a bounded set: config ids (target, key id, policy,
   * rule), enums (outcome, front door), finding types. Never a client's raw `model` string, a path
   * or an error message.
   */
  labelNames?: readonly L[];
  /**
   * Name when exported over OTLP, where it differs (the OTel GenAI names: `gen_ai.client.token.usage`).
   * Default: the Prometheus name.
   */
  otelName?: string;
  /** Unit for OTLP (`s`, `By`, `{token}`); Prometheus carries it in the name. */
  unit?: string;
}

interface GaugeOptions<L extends string> extends Common<L> {
  /**
   * How `--workers` aggregation combines the workers' values (the primary serves one scrape):
   * `sum` (default; e.g. in-flight streams, or how many workers see a circuit open), `max`, `min`.
   */
  aggregator?: Aggregator;
  /** Runs at each scrape/export, to set the gauge from live state instead of on every change. */
  collect?: (this: Gauge<L>) => void;
}

interface HistogramOptions<L extends string> extends Common<L> {
  /** Upper bounds (seconds for durations). Default: DURATION_BUCKETS. */
  buckets?: number[];
}

/** Seconds; fine at the bottom, where a gateway's own overhead lives, and up to minutes for long streams. */
export const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

/** OTel GenAI's advised buckets for token counts. */
export const TOKEN_BUCKETS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864];

const otelNames = new Map<string, { name: string; unit?: string }>();

function existing<T>(name: string, type: abstract new (...args: never[]) => unknown): T | undefined {
  const m = registry.getSingleMetric(name);
  if (!m) return undefined;
  if (!(m instanceof type)) throw new Error(`metric ${name} is already registered as another type`);
  return m as T;
}

function remember(o: Common<string>): void {
  if (o.otelName || o.unit) otelNames.set(o.name, { name: o.otelName ?? o.name, unit: o.unit });
}

/**
 * Registers (or returns the already registered) instrument of that name. Registering twice with
 * the same name is allowed so a module may register at load and tests may start many gateways in
 * one process; the first registration's options win.
 */
export const metrics = {
  counter<L extends string = never>(o: Common<L>): Counter<L> {
    const found = existing<Counter<L>>(o.name, Counter);
    if (found) return found;
    remember(o);
    return new Counter<L>({ name: o.name, help: o.help, labelNames: o.labelNames ?? [], registers: [registry] });
  },
  gauge<L extends string = never>(o: GaugeOptions<L>): Gauge<L> {
    const found = existing<Gauge<L>>(o.name, Gauge);
    if (found) return found;
    remember(o);
    return new Gauge<L>({
      name: o.name,
      help: o.help,
      labelNames: o.labelNames ?? [],
      registers: [registry],
      aggregator: o.aggregator ?? "sum",
      ...(o.collect ? { collect: o.collect } : {}),
    });
  },
  histogram<L extends string = never>(o: HistogramOptions<L>): Histogram<L> {
    const found = existing<Histogram<L>>(o.name, Histogram);
    if (found) return found;
    remember(o);
    return new Histogram<L>({ name: o.name, help: o.help, labelNames: o.labelNames ?? [], buckets: o.buckets ?? DURATION_BUCKETS, registers: [registry] });
  },
  /** The Prometheus text exposition of this process's registry. */
  text(): Promise<string> {
    return registry.metrics();
  },
  contentType: registry.contentType as string,
  /** The OTLP name and unit of a Prometheus name (for the OTLP bridge). */
  otelNameOf(name: string): { name: string; unit?: string } {
    return otelNames.get(name) ?? { name };
  },
};

export type { Counter, Gauge, Histogram };

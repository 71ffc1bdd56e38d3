import type { Counter, Histogram } from "prom-client";

/**
 * Pre-bound series for the hot path. prom-client, on every `inc`/`observe` with labels, validates
 * the label object, hashes it into a string, converts the observed value's bucket bound to a
 * property name and allocates its own wrapper objects; and each call site first built (often
 * spread) that label object. A cell set resolves each distinct combination of label values once,
 * through prom-client's API, and from then on adds to prom-client's own entry for it: one string
 * key and one map lookup per update. What the registry holds, and so /metrics, the --workers
 * aggregation and the OTLP bridge, is exactly what the API would have produced (pinned by
 * test/telemetry/metric-cells.test.ts against prom-client's own updates).
 *
 * The key is the label values in `names` order joined by SEP. A cell is kept only when the key is
 * exactly that join of the labels given with the first update, and no value holds SEP: a label
 * set that cannot be keyed unambiguously takes prom-client's path every time, so no two label sets
 * ever share a cell.
 */
export const SEP = "\u0001";

type Labels = Record<string, string>;

interface KeyNode {
  key: string;
  next: Map<string, KeyNode> | undefined;
}

/** Distinct keys a KeyJoin keeps before it starts over (label sets come from the config: far fewer). */
const MAX_KEYS = 10_000;

/**
 * Label values joined by SEP, one string per distinct combination, found through a map per value.
 * A key built per update (`a + SEP + b + …`) is a new string each time: the cell lookup then copies
 * it flat and hashes every character, and compares it character by character with the stored key.
 * The values themselves (config ids, literals, property names) keep their hash, so a lookup per
 * value costs no hashing, and the key found is the stored one.
 */
export class KeyJoin {
  private root = new Map<string, KeyNode>();
  private count = 0;

  private step(level: Map<string, KeyNode>, value: string, prefix: string | undefined): KeyNode {
    let n = level.get(value);
    if (n === undefined) {
      n = { key: prefix === undefined ? value : prefix + SEP + value, next: undefined };
      level.set(value, n);
      this.count++;
    }
    return n;
  }

  /** `a`, then SEP and each further value given, joined. */
  key(a: string, b?: string, c?: string, d?: string, e?: string): string {
    if (this.count > MAX_KEYS) {
      this.root = new Map();
      this.count = 0;
    }
    let n = this.step(this.root, a, undefined);
    if (b === undefined) return n.key;
    n = this.step((n.next ??= new Map()), b, n.key);
    if (c === undefined) return n.key;
    n = this.step((n.next ??= new Map()), c, n.key);
    if (d === undefined) return n.key;
    n = this.step((n.next ??= new Map()), d, n.key);
    if (e === undefined) return n.key;
    return this.step((n.next ??= new Map()), e, n.key).key;
  }
}

/**
 * One call site's KeyJoin keys, with the values of the last one: a request whose values are those
 * of the request before it (config ids and literals, the same strings each time) gets the same
 * key by comparing them, without a map lookup per value (four or five per key, a dozen and more
 * per request; issue #20). Any other values go through the KeyJoin, and are remembered instead.
 * The key is the KeyJoin's for the values either way (a KeyJoin that started over gives a new
 * string of the same text, which finds the same cell).
 */
export class LastKey {
  private a: string | undefined;
  private b: string | undefined;
  private c: string | undefined;
  private d: string | undefined;
  private e: string | undefined;
  private last = "";

  constructor(private readonly join: KeyJoin) {}

  /** KeyJoin.key(a, b, c, d, e): the same text, for the same values given the same way. */
  key(a: string, b?: string, c?: string, d?: string, e?: string): string {
    if (a === this.a && b === this.b && c === this.c && d === this.d && e === this.e && this.last !== "") return this.last;
    this.last = this.join.key(a, b, c, d, e);
    this.a = a;
    this.b = b;
    this.c = c;
    this.d = d;
    this.e = e;
    return this.last;
  }
}

/** prom-client 15's series entries (lib/counter.js, lib/histogram.js). */
interface CounterEntry {
  value: number;
  labels: Labels;
}
interface HistogramEntry {
  labels: Labels;
  bucketValues: Record<string, number>;
  sum: number;
  count: number;
}

/** prom-client keeps its series in `hashMap`, replaced wholesale by reset(). */
interface WithSeries<E> {
  hashMap: Record<string, E>;
}

/** Whether `key` is exactly the values of `labels` in `names` order: only then is a cell kept for it. */
function keyOf(names: readonly string[], labels: Labels, key: string): boolean {
  let k = "";
  for (let i = 0; i < names.length; i++) {
    const v = labels[names[i]!];
    if (typeof v !== "string" || v.includes(SEP)) return false;
    k += i === 0 ? v : SEP + v;
  }
  return k === key;
}

function sameLabels(a: Labels, b: Labels, names: readonly string[]): boolean {
  for (const n of names) if (a[n] !== b[n]) return false;
  return true;
}

/**
 * A counter's cells. `inc(key)` adds through the cell and returns true, or returns false when the
 * key has none yet; the caller then calls `first(key, labels)`, which goes through prom-client and
 * keeps the cell. Labels objects are built only for a combination's first update.
 */
export class CounterCells {
  private readonly cells = new Map<string, CounterEntry>();
  private series: Record<string, CounterEntry> | undefined;

  constructor(
    private readonly counter: Counter<string>,
    private readonly names: readonly string[],
  ) {}

  private current(): Record<string, CounterEntry> {
    const own = (this.counter as unknown as WithSeries<CounterEntry>).hashMap;
    if (own !== this.series) {
      this.cells.clear();
      this.series = own;
    }
    return own;
  }

  inc(key: string, value = 1): boolean {
    this.current();
    const cell = this.cells.get(key);
    // Anything prom-client would refuse takes its path, which throws.
    if (cell === undefined || !(value >= 0 && value < Infinity)) return false;
    cell.value += value;
    return true;
  }

  first(key: string, labels: Labels, value = 1): void {
    const own = this.current();
    const { labelHash } = this.counter.inc(labels, value) as unknown as { labelHash: string };
    const entry = own[labelHash];
    if (entry && keyOf(this.names, labels, key)) this.cells.set(key, entry);
  }
}

/** A histogram's cells: `observe(key, v)` or, when it returns false, `first(key, labels, v)`. */
export class HistogramCells {
  private readonly cells = new Map<string, HistogramEntry>();
  private series: Record<string, HistogramEntry> | undefined;
  private readonly bounds: readonly number[];
  /**
   * Each bound as the key prom-client files its bucket under: a whole bound (1, 5, 10 seconds) as
   * the number itself, the same property as its text, since such keys are array indices: a
   * megamorphic store given the text goes through the runtime to convert it every time.
   */
  private readonly bucketKeys: readonly (string | number)[];

  constructor(
    private readonly histogram: Histogram<string>,
    private readonly names: readonly string[],
  ) {
    this.bounds = (histogram as unknown as { upperBounds: number[] }).upperBounds;
    this.bucketKeys = this.bounds.map((b) => (Number.isInteger(b) && b >= 0 && b < 2 ** 31 ? b : String(b)));
  }

  private current(): Record<string, HistogramEntry> {
    const own = (this.histogram as unknown as WithSeries<HistogramEntry>).hashMap;
    if (own !== this.series) {
      this.cells.clear();
      this.series = own;
    }
    return own;
  }

  observe(key: string, value: number): boolean {
    this.current();
    const cell = this.cells.get(key);
    if (cell === undefined || !Number.isFinite(value)) return false;
    const b = this.bounds;
    let i = 0;
    while (i < b.length && value > b[i]!) i++;
    cell.sum += value;
    cell.count += 1;
    // Past the last bound only the count (the +Inf bucket) and the sum move, as in prom-client.
    if (i < b.length) cell.bucketValues[this.bucketKeys[i]!]! += 1;
    return true;
  }

  first(key: string, labels: Labels, value: number): void {
    const own = this.current();
    this.histogram.observe(labels, value);
    if (!keyOf(this.names, labels, key)) return;
    for (const entry of Object.values(own))
      if (sameLabels(entry.labels, labels, this.names)) {
        this.cells.set(key, entry);
        return;
      }
  }
}

import fc from "fast-check";
import { Counter, Histogram } from "prom-client";
import { describe, expect, it } from "vitest";
import { CounterCells, HistogramCells, KeyJoin, LastKey, SEP } from "../../src/telemetry/metric-cells.js";

const names = ["target", "outcome"] as const;
const targets = ["a", "b", `c${SEP}d`, ""];
const outcomes = ["ok", "error"];
const bounds = [0.001, 0.01, 0.1, 1, 10];

type Op = { kind: "update"; target: string; outcome: string; value: number } | { kind: "reset" };

const ops = fc.array(
  fc.oneof(
    { weight: 20, arbitrary: fc.record({ kind: fc.constant("update" as const), target: fc.constantFrom(...targets), outcome: fc.constantFrom(...outcomes), value: fc.oneof(fc.constantFrom(0, ...bounds, 11, 1e9), fc.double({ min: 0, max: 20, noNaN: true })) }) },
    { weight: 1, arbitrary: fc.constant({ kind: "reset" as const }) },
  ),
  { maxLength: 60 },
);

/** A series list in a stable order, for comparing two instruments' contents. */
async function series(m: Counter<string> | Histogram<string>) {
  const { values } = await m.get();
  return [...values].sort((x, y) => JSON.stringify(x.labels).localeCompare(JSON.stringify(y.labels)) || String((x as { metricName?: string }).metricName).localeCompare(String((y as { metricName?: string }).metricName)) || JSON.stringify(x).localeCompare(JSON.stringify(y)));
}

describe("metric cells", () => {
  it("a counter updated through cells holds what prom-client's own inc gives, resets included", async () => {
    await fc.assert(
      fc.asyncProperty(ops, async (list: Op[]) => {
        const viaApi = new Counter({ name: "x_total", help: "x", labelNames: names, registers: [] });
        const viaCells = new Counter({ name: "x_total", help: "x", labelNames: names, registers: [] });
        const cells = new CounterCells(viaCells, names);
        for (const op of list) {
          if (op.kind === "reset") {
            viaApi.reset();
            viaCells.reset();
            continue;
          }
          const labels = { target: op.target, outcome: op.outcome };
          viaApi.inc(labels, op.value);
          const key = op.target + SEP + op.outcome;
          if (!cells.inc(key, op.value)) cells.first(key, labels, op.value);
        }
        expect(await series(viaCells)).toEqual(await series(viaApi));
      }),
      { numRuns: 200 },
    );
  });

  it("a histogram updated through cells holds what prom-client's own observe gives: buckets, bounds exactly, past the last bound, sums", async () => {
    await fc.assert(
      fc.asyncProperty(ops, async (list: Op[]) => {
        const viaApi = new Histogram({ name: "h_seconds", help: "h", labelNames: names, buckets: bounds, registers: [] });
        const viaCells = new Histogram({ name: "h_seconds", help: "h", labelNames: names, buckets: bounds, registers: [] });
        const cells = new HistogramCells(viaCells, names);
        for (const op of list) {
          if (op.kind === "reset") {
            viaApi.reset();
            viaCells.reset();
            continue;
          }
          const labels = { target: op.target, outcome: op.outcome };
          viaApi.observe(labels, op.value);
          const key = op.target + SEP + op.outcome;
          if (!cells.observe(key, op.value)) cells.first(key, labels, op.value);
        }
        expect(await series(viaCells)).toEqual(await series(viaApi));
      }),
      { numRuns: 200 },
    );
  });

  it("a call site's remembered key is the KeyJoin's key of its own values, whatever came before", () => {
    const value = fc.constantFrom("a", "b", "", `a${SEP}b`, "ok", "input");
    const tuple = fc.tuple(value, fc.option(value, { nil: undefined }), fc.option(value, { nil: undefined }), fc.option(value, { nil: undefined }), fc.option(value, { nil: undefined }));
    // A few tuples, asked for in any order: repeats, and tuples that differ in one value only.
    const pool = fc.array(tuple, { minLength: 1, maxLength: 4 }).chain((ts) =>
      fc.array(
        fc.oneof(
          fc.constantFrom(...ts),
          fc.tuple(fc.constantFrom(...ts), fc.nat(4), value).map(([t, i, v]) => t.map((x, j) => (j === i ? v : x)) as typeof t),
        ),
        { maxLength: 40 },
      ),
    );
    fc.assert(
      fc.property(pool, (list) => {
        const shared = new KeyJoin();
        const site = new LastKey(shared);
        const other = new LastKey(shared);
        for (const [a, b, c, d, e] of list) {
          // The same values built anew (not the same string objects) must give the same text.
          const fresh = (v: string | undefined) => (v === undefined ? undefined : [...v].join(""));
          expect(site.key(a, b, c, d, e)).toBe(new KeyJoin().key(a, b, c, d, e));
          expect(site.key(fresh(a)!, fresh(b), fresh(c), fresh(d), fresh(e))).toBe(new KeyJoin().key(a, b, c, d, e));
          expect(other.key(a, c)).toBe(new KeyJoin().key(a, c));
        }
      }),
      { numRuns: 300 },
    );
  });

  it("what prom-client refuses is refused through the cells too", () => {
    const c = new Counter({ name: "r_total", help: "r", labelNames: names, registers: [] });
    const cells = new CounterCells(c, names);
    cells.first("a" + SEP + "ok", { target: "a", outcome: "ok" });
    expect(cells.inc("a" + SEP + "ok", -1)).toBe(false);
    expect(() => cells.first("a" + SEP + "ok", { target: "a", outcome: "ok" }, -1)).toThrow();
    const h = new Histogram({ name: "r_seconds", help: "r", labelNames: names, registers: [] });
    const hc = new HistogramCells(h, names);
    hc.first("a" + SEP + "ok", { target: "a", outcome: "ok" }, 1);
    expect(hc.observe("a" + SEP + "ok", Number.NaN)).toBe(false);
    expect(() => hc.first("a" + SEP + "ok", { target: "a", outcome: "ok" }, Number.NaN)).toThrow(TypeError);
  });

  it("a label value holding the separator never gets a cell (two label sets cannot share one)", () => {
    const c = new Counter({ name: "s_total", help: "s", labelNames: ["a", "b"], registers: [] });
    const cells = new CounterCells(c, ["a", "b"]);
    const key = `x${SEP}y${SEP}z`;
    cells.first(key, { a: `x${SEP}y`, b: "z" });
    expect(cells.inc(key)).toBe(false);
    cells.first(key, { a: "x", b: `y${SEP}z` });
    expect(cells.inc(key)).toBe(false);
  });
});

describe("KeyJoin", () => {
  it("gives the values joined by SEP, the same string for the same values", async () => {
    const { KeyJoin } = await import("../../src/telemetry/metric-cells.js");
    const keys = new KeyJoin();
    const values = fc.array(fc.string({ maxLength: 4, unit: fc.constantFrom("a", "b", SEP, "") }), { minLength: 1, maxLength: 5 });
    fc.assert(
      fc.property(fc.array(values, { maxLength: 30 }), (lists) => {
        for (const v of lists) {
          const k = keys.key(v[0]!, v[1], v[2], v[3], v[4]);
          expect(k).toBe(v.join(SEP));
          expect(keys.key(v[0]!, v[1], v[2], v[3], v[4])).toBe(k);
        }
      }),
    );
  });
});

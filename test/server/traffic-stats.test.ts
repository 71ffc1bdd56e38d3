import { describe, expect, it } from "vitest";
import { TRAFFIC_MINUTES, TrafficStats } from "../../src/server/index.js";

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);
const target = (id: string) => ({ id }) as never;
const redact = [{ action: "redact" }] as never;

describe("TrafficStats (the overview's last hour)", () => {
  it("counts requests, blocks, redactions and errors by minute, and forgets minutes older than an hour", () => {
    let now = T0;
    const s = new TrafficStats(() => now);
    s.record({ outcome: "ok", events: [], latencyMs: 10, target: target("a") });
    s.record({ outcome: "ok", events: redact, latencyMs: 20, target: target("a") });
    s.record({ outcome: "blocked", events: [], latencyMs: 1, target: undefined });
    now += 60_000;
    s.record({ outcome: "error", events: [], latencyMs: 30, target: target("a") });
    let hour = s.lastHour();
    expect(hour).toHaveLength(TRAFFIC_MINUTES);
    expect(hour.at(-1)).toMatchObject({ start: new Date(T0 + 60_000), requests: 1, errors: 1, blocked: 0, redacted: 0 });
    expect(hour.at(-2)).toMatchObject({ start: new Date(T0), requests: 3, blocked: 1, redacted: 1, errors: 0 });
    expect(hour.slice(0, -2).every((m) => m.requests === 0)).toBe(true);
    expect(s.target("a")).toMatchObject({ requests: 3, errors: 1 });
    expect(s.target("nobody")).toEqual({ requests: 0, errors: 0, latencyP50Ms: 0, latencyP95Ms: 0 });

    // An hour later the first minute's ring slot is reused, not added to.
    now = T0 + TRAFFIC_MINUTES * 60_000;
    s.record({ outcome: "ok", events: [], latencyMs: 5, target: target("a") });
    hour = s.lastHour();
    expect(hour.reduce((n, m) => n + m.requests, 0)).toBe(2);
    expect(hour.at(-1)!.requests).toBe(1);
    expect(s.target("a").requests).toBe(2);
  });

  it("reads latency percentiles within the histogram's 19% resolution", () => {
    const s = new TrafficStats(() => T0);
    for (let i = 1; i <= 100; i++) s.record({ outcome: "ok", events: [], latencyMs: i * 10, target: target("t") });
    const { latencyP50Ms, latencyP95Ms } = s.target("t");
    expect(latencyP50Ms / 500).toBeGreaterThan(0.81);
    expect(latencyP50Ms / 500).toBeLessThan(1.19);
    expect(latencyP95Ms / 950).toBeGreaterThan(0.81);
    expect(latencyP95Ms / 950).toBeLessThan(1.19);
  });
});

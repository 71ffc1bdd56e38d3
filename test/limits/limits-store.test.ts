/**
 * The limits stores keep one contract: the same cases run against the embedded store and a real
 * redis-server (the Lua scripts), so the two cannot drift apart.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EmbeddedStore, RedisStore, type LimitsStore, type ReserveSpec, type SubjectCharge } from "../../src/limits/index.js";
import { startRedis, type RedisProcess } from "../helpers/redis-server.js";

let redis: RedisProcess;
const stores: RedisStore[] = [];
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  for (const s of stores) await s.close();
  await redis?.kill();
});

let n = 0;
const uniq = (p: string) => `${p}-${process.pid}-${++n}`;

const charge = (subject: string, c: Partial<SubjectCharge> = {}): SubjectCharge => ({ subject, rates: [], maxRequests: 0, maxStreams: 0, tokens: 0, ...c });
const spec = (charges: SubjectCharge[], stream = false): ReserveSpec => ({ id: uniq("r"), stream, leaseMs: 60_000, charges });

const kinds: [string, () => Promise<LimitsStore>][] = [
  ["embedded", async () => new EmbeddedStore()],
  [
    "redis",
    async () => {
      const s = await new RedisStore({ url: redis.url, keyPrefix: uniq("kt-test"), timeoutMs: 2000 }).open();
      stores.push(s);
      return s;
    },
  ],
];

describe.each(kinds)("%s store", (_name, make) => {
  it("admits exactly the requests_per_minute, then refuses with the time until the window has room", async () => {
    const store = await make();
    const key = uniq("key:a");
    const results = [];
    for (let i = 0; i < 8; i++) results.push(await store.reserve(spec([charge(key, { rates: [["rpm", 5, 1]] })])));
    expect(results.map((r) => r.ok)).toEqual([true, true, true, true, true, false, false, false]);
    const refused = results[5]!;
    expect(refused.refusal).toMatchObject({ kind: "rate", subject: key, name: "rpm", limit: 5, tooLarge: false });
    const retry = (refused.refusal as { retryAfterMs: number }).retryAfterMs;
    expect(retry).toBeGreaterThan(59_000);
    expect(retry).toBeLessThanOrEqual(61_000);
    expect(results[4]!.rates[0]).toMatchObject({ name: "rpm", limit: 5, used: 5 });
    expect(refused.rates[0]).toMatchObject({ used: 5 });
  });

  it("checks every subject before charging any: a refusal by the team costs the key nothing", async () => {
    const store = await make();
    const key = uniq("key:k");
    const team = uniq("team:t");
    expect((await store.reserve(spec([charge(team, { rates: [["rpm", 1, 1]] })]))).ok).toBe(true);
    const r = await store.reserve(spec([charge(key, { rates: [["rpm", 10, 1]] }), charge(team, { rates: [["rpm", 1, 1]] })]));
    expect(r.ok).toBe(false);
    expect(r.refusal).toMatchObject({ subject: team });
    const [u] = await store.usage([{ subject: key, rates: ["rpm"] }]);
    expect(u!.rates[0]!.used).toBe(0);
    expect(u!.inFlight).toBe(0);
  });

  it("settlement replaces the reserved tokens by real usage and returns the rest to window and budget", async () => {
    const store = await make();
    const key = uniq("key:s");
    const end = Date.now() + 86_400_000;
    const s = spec([charge(key, { rates: [["tpm", 10_000, 1_000]], budget: ["day-x", 5_000, 1_000, end], tokens: 1_000 })]);
    const r = await store.reserve(s);
    expect(r.ok).toBe(true);
    let [u] = await store.usage([{ subject: key, rates: ["tpm"], budget: "day-x" }]);
    expect(u).toMatchObject({ inFlight: 1, reservedTokens: 1_000, budget: { used: 0, reserved: 1_000 } });
    expect(u!.rates[0]!.used).toBe(1_000);
    await store.settle({ id: s.id, at: r.at, stream: false, charges: [{ subject: key, rates: [["tpm", 120 - 1_000]], budget: ["day-x", 1_000, 120, end] }] });
    [u] = await store.usage([{ subject: key, rates: ["tpm"], budget: "day-x" }]);
    expect(u).toMatchObject({ inFlight: 0, reservedTokens: 0, budget: { used: 120, reserved: 0 } });
    expect(u!.rates[0]!.used).toBe(120);
  });

  it("a budget refuses a reservation that would pass it, counting reservations in flight", async () => {
    const store = await make();
    const key = uniq("key:b");
    const end = Date.now() + 3_600_000;
    const b = (amount: number): SubjectCharge => charge(key, { budget: ["p", 1_000, amount, end], tokens: amount });
    expect((await store.reserve(spec([b(600)]))).ok).toBe(true);
    const r = await store.reserve(spec([b(500)]));
    expect(r.ok).toBe(false);
    expect(r.refusal).toMatchObject({ kind: "budget", limit: 1_000, used: 0, reserved: 600, tooLarge: false });
    expect((r.refusal as { retryAfterMs: number }).retryAfterMs).toBeGreaterThan(3_500_000);
    expect((await store.reserve(spec([b(400)]))).ok).toBe(true);
    expect((await store.reserve(spec([b(2_000)]))).refusal).toMatchObject({ kind: "budget", tooLarge: true });
  });

  it("bounds requests and streams in flight; settling frees the slot", async () => {
    const store = await make();
    const key = uniq("key:c");
    const c = () => charge(key, { maxRequests: 3, maxStreams: 1 });
    const s1 = spec([c()], true);
    const r1 = await store.reserve(s1);
    expect(r1.ok).toBe(true);
    expect((await store.reserve(spec([c()], true))).refusal).toMatchObject({ kind: "concurrency", streams: true, limit: 1 });
    expect((await store.reserve(spec([c()]))).ok).toBe(true);
    expect((await store.reserve(spec([c()]))).ok).toBe(true);
    expect((await store.reserve(spec([c()]))).refusal).toMatchObject({ kind: "concurrency", streams: false, limit: 3 });
    await store.settle({ id: s1.id, at: r1.at, stream: true, charges: [{ subject: key, rates: [] }] });
    expect((await store.reserve(spec([c()], true))).ok).toBe(true);
  });

  it("a request larger than a whole window is refused as too large (no retry can help)", async () => {
    const store = await make();
    const r = await store.reserve(spec([charge(uniq("key:l"), { rates: [["tpm", 100, 500]] })]));
    expect(r.ok).toBe(false);
    expect(r.refusal).toMatchObject({ kind: "rate", name: "tpm", tooLarge: true });
  });

  it("holds exactly under concurrent reservations", async () => {
    const store = await make();
    const key = uniq("key:x");
    const all = await Promise.all(Array.from({ length: 100 }, () => store.reserve(spec([charge(key, { rates: [["rpm", 37, 1]] })]))));
    expect(all.filter((r) => r.ok).length).toBe(37);
  });
});

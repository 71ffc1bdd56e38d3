/**
 * Cost of usage limits per request: the admission (reserve) and settlement the chat pipeline adds
 * to every request, measured in-process as CPU time per request (process.cpuUsage), for the
 * embedded store with no limits configured (the per-key concurrency defaults only), with a key
 * that has every kind of limit plus a team, and for Redis (a real redis-server started here:
 * CPU in the gateway process per request, and the round trip of one reservation).
 *
 * Run: npx tsx bench/limits.ts   (BENCH_LIMITS_N=200000 requests per embedded row)
 */
import { spawn } from "node:child_process";
import net from "node:net";
import { parseConfig } from "../src/config/index.js";
import { EmbeddedStore, GuardedStore, Limiter, RedisStore, type LimitsStore } from "../src/limits/index.js";
import type { JsonObject, Principal } from "../src/wire/index.js";

const N = Number(process.env.BENCH_LIMITS_N ?? 200_000);
const BODY: JsonObject = {
  model: "m",
  messages: [
    { role: "system", content: "You are a helpful assistant." },
    { role: "user", content: "Please update the billing contact to jane.doe@example.com and charge card 4111 1111 1111 1111 for the renewal." },
  ],
  max_tokens: 64,
};
const USAGE = { input: 40, output: 64 };

const CONFIG = (store: string) => `auth:
  api_keys:
    - { id: plain, sha256: ${"a".repeat(64)} }
    - id: full
      sha256: ${"b".repeat(64)}
      team: t
      limits: { requests_per_minute: 100000000, tokens_per_minute: 100000000000, input_tokens_per_minute: 100000000000, output_tokens_per_minute: 100000000000, max_concurrent_requests: 1000, token_budget: { tokens: 100000000000000, period: month } }
providers:
  targets:
    - { id: x, provider: "openllm:chat:m" }
limits:
  ${store}
  teams:
    t: { requests_per_minute: 100000000 }
`;

function limiter(store: LimitsStore, storeLine: string, env: Record<string, string> = {}): Limiter {
  const c = parseConfig(CONFIG(storeLine), "bench.yaml", env);
  return new Limiter(c.limits, c.apiKeys, c.targets, new GuardedStore(store));
}

async function run(l: Limiter, keyId: string, n: number): Promise<{ cpuUs: number; wallUs: number }> {
  const principal: Principal = { keyId, scopes: ["chat"] };
  for (let i = 0; i < Math.min(n, 5000); i++) {
    const a = l.begin(principal, "chat", BODY, false);
    await a.admit();
    a.settle(USAGE, true);
  }
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const a = l.begin(principal, "chat", BODY, false);
    await a.admit();
    a.settle(USAGE, true);
  }
  const wall = Number(process.hrtime.bigint() - t0) / 1e3;
  const c = process.cpuUsage(c0);
  return { cpuUs: (c.user + c.system) / n, wallUs: wall / n };
}

/** Concurrent requests against Redis: CPU per request in this process and requests per second. */
async function runConcurrent(l: Limiter, keyId: string, n: number, concurrency: number) {
  const principal: Principal = { keyId, scopes: ["chat"] };
  let next = 0;
  const lat: number[] = [];
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next++ < n) {
        const s = process.hrtime.bigint();
        const a = l.begin(principal, "chat", BODY, false);
        await a.admit();
        lat.push(Number(process.hrtime.bigint() - s) / 1e3);
        a.settle(USAGE, true);
      }
    }),
  );
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const c = process.cpuUsage(c0);
  lat.sort((a, b) => a - b);
  return { cpuUs: (c.user + c.system) / n, rps: n / wall, p50: lat[Math.floor(lat.length / 2)]!, p99: lat[Math.floor(lat.length * 0.99)]! };
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

const fmt = (x: number) => x.toFixed(2).padStart(8);
console.log(`usage limits, cost per request (reserve + settle), node ${process.version}, ${N} requests per embedded row`);
console.log("");
console.log("row                                              CPU µs/req   wall µs/req");
for (const [name, key] of [
  ["embedded, no limits configured (key defaults)", "plain"],
  ["embedded, key: rpm+tpm+itpm+otpm+conc+budget, team", "full"],
] as const) {
  const rounds = [];
  for (let r = 0; r < 3; r++) rounds.push(await run(limiter(new EmbeddedStore(), "store: embedded"), key, N));
  rounds.sort((a, b) => a.cpuUs - b.cpuUs);
  const m = rounds[1]!;
  console.log(`${name.padEnd(50)} ${fmt(m.cpuUs)}     ${fmt(m.wallUs)}   (median of 3)`);
}

const port = await freePort();
const redis = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], { stdio: "ignore" });
try {
  const url = `redis://127.0.0.1:${port}`;
  let store: RedisStore | undefined;
  for (let i = 0; i < 100; i++) {
    const s = await new RedisStore({ url, keyPrefix: `bench-${process.pid}`, timeoutMs: 1000 }).open();
    if (s.status === "ready") {
      store = s;
      break;
    }
    await s.close();
    await new Promise((r) => setTimeout(r, 50));
  }
  if (!store) throw new Error("redis-server did not start");
  const l = limiter(store, "store: { redis: { url_ref: { env: R } } }", { R: url });
  const seq = await run(l, "full", 5000);
  console.log(`${"redis, same key, one request at a time".padEnd(50)} ${fmt(seq.cpuUs)}     ${fmt(seq.wallUs)}   (one EVALSHA round trip to reserve; settle not awaited)`);
  for (const c of [32]) {
    const r = await runConcurrent(l, "full", 20_000, c);
    console.log(`${`redis, same key, ${c} concurrent`.padEnd(50)} ${fmt(r.cpuUs)}     reserve p50 ${r.p50.toFixed(0)} µs, p99 ${r.p99.toFixed(0)} µs, ${r.rps.toFixed(0)} req/s (auto-pipelined)`);
  }
  await store.close();
} finally {
  redis.kill("SIGKILL");
}

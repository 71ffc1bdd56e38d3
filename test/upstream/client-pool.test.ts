import http from "node:http";
import type net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { ClientPool } from "../../src/upstream/client-pool.js";

/** A real HTTP server that holds every request until told to answer; it notes each socket and arrival. */
async function holdingServer() {
  const held: { n: number; res: http.ServerResponse }[] = [];
  const sockets = new Set<net.Socket>();
  let inFlight = 0;
  let maxInFlight = 0;
  const arrivals: number[] = [];
  const server = http.createServer((req, res) => {
    sockets.add(req.socket);
    const n = Number(req.headers["x-n"]);
    arrivals.push(n);
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    res.on("finish", () => inFlight--);
    if (req.headers["x-hold"] === "1") held.push({ n, res });
    else res.end(`answer ${n}`);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const { port } = server.address() as net.AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    sockets,
    arrivals,
    get maxInFlight() {
      return maxInFlight;
    },
    get held() {
      return held.length;
    },
    releaseAll() {
      for (const h of held.splice(0)) h.res.end(`answer ${h.n}`);
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
});

async function get(pool: ClientPool, n: number, hold = false): Promise<string> {
  const r = await pool.request({ method: "GET", path: "/", headers: { "x-n": String(n), "x-hold": hold ? "1" : "0" } });
  return r.body.text();
}

async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((r) => setTimeout(r, 5));
}

describe("ClientPool (upstream keep-alive connections, O(1) per request)", () => {
  it("never opens more than `connections`; requests beyond wait and are served in the order they came", async () => {
    const s = await holdingServer();
    cleanups.push(s.close);
    const pool = new ClientPool(s.origin, { connections: 2 });
    cleanups.push(() => pool.destroy());
    const answers = Array.from({ length: 6 }, (_, i) => get(pool, i, true));
    await until(() => s.held === 2);
    expect(pool.size).toBe(2);
    expect(pool.queued).toBe(4);
    // Release in rounds: each freed connection takes the oldest waiting request.
    for (let round = 0; round < 3; round++) {
      await until(() => s.held === 2);
      s.releaseAll();
    }
    expect(await Promise.all(answers)).toEqual([0, 1, 2, 3, 4, 5].map((n) => `answer ${n}`));
    expect(s.maxInFlight).toBe(2);
    expect(s.arrivals).toEqual([0, 1, 2, 3, 4, 5]);
    expect(s.sockets.size).toBe(2);
    expect(pool.queued).toBe(0);
  });

  it("reuses free keep-alive connections: ten requests one after another use at most two sockets", async () => {
    const s = await holdingServer();
    cleanups.push(s.close);
    const pool = new ClientPool(s.origin, { connections: 64 });
    cleanups.push(() => pool.destroy());
    for (let i = 0; i < 10; i++) expect(await get(pool, i)).toBe(`answer ${i}`);
    // A body read to its end can reach the caller a moment before its connection says it is free,
    // so the next request may open a second one (undici's Pool does the same); never more.
    expect(s.sockets.size).toBeLessThanOrEqual(2);
    expect(pool.size).toBeLessThanOrEqual(2);
  });

  it("a connection that cannot be opened fails its request and is dropped; the next request opens a new one", async () => {
    const s = await holdingServer();
    const origin = s.origin;
    await s.close();
    const pool = new ClientPool(origin, { connections: 1 });
    cleanups.push(() => pool.destroy());
    await expect(get(pool, 1)).rejects.toMatchObject({ code: "ECONNREFUSED" });
    await until(() => pool.size === 0);
    // The limit is 1: had the failed client stayed, this request would wait for ever.
    await expect(get(pool, 2)).rejects.toMatchObject({ code: "ECONNREFUSED" });
  });

  it("close() lets requests in flight and waiting finish, then refuses new ones", async () => {
    const s = await holdingServer();
    cleanups.push(s.close);
    const pool = new ClientPool(s.origin, { connections: 1 });
    const a = get(pool, 1, true);
    const b = get(pool, 2, true);
    await until(() => s.held === 1);
    const closed = pool.close();
    await expect(get(pool, 3)).rejects.toBeInstanceOf(Error);
    s.releaseAll();
    await until(() => s.held === 1);
    s.releaseAll();
    expect(await a).toBe("answer 1");
    expect(await b).toBe("answer 2");
    await closed;
  });

  it("destroy() fails the requests still waiting for a connection", async () => {
    const s = await holdingServer();
    cleanups.push(s.close);
    const pool = new ClientPool(s.origin, { connections: 1 });
    const a = get(pool, 1, true);
    const b = get(pool, 2, true);
    a.catch(() => {});
    b.catch(() => {});
    await until(() => s.held === 1);
    expect(pool.queued).toBe(1);
    await pool.destroy();
    await expect(b).rejects.toBeInstanceOf(Error);
    await expect(a).rejects.toBeInstanceOf(Error);
  });
});

import http from "node:http";
import type net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { ClientPool } from "../../src/upstream/client-pool.js";
import { postForText } from "../../src/upstream/post-for-text.js";
import { openSseStream } from "../../src/upstream/sse-stream.js";

/**
 * Calls cancelled while every upstream connection is taken: they leave the pool's queue at once
 * and their caller hears of it at once, instead of when a connection frees up (with hanging
 * calls holding every connection, that is a target's timeout away, the body held meanwhile).
 */

/** A real server that holds request `x-n: 0` until released and answers others as a stream. */
async function server() {
  const arrivals: string[] = [];
  let release: (() => void) | undefined;
  const srv = http.createServer((req, res) => {
    const n = String(req.headers["x-n"]);
    arrivals.push(n);
    req.resume();
    if (n === "0") {
      release = () => res.end("{}");
      return;
    }
    res.writeHead(200, { "content-type": "text/event-stream" });
    res.end('data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[]}\n\ndata: [DONE]\n\n');
  });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", () => r()));
  const { port } = srv.address() as net.AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    arrivals,
    release: () => release?.(),
    get holding() {
      return release !== undefined;
    },
    close: () =>
      new Promise<void>((r) => {
        srv.closeAllConnections();
        srv.close(() => r());
      }),
  };
}

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
});

async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((r) => setTimeout(r, 5));
}

const post = (n: number, body = "x") => ({
  path: "/v1/chat/completions",
  headers: { "x-n": String(n), "content-type": "application/json" },
  body,
  timeoutMs: 30_000,
  deadline: performance.now() + 30_000,
  limit: 1 << 20,
  targetId: "t",
});

async function oneHeld() {
  const s = await server();
  cleanups.push(s.close);
  const pool = new ClientPool(s.origin, { connections: 1 });
  cleanups.push(() => pool.destroy());
  const held = postForText(pool, post(0), new AbortController().signal);
  held.catch(() => {});
  await until(() => s.holding);
  return { s, pool, held };
}

describe("a call cancelled while it waits for an upstream connection", () => {
  it("non-streamed: rejects at once with the cancel's reason, leaves the queue, and never reaches the upstream", async () => {
    const { s, pool, held } = await oneHeld();
    const ac = new AbortController();
    const queued = postForText(pool, post(1, "y".repeat(1 << 20)), ac.signal);
    const other = postForText(pool, post(2), new AbortController().signal);
    expect(pool.queued).toBe(2);
    const t0 = performance.now();
    const reason = new Error("client went away");
    ac.abort(reason);
    await expect(queued).rejects.toBe(reason);
    expect(performance.now() - t0).toBeLessThan(100);
    expect(pool.queued).toBe(1);
    // The connection frees: the next live call takes it; the withdrawn one is passed over.
    s.release();
    await held;
    await other;
    expect(s.arrivals).toEqual(["0", "2"]);
    expect(pool.queued).toBe(0);
  });

  it("streamed: the open promise rejects at once, and the withdrawn call never reaches the upstream", async () => {
    const { s, pool, held } = await oneHeld();
    const ac = new AbortController();
    const sse = (n: number, signal: AbortSignal) =>
      openSseStream(
        pool,
        { path: "/v1/chat/completions", headers: { "x-n": String(n) }, body: "x", headersTimeoutMs: 30_000, bodyTimeoutMs: 30_000, limit: 1 << 20, targetId: "t", keepRaw: false },
        signal,
        () => (signal.aborted ? "client" : undefined),
      );
    const queued = sse(1, ac.signal);
    const other = sse(2, new AbortController().signal);
    expect(pool.queued).toBe(2);
    const t0 = performance.now();
    ac.abort(new Error("client went away"));
    await expect(queued).rejects.toBeInstanceOf(Error);
    expect(performance.now() - t0).toBeLessThan(100);
    expect(pool.queued).toBe(1);
    s.release();
    await held;
    const it = await other;
    const chunks = [];
    for await (const c of it) chunks.push(c);
    expect(chunks).toHaveLength(1);
    expect(s.arrivals).toEqual(["0", "2"]);
  });

  it("a cancel after the call got its connection still aborts the upstream request (not a queue withdrawal)", async () => {
    const { s, pool, held } = await oneHeld();
    const ac = new AbortController();
    const queued = postForText(pool, post(0), ac.signal);
    queued.catch(() => {});
    s.release();
    await held;
    await until(() => s.arrivals.length === 2);
    expect(pool.queued).toBe(0);
    ac.abort(new Error("late"));
    await expect(queued).rejects.toThrow("late");
  });

  it("many withdrawn calls: the queue's count stays exact and close() still finishes", async () => {
    const { s, pool, held } = await oneHeld();
    const acs = Array.from({ length: 50 }, () => new AbortController());
    const calls = acs.map((ac, i) => postForText(pool, post(100 + i), ac.signal));
    for (const c of calls) c.catch(() => {});
    expect(pool.queued).toBe(50);
    acs.forEach((ac, i) => i % 2 === 0 && ac.abort(new Error("gone")));
    expect(pool.queued).toBe(25);
    s.release();
    await held;
    const results = await Promise.allSettled(calls);
    expect(results.filter((r) => r.status === "rejected")).toHaveLength(25);
    expect(s.arrivals.slice(1)).toEqual(Array.from({ length: 25 }, (_, i) => String(100 + 2 * i + 1)));
    expect(pool.queued).toBe(0);
    await pool.close();
  });
});

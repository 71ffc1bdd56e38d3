import net from "node:net";
import { describe, expect, it } from "vitest";
import { nextTurn, queuedUnits, runQueued, SLICE_MS } from "../../src/wire/index.js";
import { busy, freshTurn } from "../helpers/loop-turns.js";

describe("loop turns (src/wire/loop-turns.ts)", () => {
  it("an idle loop runs a unit at once: no promise, no deferral", async () => {
    await freshTurn();
    expect(nextTurn()).toBeUndefined();
    expect(queuedUnits()).toBe(0);
  });

  it("once a turn has spent its slice, units queue and are let go in the order they asked", async () => {
    await freshTurn();
    expect(nextTurn()).toBeUndefined();
    busy(SLICE_MS + 1);
    const order: number[] = [];
    const all: Promise<void>[] = [];
    for (let i = 0; i < 50; i++) {
      const w = nextTurn();
      expect(w).toBeInstanceOf(Promise);
      all.push(w!.then(() => void order.push(i)));
    }
    expect(queuedUnits()).toBe(50);
    await Promise.all(all);
    expect(order).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(queuedUnits()).toBe(0);
    // Once the backlog is worked off, the next turn runs units at once again.
    await freshTurn();
    expect(nextTurn()).toBeUndefined();
  });

  it("runQueued runs work inside the slice's pass, which counts it: units of a slice's length each go one a turn, in order", async () => {
    // A nextTurn() waiter's work runs a few promise steps after its release, when the pass has
    // already read its clock and let the next waiters go: four streams' large-chunk slices all ran
    // in one pass (issue #13, the stream row). runQueued's work runs in the release itself.
    await freshTurn();
    let turn = 0;
    let ticking = true;
    const tick = () => {
      turn++;
      if (ticking) setImmediate(tick);
    };
    setImmediate(tick);
    const ran: { unit: number; turn: number }[] = [];
    const units = Array.from({ length: 8 }, (_, i) =>
      runQueued(() => {
        busy(SLICE_MS);
        ran.push({ unit: i, turn });
        return i * 10;
      }),
    );
    // Never inline, even on an idle loop.
    expect(ran).toEqual([]);
    expect(queuedUnits()).toBe(8);
    expect(await Promise.all(units)).toEqual([0, 10, 20, 30, 40, 50, 60, 70]);
    ticking = false;
    expect(ran.map((r) => r.unit)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    // Each unit spent the pass's whole budget: the next went in a later turn.
    for (let i = 1; i < ran.length; i++) expect(ran[i]!.turn).toBeGreaterThan(ran[i - 1]!.turn);
    // Short units share a pass.
    await freshTurn();
    const short: number[] = [];
    const before = turn;
    ticking = true;
    setImmediate(tick);
    await Promise.all(Array.from({ length: 8 }, () => runQueued(() => void short.push(turn))));
    ticking = false;
    expect(new Set(short).size).toBeLessThan(8);
    expect(short[0]).toBeGreaterThanOrEqual(before);
  });

  it("runQueued settles with what the work throws", async () => {
    await expect(runQueued(() => {
      throw new Error("bad slice");
    })).rejects.toThrow("bad slice");
    await expect(runQueued(() => Promise.resolve(7))).resolves.toBe(7);
  });

  it("between slices the loop polls: a connection made while a backlog waits is accepted before the backlog is done", async () => {
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    const { port } = server.address() as net.AddressInfo;
    let unitsRun = 0;
    let acceptedAfter: number | undefined;
    server.on("connection", (s) => {
      acceptedAfter ??= unitsRun;
      s.destroy();
    });
    try {
      await freshTurn();
      expect(nextTurn()).toBeUndefined();
      busy(SLICE_MS + 1);
      // 200 units of 2 ms each: 400 ms of work, in one turn without slicing.
      const units: Promise<void>[] = [];
      for (let i = 0; i < 200; i++)
        units.push(
          nextTurn()!.then(() => {
            busy(2);
            unitsRun++;
          }),
        );
      const client = net.connect(port, "127.0.0.1");
      client.on("error", () => {});
      await Promise.all(units);
      await new Promise((r) => setTimeout(r, 50));
      client.destroy();
      expect(unitsRun).toBe(200);
      // Accepted while the backlog was being worked off, not after all of it.
      expect(acceptedAfter).toBeDefined();
      expect(acceptedAfter!).toBeLessThan(200);
    } finally {
      server.close();
    }
  });

  it("a unit queued with afterPoll goes only after the loop has polled since: bytes that came meanwhile are read first", async () => {
    // The unit is queued in the poll phase (a socket's data handler), and the peer's bytes reach
    // the kernel right after, unread: without afterPoll the unit went in this turn's check phase,
    // before the next poll read them (a request sent upstream before its client's cancel was read).
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    const { port } = server.address() as net.AddressInfo;
    const client = net.connect(port, "127.0.0.1");
    client.on("error", () => {});
    try {
      const seen: string[] = [];
      const ran = await new Promise<{ plain: string[]; afterPoll: string[] }>((resolve) => {
        server.on("connection", (s) => {
          s.on("data", (d) => {
            seen.push(String(d));
            if (String(d) !== "first") return;
            // In the poll phase: this turn has spent its slice, so both units queue.
            nextTurn();
            busy(SLICE_MS + 1);
            const plain = nextTurn()!.then(() => [...seen]);
            const after = nextTurn(true)!.then(() => [...seen]);
            client.write("second");
            void Promise.all([plain, after]).then(([p, a]) => resolve({ plain: p, afterPoll: a }));
          });
        });
        client.write("first");
      });
      // The plain unit went before the loop polled again; the afterPoll one after it had.
      expect(ran.plain).toEqual(["first"]);
      expect(ran.afterPoll).toEqual(["first", "second"]);
    } finally {
      client.destroy();
      server.close();
    }
  });
});

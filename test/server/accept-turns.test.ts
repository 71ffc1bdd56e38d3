import { readFileSync } from "node:fs";
import http2 from "node:http2";
import net from "node:net";
import tls from "node:tls";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { listen, type Listener } from "../../src/server/listener.js";
import { nextTurn, SLICE_MS } from "../../src/wire/index.js";
import { busy, freshTurn } from "../helpers/loop-turns.js";

// New connections are accepted paused and set up in their turn of the event loop (src/wire/
// loop-turns.ts), so a burst of thousands is not set up in one pass while requests wait. The TLS
// listener did its TLS socket's set-up and handshake inline; it now waits its turn as a plaintext
// connection does, and its handshake (ALPN included) is unchanged once it runs.

const certFile = fileURLToPath(new URL("../fixtures/tls/localhost.crt", import.meta.url));
const keyFile = fileURLToPath(new URL("../fixtures/tls/localhost.key", import.meta.url));
const ca = readFileSync(certFile);

let listener: Listener | undefined;
afterEach(async () => {
  listener?.destroyAll();
  await listener?.close();
  listener = undefined;
});

const handler = (_req: unknown, res: { writeHead(s: number, h: Record<string, string>): void; end(b: string): void }) => {
  res.writeHead(200, { "content-type": "text/plain" });
  res.end("ok");
};

/**
 * Queues `count` units of 2 ms behind a spent turn, then connects with `connect`; resolves with how
 * many units had run when the connection's set-up first showed (`ready` resolved).
 */
async function setUpAfter(count: number, connect: () => Promise<void>): Promise<number> {
  let unitsRun = 0;
  await freshTurn();
  expect(nextTurn()).toBeUndefined();
  busy(SLICE_MS + 1);
  const units: Promise<void>[] = [];
  for (let i = 0; i < count; i++)
    units.push(
      nextTurn()!.then(() => {
        busy(2);
        unitsRun++;
      }),
    );
  let seenAfter = -1;
  const ready = connect().then(() => (seenAfter = unitsRun));
  await Promise.all(units);
  await ready;
  return seenAfter;
}

describe("connections are set up in turns of the loop", () => {
  it("TLS: a connection accepted while a backlog of queued work waits is set up in its place behind it; the handshake and ALPN then as before", async () => {
    listener = await listen({ host: "127.0.0.1", port: 0, handler, tls: { certFile, keyFile } });
    const port = listener.port;
    let socket: tls.TLSSocket | undefined;
    const after = await setUpAfter(100, () => {
      socket = tls.connect({ host: "127.0.0.1", port, servername: "localhost", ca, ALPNProtocols: ["h2", "http/1.1"] });
      socket.on("error", () => {});
      return new Promise<void>((resolve, reject) => socket!.once("secureConnect", () => resolve()).once("error", reject));
    });
    expect(socket!.alpnProtocol).toBe("h2");
    socket!.destroy();
    // Inline (the parent), the handshake finished a few turns after the connect, long before the
    // 100 units (one or two a turn) were done; in turns, only after them.
    expect(after).toBe(100);
    // And a request over the paced connection is served, over h2 and HTTP/1.1.
    const client = http2.connect(`https://localhost:${port}`, { ca });
    try {
      const body = await new Promise<string>((resolve, reject) => {
        const r = client.request({ ":path": "/" });
        let out = "";
        r.setEncoding("utf8");
        r.on("data", (d: string) => (out += d));
        r.on("end", () => resolve(out));
        r.on("error", reject);
      });
      expect(body).toBe("ok");
    } finally {
      client.close();
    }
    const h1 = await fetchH1(port);
    expect(h1).toMatch(/^HTTP\/1\.1 200/);
  });

  it("plaintext: the same order (the behaviour the TLS listener now shares)", async () => {
    listener = await listen({ host: "127.0.0.1", port: 0, handler });
    const port = listener.port;
    let client: net.Socket | undefined;
    const after = await setUpAfter(100, async () => {
      client = net.connect(port, "127.0.0.1");
      client.on("error", () => {});
      client.write("GET / HTTP/1.1\r\nhost: x\r\n\r\n");
      await new Promise<void>((resolve) => client!.once("data", () => resolve()));
    });
    client!.destroy();
    expect(after).toBe(100);
  });
});

/** One HTTP/1.1 request over TLS (ALPN http/1.1): the status line. */
function fetchH1(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: "127.0.0.1", port, servername: "localhost", ca, ALPNProtocols: ["http/1.1"] }, () => {
      s.write("GET / HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n");
    });
    let out = "";
    s.setEncoding("utf8");
    s.on("data", (d: string) => (out += d));
    s.on("end", () => resolve(out));
    s.on("error", reject);
  });
}

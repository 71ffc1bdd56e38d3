import http2 from "node:http2";
import https from "node:https";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { listen, type Listener } from "../../src/server/listener.js";

/**
 * HTTP/2's idle timeout is for idle connections only: a call whose answer takes longer than the
 * timeout (a unary gRPC call waiting on a long generation sends no frames meanwhile) gets its
 * answer, and a session with nothing open is still closed.
 */
let listener: Listener | undefined;
afterEach(async () => {
  listener?.destroyAll();
  await listener?.close();
  listener = undefined;
});

function request(client: http2.ClientHttp2Session): Promise<{ status?: number; body: string; rst?: number }> {
  return new Promise((resolve, reject) => {
    const r = client.request({ ":path": "/slow", ":method": "GET" });
    let status: number | undefined;
    let body = "";
    r.on("response", (h) => (status = Number(h[":status"])));
    r.setEncoding("utf8");
    r.on("data", (d: string) => (body += d));
    r.on("close", () => resolve({ status, body, rst: r.rstCode }));
    r.on("error", reject);
  });
}

describe("HTTP/2 idle timeout", () => {
  it("a call that outlasts the idle timeout gets its answer; an idle session is then closed", async () => {
    const idleMs = 200;
    listener = await listen({
      host: "127.0.0.1",
      port: 0,
      idleTimeoutMs: idleMs,
      // Answers after five idle timeouts with no frame in between.
      handler: (_req, res) => setTimeout(() => res.end("late answer"), idleMs * 5),
    });
    const client = http2.connect(`http://127.0.0.1:${listener.port}`);
    const closed = new Promise<void>((r) => client.once("close", () => r()));
    const res = await request(client);
    expect(res).toEqual({ status: 200, body: "late answer", rst: 0 });
    // Nothing open any more: the server closes the session once it has been idle for the timeout.
    await closed;
    expect(client.destroyed).toBe(true);
  }, 20_000);
});

describe("TLS: HTTP/1.1 idle timeout", () => {
  it("a non-streamed answer that outlasts the idle timeout arrives; an idle connection is then closed", async () => {
    const idleMs = 200;
    listener = await listen({
      host: "127.0.0.1",
      port: 0,
      idleTimeoutMs: idleMs,
      tls: { certFile: fileURLToPath(new URL("../fixtures/tls/localhost.crt", import.meta.url)), keyFile: fileURLToPath(new URL("../fixtures/tls/localhost.key", import.meta.url)) },
      handler: (_req, res) => setTimeout(() => res.end("late answer"), idleMs * 5),
    });
    const result = await new Promise<{ status?: number; body: string; closedAfter: boolean }>((resolve, reject) => {
      const req = https.request({ host: "127.0.0.1", port: listener!.port, path: "/slow", rejectUnauthorized: false, agent: new https.Agent({ keepAlive: true }) }, (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (d: string) => (body += d));
        res.on("end", () => {
          // Keep-alive: the connection stays open after the answer until the server closes it as idle.
          if (socket!.destroyed) resolve({ status: res.statusCode, body, closedAfter: true });
          else socket!.once("close", () => resolve({ status: res.statusCode, body, closedAfter: true }));
        });
      });
      let socket: import("node:net").Socket | undefined;
      req.once("socket", (s) => (socket = s));
      req.on("error", reject);
      req.end();
    });
    expect(result).toEqual({ status: 200, body: "late answer", closedAfter: true });
  }, 20_000);
});

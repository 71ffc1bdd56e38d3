import http from "node:http";
import type { AddressInfo } from "node:net";
import type { Exposition } from "./cluster-metrics.js";

export interface MetricsServer {
  readonly url: string;
  close(): Promise<void>;
}

/**
 * `--metrics-listen HOST:PORT`: GET /metrics on an address of its own, without authentication —
 * bind it to an interface only the scraper reaches. Every other path is 404.
 */
export async function serveMetrics(host: string, port: number, expose: () => Promise<Exposition>): Promise<MetricsServer> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path !== "/metrics") {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found: this address serves GET /metrics only\n");
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET", "content-type": "text/plain" }).end("use GET\n");
      return;
    }
    expose().then(
      (m) => res.writeHead(200, { "content-type": m.contentType, "cache-control": "no-store" }).end(req.method === "HEAD" ? undefined : m.text),
      (err: Error) => res.writeHead(503, { "content-type": "text/plain" }).end(`metrics unavailable: ${err.message}\n`),
    );
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  return {
    url: `http://${addr.address.includes(":") ? `[${addr.address}]` : addr.address}:${addr.port}/metrics`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

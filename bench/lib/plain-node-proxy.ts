/**
 * The reference row for "what Node itself costs": a reverse proxy with no governance at all —
 * node:http in, an undici Pool out, the JSON body parsed and re-serialised both ways as any
 * OpenAI-aware proxy must (to read `model`, to find usage); a streamed answer (SSE) is piped
 * through as it comes, chunk by chunk. Run as its own process by the bench:
 *
 *   node --import tsx bench/lib/plain-node-proxy.ts UPSTREAM_ORIGIN PORT
 *
 * Prints `plain-node-proxy listening on http://127.0.0.1:PORT` once ready.
 */
import http from "node:http";
import { Pool } from "undici";

const [upstream, portArg] = process.argv.slice(2);
if (!upstream || !portArg) {
  console.error("usage: plain-node-proxy.ts UPSTREAM_ORIGIN PORT");
  process.exit(2);
}
const pool = new Pool(upstream, { connections: 128 });

const server = http.createServer((req, res) => {
  const parts: Buffer[] = [];
  req.on("data", (c: Buffer) => parts.push(c));
  req.on("end", () => {
    void (async () => {
      try {
        const body = JSON.parse(Buffer.concat(parts).toString("utf8"));
        const up = await pool.request({
          method: "POST",
          path: req.url ?? "/",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(body),
        });
        if (String(up.headers["content-type"] ?? "").startsWith("text/event-stream")) {
          res.writeHead(up.statusCode, { "content-type": "text/event-stream", "cache-control": "no-cache" });
          for await (const chunk of up.body) res.write(chunk);
          res.end();
          return;
        }
        const out = JSON.stringify(JSON.parse(await up.body.text()));
        res.writeHead(up.statusCode, { "content-type": "application/json", "content-length": Buffer.byteLength(out) });
        res.end(out);
      } catch (e) {
        res.writeHead(502, { "content-type": "application/json" });
        res.end(JSON.stringify({ error: { message: (e as Error).message } }));
      }
    })();
  });
});
server.listen({ port: Number(portArg), host: "127.0.0.1", backlog: 4096 }, () => console.log(`plain-node-proxy listening on http://127.0.0.1:${portArg}`));
const stop = () => server.close(() => void pool.close().then(() => process.exit(0)));
process.on("SIGINT", stop);
process.on("SIGTERM", stop);

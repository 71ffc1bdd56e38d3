import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import http2 from "node:http2";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createGatewayServices, type GatewayServices } from "../../src/cli/compose.js";
import { CONSOLE_CSP, findConsoleDir } from "../../src/server/index.js";
import { startFakeOpenLLM, type FakeOpenLLM } from "../fixtures/fake-openllm.js";
import { MODEL } from "../helpers/harness.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const certFile = join(ROOT, "test/fixtures/tls/localhost.crt");
const keyFile = join(ROOT, "test/fixtures/tls/localhost.key");

interface Answer {
  status: number;
  headers: http2.IncomingHttpHeaders;
  body: string;
}

/** One request over HTTP/2 (h2c, or TLS with ALPN), with Node's own client. */
function h2get(url: string, path: string, opts: { method?: string; headers?: Record<string, string>; ca?: Buffer } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(url, opts.ca ? { ca: opts.ca } : {});
    session.on("error", reject);
    const req = session.request({ ":method": opts.method ?? "GET", ":path": path, ...opts.headers });
    let body = "";
    let headers: http2.IncomingHttpHeaders = {};
    req.on("response", (h) => (headers = h));
    req.setEncoding("utf8");
    req.on("data", (d: string) => (body += d));
    req.on("end", () => {
      session.close();
      resolve({ status: Number(headers[":status"]), headers, body });
    });
    req.on("error", reject);
    req.end();
  });
}

describe("the console's static files on the gateway's own port", () => {
  let fake: FakeOpenLLM;
  const gateways: GatewayServices[] = [];
  let plain: string;
  let tls: string;
  const ca = () => readFileSync(certFile);

  beforeAll(async () => {
    // What `npm ci` (prepare → build:console) makes; built again here so the test sees this tree.
    execFileSync(process.execPath, [join(ROOT, "console/build.mjs")], { stdio: "ignore" });
    fake = await startFakeOpenLLM();
    const dir = mkdtempSync(join(tmpdir(), "kt-console-"));
    writeFileSync(join(dir, "c.yaml"), `providers:\n  targets:\n    - { id: t, provider: "openllm:chat:llama3:8b-instruct", model: ${MODEL}, base_url: "${fake.url}" }\n`);
    const a = await createGatewayServices({ listen: "127.0.0.1:0", configPath: join(dir, "c.yaml"), telemetry: null });
    const b = await createGatewayServices({ listen: "127.0.0.1:0", configPath: join(dir, "c.yaml"), tls: { certFile, keyFile }, telemetry: null });
    gateways.push(a, b);
    plain = a.gateway.url;
    tls = b.gateway.url.replace("127.0.0.1", "localhost");
  });
  afterAll(async () => {
    for (const g of gateways) await g.close({ drainMs: 500 });
    await fake?.close();
  });

  it("finds the built console from the project root", () => {
    expect(findConsoleDir()).toBe(join(ROOT, "console/dist"));
  });

  it("serves the page over HTTP/1.1 with a strict CSP and no external reference", async () => {
    const r = await fetch(`${plain}/console/`);
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(r.headers.get("content-security-policy")).toBe(CONSOLE_CSP);
    expect(CONSOLE_CSP).toContain("script-src 'self'");
    expect(CONSOLE_CSP).not.toMatch(/unsafe|https?:/);
    expect(r.headers.get("x-content-type-options")).toBe("nosniff");
    const html = await r.text();
    expect(html).toContain('<script type="module" src="app.js">');
    expect(html).not.toMatch(/https?:\/\/|<script>|style=/);
    const js = await fetch(`${plain}/console/app.js`);
    expect(js.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    const code = await js.text();
    // The bundle loads nothing from elsewhere: no absolute script/style/font URLs, no eval.
    expect(code).not.toMatch(/import\(\s*["']https?:|fonts\.googleapis|cdn\.|new Function\(|\beval\(/);
    expect((await fetch(`${plain}/console/style.css`)).headers.get("content-type")).toBe("text/css; charset=utf-8");
  });

  it("answers conditional requests, HEAD, redirects /console, refuses other methods and unknown paths", async () => {
    const first = await fetch(`${plain}/console/app.js`);
    const etag = first.headers.get("etag")!;
    expect(etag).toMatch(/^"[\w-]{22}"$/);
    expect((await fetch(`${plain}/console/app.js`, { headers: { "if-none-match": etag } })).status).toBe(304);
    const head = await fetch(`${plain}/console/`, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(Number(head.headers.get("content-length"))).toBeGreaterThan(100);
    const redirect = await fetch(`${plain}/console`, { redirect: "manual" });
    expect(redirect.status).toBe(308);
    expect(redirect.headers.get("location")).toBe("/console/");
    expect((await fetch(`${plain}/console/`, { method: "POST", body: "x" })).status).toBe(405);
    expect((await fetch(`${plain}/console/nope.js`)).status).toBe(404);
    // A raw dot-dot path (fetch would normalise it away) matches no table entry.
    const raw = await h2get(plain, "/console/../package.json");
    expect(raw.status).toBe(404);
    expect((await h2get(plain, "/console/%2e%2e/package.json")).status).toBe(404);
    // The OpenAI shim still owns everything else.
    expect((await fetch(`${plain}/healthz`)).status).toBe(200);
  });

  it("serves the same over h2c and over TLS (h2 through ALPN, and HTTP/1.1)", async () => {
    const h2c = await h2get(plain, "/console/");
    expect(h2c.status).toBe(200);
    expect(h2c.headers["content-security-policy"]).toBe(CONSOLE_CSP);
    expect(h2c.body).toContain("Keeptrusts console");
    const overTls = await h2get(tls, "/console/app.js", { ca: ca() });
    expect(overTls.status).toBe(200);
    expect(overTls.headers["content-type"]).toBe("text/javascript; charset=utf-8");
    const { Agent, fetch: undiciFetch } = await import("undici");
    const h1tls = await undiciFetch(`${tls}/console/`, { dispatcher: new Agent({ connect: { ca: ca() } }) });
    expect(h1tls.status).toBe(200);
    expect(h1tls.headers.get("content-security-policy")).toBe(CONSOLE_CSP);
  });
});

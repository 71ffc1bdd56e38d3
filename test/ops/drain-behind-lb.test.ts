/**
 * SIGTERM behind a load balancer, on the real CLI: /readyz turns 503 at once while new connections
 * are still accepted and served for --drain-delay-seconds (none refused); keep-alive responses carry
 * `connection: close` and HTTP/2 sessions get a GOAWAY; after the delay new connections are refused;
 * every stream in flight finishes with all its chunks; the process exits 0.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import http from "node:http";
import http2 from "node:http2";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { startFakeOpenLLM, type FakeOpenLLM } from "../fixtures/fake-openllm.js";
import { startChildGateway, type ChildGateway } from "../helpers/child-gateway.js";
import { MODEL } from "../helpers/harness.js";

const WORDS = Array.from({ length: 40 }, (_, i) => `w${i}`);

const fakes: FakeOpenLLM[] = [];
const children: ChildGateway[] = [];
afterEach(async () => {
  await Promise.all(children.splice(0).map((c) => c.stop("SIGKILL")));
  await Promise.all(fakes.splice(0).map((f) => f.close()));
});

/** One request over `agent` (or a fresh connection): status, headers, body. */
function request(url: string, path: string, opts: { agent?: http.Agent; body?: unknown } = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      `${url}${path}`,
      { method: opts.body ? "POST" : "GET", agent: opts.agent ?? false, headers: opts.body ? { "content-type": "application/json" } : {} },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (d) => (body += d));
        res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(opts.body ? JSON.stringify(opts.body) : undefined);
  });
}

const chat = (content: string, stream = false, model = "main") => ({ model, messages: [{ role: "user", content }], stream });

async function until<T>(what: string, f: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("drain behind a load balancer", () => {
  it("SIGTERM: readyz 503 at once, new connections served through the delay, then refused; streams finish; exit 0", async () => {
    const fake = await startFakeOpenLLM();
    const quick = await startFakeOpenLLM();
    fakes.push(fake, quick);
    fake.setReply(WORDS.join(" "));
    fake.setBehavior({ kind: "drip", intervalMs: 200 }); // 40 chunks: about 8 s per stream
    const dir = mkdtempSync(join(tmpdir(), "kt-drain-lb-"));
    const file = join(dir, "policy-config.yaml");
    writeFileSync(
      file,
      `providers:
  targets:
    - { id: main, provider: "openllm:chat:llama3:8b-instruct", model: ${MODEL}, base_url: "${fake.url}" }
    - { id: quick, provider: "openllm:chat:mistral:7b-instruct", model: ${MODEL}, base_url: "${quick.url}" }
`,
    );
    const gw = await startChildGateway(file, {}, ["--drain-delay-seconds", "6", "--drain-seconds", "30"]);
    children.push(gw);

    // A keep-alive HTTP/1.1 connection and an HTTP/2 session, both used before the signal.
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    expect((await request(gw.url, "/healthz", { agent })).headers.connection).not.toBe("close");
    const session = http2.connect(gw.url);
    const goaway = new Promise<void>((r) => session.once("goaway", () => r()));
    session.on("error", () => {});
    await new Promise<void>((resolve, reject) => {
      const s = session.request({ ":path": "/healthz" });
      s.on("response", () => s.resume().on("end", resolve));
      s.on("error", reject);
      s.end();
    });

    const streams = [0, 1].map(() => request(gw.url, "/v1/chat/completions", { body: chat("go", true) }));
    await until("both streams upstream", async () => (fake.requests.filter((r) => r.method === "POST").length >= 2 ? true : undefined));

    const t0 = performance.now();
    gw.proc.kill("SIGTERM");
    const ready503 = await until("/readyz 503", async () => ((await request(gw.url, "/readyz").catch(() => undefined))?.status === 503 ? performance.now() - t0 : undefined));
    // Timings are not asserted here (the machine may be loaded); the bench reports them.
    console.log(`drain: /readyz 503 ${ready503.toFixed(0)} ms after SIGTERM`);

    // Inside the delay: fresh connections are accepted and served, none refused.
    for (let i = 0; i < 3; i++) {
      const r = await request(gw.url, "/v1/chat/completions", { body: chat(`late ${i}`, false, "quick") });
      expect(r.status, r.body).toBe(200);
    }
    // The keep-alive connection's next response tells its client to reconnect; the h2 session got a GOAWAY.
    const ka = await request(gw.url, "/healthz", { agent });
    expect(ka.status).toBe(200);
    expect(ka.headers.connection).toBe("close");
    await goaway;
    session.close();

    // After the delay: new connections are refused.
    await until("connections refused", async () => request(gw.url, "/healthz").then(() => undefined, (e: NodeJS.ErrnoException) => (e.code === "ECONNREFUSED" ? true : undefined)), 20_000);

    // The streams that were running finish whole.
    for (const r of await Promise.all(streams)) {
      expect(r.status).toBe(200);
      const data = r.body.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6));
      expect(data.at(-1)).toBe("[DONE]");
      const text = data.filter((d) => d !== "[DONE]").map((d) => JSON.parse(d).choices?.[0]?.delta?.content ?? "").join("");
      expect(text).toBe(WORDS.join(" "));
    }
    expect(await gw.stop("SIGTERM")).toBe(0);
    agent.destroy();
  }, 90_000);
  afterEach((ctx) => {
    if (ctx.task.result?.state === "fail") for (const c of children) console.log(c.stderr());
  });
});

import net from "node:net";
import OpenAI from "openai";
import { afterEach, describe, expect, it } from "vitest";
import { Authenticator } from "../../src/server/index.js";
import { sha256Hex } from "../../src/config/index.js";
import { startFakeOpenLLM, type FakeOpenLLM } from "../fixtures/fake-openllm.js";
import { MODEL, startStack, type Stack } from "../helpers/harness.js";

const stacks: Stack[] = [];
const fakes: FakeOpenLLM[] = [];
afterEach(async () => {
  await Promise.all(stacks.splice(0).map((s) => s.close()));
  await Promise.all(fakes.splice(0).map((f) => f.close()));
});

async function deadPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

describe("API keys", () => {
  it("requires a configured key, sends the target's secret upstream and never the client's key", async () => {
    const stack = await startStack(
      (url) => `auth:
  api_keys:
    - id: team-a
      secret_key_ref: { env: KT_KEY_A }
    - id: ops
      sha256: ${sha256Hex("kt-ops-key")}
      scopes: [admin]
providers:
  targets:
    - id: cloud
      provider: openllm:chat:llama3:8b-instruct
      model: ${MODEL}
      base_url: ${url}
      secret_key_ref: { env: OPENLLM_API_KEY }
`,
      { env: { KT_KEY_A: "kt-team-a-key", OPENLLM_API_KEY: "bento-secret" }, fake: { apiKey: "bento-secret" } },
    );
    stacks.push(stack);
    const req = { model: "cloud", messages: [{ role: "user" as const, content: "hi" }] };
    const missing = await fetch(`${stack.url}/v1/chat/completions`, { method: "POST", body: JSON.stringify(req) });
    expect(missing.status).toBe(401);
    expect(((await missing.json()) as any).error.type).toBe("authentication_error");
    const wrong = await stack.openai({ apiKey: "kt-wrong" }).chat.completions.create(req).catch((e) => e);
    expect(wrong).toBeInstanceOf(OpenAI.AuthenticationError);
    expect(wrong.code).toBe("invalid_api_key");
    expect(JSON.stringify(wrong.error)).not.toContain("kt-wrong");
    const adminOnly = await stack.openai({ apiKey: "kt-ops-key" }).chat.completions.create(req).catch((e) => e);
    expect(adminOnly).toBeInstanceOf(OpenAI.PermissionDeniedError);
    const ok = await stack.openai({ apiKey: "kt-team-a-key" }).chat.completions.create(req);
    expect(ok.choices[0]!.message.content).toBe("You said: hi");
    const upstream = stack.fake.requests.filter((r) => r.method === "POST");
    expect(upstream).toHaveLength(1);
    expect(upstream[0]!.authorization).toBe("Bearer bento-secret");
    expect(JSON.stringify(upstream[0]!.headers)).not.toContain("kt-team-a-key");
  });

  it("refuses a request with two Authorization headers, whatever their case, and serves one with a single header", async () => {
    const stack = await startStack(
      (url) => `auth:
  api_keys:
    - id: team-a
      sha256: ${sha256Hex("kt-team-a-key")}
providers:
  targets:
    - id: cloud
      provider: openllm:chat:llama3:8b-instruct
      model: ${MODEL}
      base_url: ${url}
`,
    );
    stacks.push(stack);
    const body = JSON.stringify({ model: "cloud", messages: [{ role: "user", content: "hi" }] });
    // Raw HTTP/1.1: fetch and the SDK join repeated headers before they are sent.
    const raw = (headers: string[]) =>
      new Promise<string>((resolve, reject) => {
        const u = new URL(stack.url);
        const sock = net.connect(Number(u.port), u.hostname);
        let got = "";
        sock.setEncoding("utf8");
        sock.on("data", (d: string) => (got += d));
        sock.on("end", () => resolve(got));
        sock.on("error", reject);
        sock.write(
          ["POST /v1/chat/completions HTTP/1.1", `Host: ${u.host}`, "Content-Type: application/json", `Content-Length: ${Buffer.byteLength(body)}`, "Connection: close", ...headers, "", body].join("\r\n"),
        );
      });
    const two = await raw(["Authorization: Bearer kt-team-a-key", "authorization: Bearer kt-team-a-key"]);
    expect(two).toMatch(/^HTTP\/1\.1 400 /);
    expect(two).toContain("more than one Authorization header");
    const one = await raw(["AUTHORIZATION: Bearer kt-team-a-key", "X-Authorization: Bearer other"]);
    expect(one).toMatch(/^HTTP\/1\.1 200 /);
    expect(one).toContain("You said: hi");
  });

  it("with no keys configured, serves loopback only", () => {
    const auth = new Authenticator([]);
    expect(auth.authenticate(undefined, "127.0.0.1").keyId).toBe("loopback");
    expect(auth.authenticate(undefined, "::ffff:127.0.0.1").keyId).toBe("loopback");
    expect(() => auth.authenticate("Bearer x", "10.1.2.3")).toThrow(/loopback clients only/);
  });
});

describe("routing", () => {
  it("balances a group by weight and never sends to weight 0", async () => {
    const other = await startFakeOpenLLM();
    const third = await startFakeOpenLLM();
    fakes.push(other, third);
    const stack = await startStack(
      (url) => `providers:
  targets:
    - { id: a, provider: "openllm:chat:llama3:8b-instruct", model: ${MODEL}, base_url: "${url}", weight: 3 }
    - { id: b, provider: "openllm:chat:llama3:8b-instruct", model: ${MODEL}, base_url: "${other.url}", weight: 1 }
    - { id: c, provider: "openllm:chat:llama3:8b-instruct", model: ${MODEL}, base_url: "${third.url}", weight: 0 }
`,
    );
    stacks.push(stack);
    const client = stack.openai();
    for (let i = 0; i < 200; i++) await client.chat.completions.create({ model: "llama3:8b-instruct", messages: [{ role: "user", content: "x" }] });
    const a = stack.fake.requests.filter((r) => r.method === "POST").length;
    const b = other.requests.filter((r) => r.method === "POST").length;
    expect(a + b).toBe(200);
    expect(third.requests.filter((r) => r.method === "POST")).toHaveLength(0);
    // 3:1 expected; binomial(200, 0.75) stays within 120..180 with overwhelming probability
    expect(a).toBeGreaterThan(120);
    expect(a).toBeLessThan(180);
  });

  it("probes health_probe targets, routes around unhealthy ones and answers 503 when none is healthy", async () => {
    const port = await deadPort();
    const stack = await startStack(
      (url) => `providers:
  targets:
    - { id: live, provider: "openllm:chat:llama3:8b-instruct", model: ${MODEL}, base_url: "${url}", health_probe: true }
    - { id: dead, provider: "openllm:chat:llama3:8b-instruct", model: ${MODEL}, base_url: "http://127.0.0.1:${port}/v1", health_probe: true }
    - { id: lonely, provider: "openllm:chat:mistral:7b-instruct", base_url: "http://127.0.0.1:${port}/v1", health_probe: true }
`,
    );
    stacks.push(stack);
    expect(stack.fake.requests.some((r) => r.path === "/v1/models")).toBe(true);
    const client = stack.openai();
    for (let i = 0; i < 10; i++) await client.chat.completions.create({ model: "llama3:8b-instruct", messages: [{ role: "user", content: "x" }] });
    const err = await client.chat.completions.create({ model: "mistral:7b-instruct", messages: [{ role: "user", content: "x" }] }).catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.InternalServerError);
    expect(err.status).toBe(503);
    expect(err.code).toBe("no_healthy_target");
    const dead = stack.services.gateway.runtime().registry.get("dead")!;
    expect(dead.healthy).toBe(false);
    expect(dead.lastProbe?.error).toBe("ECONNREFUSED");
  });

  it("fails over to another target of the group when one refuses connections", async () => {
    const port = await deadPort();
    const stack = await startStack(
      (url) => `providers:
  targets:
    - { id: down, provider: "openllm:chat:llama3:8b-instruct", model: ${MODEL}, base_url: "http://127.0.0.1:${port}/v1", weight: 100 }
    - { id: up, provider: "openllm:chat:llama3:8b-instruct", model: ${MODEL}, base_url: "${url}", weight: 1 }
`,
    );
    stacks.push(stack);
    const client = stack.openai();
    for (let i = 0; i < 5; i++) {
      const r = await client.chat.completions.create({ model: "llama3:8b-instruct", messages: [{ role: "user", content: "x" }] });
      expect(r.choices[0]!.message.content).toBe("You said: x");
    }
  });
});

describe("upstream faults", () => {
  it("maps a refused connection to 502 and a hang past timeout_seconds to 504", async () => {
    const port = await deadPort();
    const stack = await startStack(
      (url) => `providers:
  targets:
    - { id: slow, provider: "openllm:chat:llama3:8b-instruct", model: ${MODEL}, base_url: "${url}", timeout_seconds: 0.5 }
    - { id: gone, provider: "openllm:chat:mistral:7b-instruct", base_url: "http://127.0.0.1:${port}/v1" }
`,
    );
    stacks.push(stack);
    const client = stack.openai();
    const refused = await client.chat.completions.create({ model: "gone", messages: [{ role: "user", content: "x" }] }).catch((e) => e);
    expect(refused.status).toBe(502);
    expect(refused.code).toBe("upstream_unreachable");
    stack.fake.setBehavior("hang");
    const t0 = Date.now();
    const hung = await client.chat.completions.create({ model: "slow", messages: [{ role: "user", content: "x" }] }).catch((e) => e);
    expect(hung.status).toBe(504);
    expect(hung.code).toBe("upstream_timeout");
    expect(Date.now() - t0).toBeLessThan(5000);
    stack.fake.setBehavior("normal");
    const next = await client.chat.completions.create({ model: "slow", messages: [{ role: "user", content: "x" }] });
    expect(next.choices[0]!.message.content).toBe("You said: x");
  });

  it("ends a stream cleanly when the upstream resets, sends garbage or stops without [DONE]", async () => {
    const stack = await startStack(
      (url) => `providers:
  targets:
    - { id: t, provider: "openllm:chat:llama3:8b-instruct", model: ${MODEL}, base_url: "${url}" }
`,
    );
    stacks.push(stack);
    const client = stack.openai();
    for (const behavior of ["reset-mid-stream", "garbage-sse", "no-done"] as const) {
      stack.fake.setBehavior(behavior);
      const outcome = await (async () => {
        const s = await client.chat.completions.create({ model: "t", messages: [{ role: "user", content: "one two three four" }], stream: true });
        for await (const _ of s);
        return "completed";
      })().catch((e) => e);
      expect(outcome, behavior).toBeInstanceOf(OpenAI.APIError);
    }
    stack.fake.setBehavior("normal");
    const r = await client.chat.completions.create({ model: "t", messages: [{ role: "user", content: "x" }] });
    expect(r.choices[0]!.message.content).toBe("You said: x");
  });
});

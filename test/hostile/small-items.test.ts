import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createKeeptrustsClient } from "../../clients/typescript/src/index.js";
import { queryAuditLog } from "../../src/audit/index.js";
import { ConfigError, loadConfigFile, sha256Hex } from "../../src/config/index.js";
import { runKt } from "../helpers/child-gateway.js";
import { MODEL, startStack, type Stack } from "../helpers/harness.js";

const SECRET_MAIL = "victim.person@example.com";

let stack: Stack;
let auditDir = "";
beforeAll(async () => {
  stack = await startStack((url, dir) => {
    auditDir = `${dir}/audit`;
    return `auth:
  api_keys:
    - { id: app, sha256: ${sha256Hex("kt-app")}, scopes: [chat, admin] }
providers:
  targets:
    - id: llama
      provider: openllm:chat:llama3:8b-instruct
      model: ${MODEL}
      base_url: ${url}
policies:
  chain: [pii, audit-logger]
policy:
  pii:
    rules:
      - type: pii_detection
        action: redact
        patterns: [email]
  audit-logger:
    path: ${auditDir}
`;
  });
});
afterAll(() => stack?.close());

/** One raw HTTP/1.1 exchange, for requests no client library will send. */
function raw(request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(stack.services.gateway.port, "127.0.0.1");
    let out = "";
    s.on("data", (d) => (out += d.toString()));
    s.on("end", () => resolve(out));
    s.on("error", reject);
    s.write(request);
  });
}

describe("smaller hostile inputs", () => {
  it("malformed percent-encoding in a path is a 400, not a 500", async () => {
    const r = await fetch(`${stack.url}/v1/models/%E0%A4%A`, { headers: { authorization: "Bearer kt-app" } });
    expect(r.status).toBe(400);
    expect(((await r.json()) as { error: { message: string } }).error.message).toMatch(/malformed percent-encoding/);
  });

  it("two Authorization headers are a 400, over HTTP/1.1 and over Connect", async () => {
    const body = JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "hi" }] });
    const res = await raw(
      `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer nope\r\nAuthorization: Bearer kt-app\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
    expect(res).toMatch(/^HTTP\/1\.1 400 /);
    expect(res).toMatch(/more than one Authorization/);
    const one = await raw(
      `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer kt-app\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
    expect(one).toMatch(/^HTTP\/1\.1 200 /);
    const client = createKeeptrustsClient({
      baseUrl: stack.url,
      protocol: "connect",
      interceptors: [
        (next) => (req) => {
          req.header.append("authorization", "Bearer kt-app");
          req.header.append("authorization", "Bearer other");
          return next(req);
        },
      ],
    });
    const e = await client.chat.listModels({}).catch((err: unknown) => err);
    expect(String(e)).toMatch(/more than one Authorization/);
  });

  it("a model matching no target is recorded as a bounded placeholder with a hash, never verbatim", async () => {
    const hostile = `evil model ${"x".repeat(5000)} \u0000`;
    const r = await fetch(`${stack.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: "Bearer kt-app", "content-type": "application/json" },
      body: JSON.stringify({ model: hostile, messages: [{ role: "user", content: "hi" }] }),
    });
    expect(r.status).toBe(404);
    const msg = ((await r.json()) as { error: { message: string } }).error.message;
    expect(msg.length).toBeLessThan(120);
    await stack.services.auditLog()!.flush?.();
    const recs = (await queryAuditLog(auditDir, {})).events;
    const rec = recs.at(-1)! as unknown as { model: string };
    expect(rec.model).toMatch(/^unknown-model:[0-9a-f]{16}$/);
    expect(JSON.stringify(recs)).not.toContain("evil model");
  });

  it("an upstream's error text passes the response PII rules before the client, the record and ListTargets see it", async () => {
    stack.fake.setBehavior({ kind: "status-500", message: `failed on prompt from ${SECRET_MAIL}` });
    const r = await fetch(`${stack.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: "Bearer kt-app", "content-type": "application/json" },
      body: JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "hi" }] }),
    });
    const text = await r.text();
    expect(r.status).toBe(502);
    expect(text).toContain("[REDACTED:EMAIL]");
    expect(text).not.toContain(SECRET_MAIL);
    stack.fake.setBehavior({ kind: "mid-stream-error", message: `stream broke quoting ${SECRET_MAIL}` });
    const s = await fetch(`${stack.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: "Bearer kt-app", "content-type": "application/json" },
      body: JSON.stringify({ model: MODEL, stream: true, messages: [{ role: "user", content: "hi" }] }),
    });
    const sse = await s.text();
    expect(sse).toContain("[REDACTED:EMAIL]");
    expect(sse).not.toContain(SECRET_MAIL);
    stack.fake.setBehavior("normal");
    const gov = createKeeptrustsClient({ baseUrl: stack.url, apiKey: "kt-app", protocol: "grpc" }).governance;
    const targets = await gov.listTargets({});
    expect(targets.targets[0]!.lastError).toContain("[REDACTED:EMAIL]");
    expect(JSON.stringify(targets.targets, (_k, v) => (typeof v === "bigint" ? String(v) : v))).not.toContain(SECRET_MAIL);
    await stack.services.auditLog()!.flush?.();
    expect(JSON.stringify((await queryAuditLog(auditDir, {})).events)).not.toContain(SECRET_MAIL);
  });

  it("config files are read with a size cap: /dev/zero is refused with a clear error", async () => {
    expect(() => loadConfigFile("/dev/zero")).toThrow(ConfigError);
    expect(() => loadConfigFile("/dev/zero")).toThrow(/larger than 10 MB/);
    expect(() => loadConfigFile("/tmp")).toThrow(/is a directory/);
    const r = await runKt(["config", "validate", "/dev/zero"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr + r.stdout).toMatch(/larger than 10 MB/);
  });
});

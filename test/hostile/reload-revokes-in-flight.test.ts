import http from "node:http";
import { writeFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { queryAuditLog } from "../../src/audit/index.js";
import { sha256Hex } from "../../src/config/index.js";
import { MODEL, startStack, type Stack } from "../helpers/harness.js";

// A key removed by a reload was still served on a call whose headers arrived before the reload
// and whose body after it (up to the request timeout, 300 s): the RPC front door's interceptor
// took the principal the headers had admitted (5bc6261), the OpenAI route the one it had
// authenticated before reading the body. Both now check the call again under the keys in force
// when its body has arrived, if a reload changed them.

const config = (url: string, dir: string, keys: string[]) => `auth:
  api_keys:
${keys.map((k) => `    - { id: ${k}, sha256: ${sha256Hex(`kt-${k}`)}, scopes: [chat] }`).join("\n")}
providers:
  targets:
    - { id: t, provider: "openllm:chat:m", model: "${MODEL}", base_url: "${url}" }
policies:
  chain: [audit-logger]
policy:
  audit-logger: { path: "${dir}/audit", auth_failure_window_seconds: 1 }
`;

describe("a key removed by a reload while a call's body is in flight", () => {
  let stack: Stack;
  let fakeUrl = "";
  let dir = "";
  beforeAll(async () => {
    stack = await startStack((url, d) => {
      fakeUrl = url;
      dir = d;
      return config(url, d, ["k1", "k2"]);
    });
  });
  afterAll(() => stack?.close());

  /** Sends the headers and the first bytes of the body now; the rest when asked. */
  function slow(path: string, key: string, body: string): { finish(): Promise<{ status: number; text: string }> } {
    const whole = Buffer.from(body);
    const req = http.request(`${stack.url}${path}`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer kt-${key}`, "content-length": String(whole.length) } });
    const done = new Promise<{ status: number; text: string }>((resolve, reject) => {
      req.on("response", (res) => {
        let text = "";
        res.on("data", (c) => (text += c));
        res.on("end", () => resolve({ status: res.statusCode!, text }));
      });
      req.on("error", reject);
    });
    req.write(whole.subarray(0, 10));
    return {
      finish: () => {
        req.end(whole.subarray(10));
        return done;
      },
    };
  }

  const body = (content: string) => JSON.stringify({ model: "t", messages: [{ role: "user", content }] });

  it("is refused on every front door, recorded; a key that stays is served", async () => {
    const small = body("hello");
    // A large body too: over 256 KiB the front doors read it into held memory (a pool worker decodes the RPC one).
    const large = body("x".repeat(300 * 1024));
    const calls = {
      rpc: slow("/keeptrusts.v1.ChatService/CreateChatCompletion", "k1", small),
      rpcLarge: slow("/keeptrusts.v1.ChatService/CreateChatCompletion", "k1", large),
      openai: slow("/v1/chat/completions", "k1", small),
      openaiLarge: slow("/v1/chat/completions", "k1", large),
      kept: slow("/keeptrusts.v1.ChatService/CreateChatCompletion", "k2", small),
      keptOpenai: slow("/v1/chat/completions", "k2", small),
    };
    await new Promise((r) => setTimeout(r, 300));
    writeFileSync(stack.configPath, config(fakeUrl, dir, ["k2"]));
    expect((await stack.services.gateway.reload()).ok).toBe(true);
    const before = (await queryAuditLog(`${dir}/audit`, { pageSize: 10000 })).events.length;
    const rpc = await calls.rpc.finish();
    expect(rpc.status).toBe(401);
    expect(JSON.parse(rpc.text)).toMatchObject({ code: "unauthenticated" });
    expect((await calls.rpcLarge.finish()).status).toBe(401);
    const openai = await calls.openai.finish();
    expect(openai.status).toBe(401);
    expect(JSON.parse(openai.text)).toMatchObject({ error: { code: "invalid_api_key" } });
    expect((await calls.openaiLarge.finish()).status).toBe(401);
    expect((await calls.kept.finish()).status).toBe(200);
    expect((await calls.keptOpenai.finish()).status).toBe(200);
    const added = (await queryAuditLog(`${dir}/audit`, { pageSize: 10000 })).events.slice(before) as unknown as Record<string, unknown>[];
    // The first refusal from the address in its window is a record of its own; the rest are counted.
    expect(added.filter((r) => r.errorCode === "KT_ERR_UNAUTHENTICATED" && r.principal === "unauthenticated").length).toBeGreaterThanOrEqual(1);
    expect(added.filter((r) => r.outcome === "ok").map((r) => r.principal)).toEqual(["k2", "k2"]);
    expect(added.some((r) => r.principal === "k1")).toBe(false);
  });
});

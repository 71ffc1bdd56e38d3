import http2 from "node:http2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sha256Hex } from "../../src/config/index.js";
import { H2_MAX_STREAMS } from "../../src/server/listener.js";
import { MODEL, startStack, type Stack } from "../helpers/harness.js";

const HANG = "[please hang]";

let stack: Stack;
beforeAll(async () => {
  stack = await startStack(
    (url) => `auth:
  api_keys:
    - { id: hanger, sha256: ${sha256Hex("kt-hanger")} }
    - { id: other, sha256: ${sha256Hex("kt-other")} }
    - { id: third, sha256: ${sha256Hex("kt-third")} }
providers:
  targets:
    - id: only
      provider: openllm:chat:llama3:8b-instruct
      model: ${MODEL}
      base_url: ${url}
      timeout_seconds: 1
limits:
  max_concurrent_requests: 4
`,
    { fake: { hangOn: HANG } },
  );
});
afterAll(() => stack?.close());

async function ask(key: string, content: string): Promise<number> {
  const r = await fetch(`${stack.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({ model: MODEL, messages: [{ role: "user", content }] }),
  });
  await r.arrayBuffer();
  return r.status;
}

describe("fair sharing", () => {
  it("non-streamed requests over one HTTP/2 connection are bounded in total, and the session advertises a stream limit", async () => {
    const session = http2.connect(stack.url);
    session.on("error", () => {});
    await new Promise<void>((r) => session.once("remoteSettings", () => r()));
    expect(session.remoteSettings.maxConcurrentStreams).toBe(H2_MAX_STREAMS);
    stack.fake.reset();
    const states = Array.from({ length: 7 }, (_, i) =>
      new Promise<number>((resolve) => {
        const req = session.request({ ":method": "POST", ":path": "/v1/chat/completions", authorization: "Bearer kt-third", "content-type": "application/json" });
        req.on("response", (h) => resolve(Number(h[":status"])));
        req.on("error", () => resolve(-1));
        req.on("close", () => resolve(-1));
        req.resume();
        req.end(JSON.stringify({ model: MODEL, messages: [{ role: "user", content: `${HANG} h2 ${i}` }] }));
      }),
    );
    // Four reach the model and hang there (limits.max_concurrent_requests); the rest are told to retry.
    await stack.fake.waitForRequests(4, 10_000);
    // Closing the connection cancels the four (cancelled, not counted against the target).
    session.destroy();
    const all = await Promise.all(states);
    expect(all.filter((s) => s === 429)).toHaveLength(3);
    expect(stack.fake.requests.filter((r) => r.path === "/v1/chat/completions")).toHaveLength(4);
    await stack.fake.waitForAborted(4, 10_000);
    for (let i = 0; i < 100 && stack.services.gateway.pipeline.requests.open > 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(stack.services.gateway.pipeline.requests.open).toBe(0);
    expect(stack.services.gateway.runtime().registry.get("only")!.circuit.consecutiveFailures).toBe(0);
  }, 30_000);

  it("one key's hanging calls open the circuit for that key only; two keys seeing failures open it for all", async () => {
    const circuit = () => stack.services.gateway.runtime().registry.get("only")!.circuit;
    // Five calls of one key time out (the threshold): its own view of the target opens...
    for (let i = 0; i < 5; i++) expect(await ask("kt-hanger", `${HANG} ${i}`)).toBe(504);
    expect(circuit().consecutiveFailures).toBe(5);
    expect(circuit().state).toBe("closed");
    expect(await ask("kt-hanger", "and now?")).toBe(503);
    // ...while every other key is still served by it.
    expect(await ask("kt-other", "hello")).toBe(200);
    expect(await ask("kt-third", "hello")).toBe(200);
    expect(circuit().state).toBe("closed");
    // Failures seen by two keys do open it for everyone.
    for (let i = 0; i < 4; i++) expect(await ask("kt-hanger", i === 0 ? "served again?" : "x")).not.toBe(200);
    const hangerDone = stack.fake.requests.length;
    expect(hangerDone).toBeGreaterThan(0);
    await Promise.all([ask("kt-other", `${HANG} a`), ask("kt-other", `${HANG} b`)]);
    await Promise.all(Array.from({ length: 3 }, (_, i) => ask("kt-third", `${HANG} t${i}`)));
    expect(circuit().state).toBe("open");
    expect(await ask("kt-other", "hello")).toBe(503);
  }, 60_000);

});

import http from "node:http";
import http2 from "node:http2";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { createKeeptrustsClient, type KeeptrustsProtocol } from "../../clients/typescript/src/index.js";
import { queryAuditLog } from "../../src/audit/index.js";
import { sha256Hex } from "../../src/config/index.js";
import { scanPool } from "../../src/policy/pool/index.js";
import { sharedMemorySettled, sharedMemoryStats } from "../../src/wire/index.js";
import { MODEL, startStack, type Stack } from "../helpers/harness.js";
import { cutAt } from "../helpers/pool-cut.js";

// A client that goes away while the upstream's large answer (from 256 KiB: parsed, checked and
// written anew by pool workers, src/policy/held-answer.ts) is in the policy pool: the request is
// recorded as `cancelled`, the jobs it still had waiting are dropped, the answer's pooled memory
// goes back, and the target's circuit does not count it. Before, these jobs carried no
// cancellation: a client gone left the workers parsing and scanning an answer nobody would read,
// and the record said `ok`.
//
// The moment is made exact as in cancel-pool.test.ts: the request's first job of the given kind
// cancels the client, and is submitted only once the request's cancellation has fired (at most
// 3 s later, for a job that carries none).

let stack: Stack;
let auditDir: string;
beforeAll(async () => {
  stack = await startStack((url, dir) => {
    auditDir = `${dir}/audit`;
    return `auth:
  api_keys:
    - { id: app, sha256: ${sha256Hex("kt-app")} }
providers:
  targets:
    - id: llama
      provider: openllm:chat:llama3:8b-instruct
      model: ${MODEL}
      base_url: ${url}
policies:
  chain: [audit-logger, p]
policy:
  audit-logger:
    path: ${auditDir}
  p:
    rules:
      - { type: pii_detection, action: redact, patterns: [email, credit_card, person] }
      - { type: content_filter, action: log, categories: [violence] }
`;
  });
  const line = "The quarterly report from Jane Smith was sent to jane.smith@example.com on Monday. ";
  const content = line.repeat(Math.ceil((600 * 1024) / line.length));
  stack.fake.setBehavior({
    kind: "scripted",
    json: {
      id: "chatcmpl-big",
      object: "chat.completion",
      created: 1744360000,
      model: MODEL,
      choices: [{ index: 0, message: { role: "assistant", content }, logprobs: null, finish_reason: "stop", stop_reason: null }],
      usage: { prompt_tokens: 5, completion_tokens: 150000, total_tokens: 150005 },
    },
    chunks: [],
  });
}, 60_000);
afterAll(() => stack?.close());
afterEach(() => vi.restoreAllMocks());

async function records(): Promise<{ outcome: string; errorCode?: string }[]> {
  await stack.services.auditLog()!.flush?.();
  return (await queryAuditLog(auditDir, { pageSize: 1000 })).events as never;
}

/** The pooled memory no longer changing: what earlier answers held is back. */
async function memorySettled(): Promise<number> {
  let last = -1;
  for (let same = 0, i = 0; same < 5 && i < 500; i++) {
    await new Promise((r) => setTimeout(r, 20));
    await sharedMemorySettled();
    const out = sharedMemoryStats().outBytes;
    same = out === last ? same + 1 : 0;
    last = out;
  }
  return last;
}

async function expectCancelledInPool(kind: string, start: () => () => void): Promise<void> {
  const outBefore = await memorySettled();
  const requestsBefore = stack.fake.requests.length;
  const recordsBefore = (await records()).length;
  const state = stack.services.gateway.runtime().registry.get("llama")!;
  const failuresBefore = state.circuit.totalFailures;
  const completedBefore = { ...scanPool().completedByKind } as Record<string, number>;
  let cancel: () => void = () => {};
  const cut = cutAt(kind, () => cancel());
  cancel = start();
  let rec: { outcome: string; errorCode?: string } | undefined;
  for (let i = 0; i < 200 && !rec; i++) {
    await new Promise((r) => setTimeout(r, 50));
    const all = await records();
    if (all.length > recordsBefore) rec = all.at(-1);
  }
  expect(cut.seen()).toBe(true);
  expect(cut.carried()).toBe(true);
  expect(rec?.outcome).toBe("cancelled");
  expect(rec?.errorCode).toBe("KT_ERR_CANCELLED");
  // The upstream answered once; nothing was retried and the target is not blamed.
  expect(stack.fake.requests.length).toBe(requestsBefore + 1);
  expect(state.circuit.totalFailures).toBe(failuresBefore);
  expect(state.inFlight).toBe(0);
  // The cut job was dropped before a worker ran it, and nothing of the request is left in the pool.
  for (let i = 0; i < 200 && (scanPool().queued > 0 || scanPool().running > 0); i++) await new Promise((r) => setTimeout(r, 50));
  expect(scanPool().queued).toBe(0);
  expect((scanPool().completedByKind as Record<string, number>)[kind] ?? 0).toBe(completedBefore[kind] ?? 0);
  // The answer's pooled memory is back.
  expect(await memorySettled()).toBe(outBefore);
}

const ask = () => JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "tell me a long story" }] });

function h1(): () => void {
  const req = http.request(`${stack.url}/v1/chat/completions`, { method: "POST", headers: { authorization: "Bearer kt-app", "content-type": "application/json" } });
  req.on("error", () => {});
  req.on("response", (res) => res.resume());
  req.end(ask());
  return () => void req.destroy();
}

function h2(how: "reset" | "session"): () => void {
  const session = http2.connect(stack.url);
  session.on("error", () => {});
  const req = session.request({ ":method": "POST", ":path": "/v1/chat/completions", authorization: "Bearer kt-app", "content-type": "application/json" });
  req.on("error", () => {});
  req.on("data", () => {});
  req.end(ask());
  return () => {
    if (how === "reset") req.close(http2.constants.NGHTTP2_CANCEL);
    session.destroy();
  };
}

function rpc(protocol: KeeptrustsProtocol, httpVersion?: "1.1"): () => void {
  const ac = new AbortController();
  const client = createKeeptrustsClient({ baseUrl: stack.url, apiKey: "kt-app", protocol, httpVersion });
  client.chat.createChatCompletion({ model: MODEL, messages: [{ role: "user", content: "tell me a long story" }] }, { signal: ac.signal }).catch(() => {});
  return () => ac.abort();
}

describe.each([
  ["while the answer is parsed", "parse-answer"],
  ["while the response rules run", "answer-chain"],
] as const)("a client gone with a large answer in the policy pool, %s", { timeout: 60_000 }, (_name, kind) => {
  it("OpenAI route over HTTP/1.1: the client closes its socket", async () => {
    await expectCancelledInPool(kind, () => h1());
  });

  it("OpenAI route over h2: the client resets the stream", async () => {
    await expectCancelledInPool(kind, () => h2("reset"));
  });

  it("OpenAI route over h2: the client closes the session", async () => {
    await expectCancelledInPool(kind, () => h2("session"));
  });

  it.each(["grpc", "connect", "grpc-web"] as const)("ChatService over %s: the client aborts the call", async (protocol) => {
    await expectCancelledInPool(kind, () => rpc(protocol));
  });

  it("ChatService over Connect on HTTP/1.1: the client aborts the call", async () => {
    await expectCancelledInPool(kind, () => rpc("connect", "1.1"));
  });
});

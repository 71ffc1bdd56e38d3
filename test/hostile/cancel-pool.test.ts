import http from "node:http";
import http2 from "node:http2";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { createKeeptrustsClient, type KeeptrustsProtocol } from "../../clients/typescript/src/index.js";
import { queryAuditLog } from "../../src/audit/index.js";
import { sha256Hex } from "../../src/config/index.js";
import { scanPool } from "../../src/policy/pool/index.js";
import { MODEL, startStack, type Stack } from "../helpers/harness.js";
import { cutAt } from "../helpers/pool-cut.js";

// A client that goes away while its request is in the policy pool (a large body parsed there, or
// its rules run there): the request is recorded as `cancelled`, the upstream is never called, and
// the target's circuit does not count it. Every front door and protocol, streamed and not, a held
// body (from 256 KiB: parsed, or decoded, by a worker) and a smaller one whose rules a worker runs.
//
// The moment is made exact: the pool's `run` is wrapped so that the request's first job of the
// given kind cancels the client, then waits until the request's cancellation has fired before
// the job is submitted. (Before the fix the job carried no cancellation, and the wrapper let it go
// after 3 s; the shim's listener, attached only after the body was parsed, never heard the close.)

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
`;
  });
  stack.fake.setBehavior("hang");
}, 60_000);
afterAll(() => stack?.close());
afterEach(() => vi.restoreAllMocks());

const prose = "The quarterly report from Jane Smith was sent to the board on Monday. ";
/** Held (parsed by a worker) from 256 KiB; the small one's 64 KiB of text is still scanned by one. */
const SIZES = { held: 600 * 1024, small: 64 * 1024 } as const;
const text = (bytes: number) => prose.repeat(Math.ceil(bytes / prose.length));
const body = (bytes: number, stream: boolean) => JSON.stringify({ model: MODEL, stream, messages: [{ role: "user", content: text(bytes) }] });

async function records(): Promise<{ outcome: string; errorCode?: string }[]> {
  await stack.services.auditLog()!.flush?.();
  return (await queryAuditLog(auditDir, { pageSize: 1000 })).events as never;
}

/** Starts a call (`start` returns its cancel), cuts it at the first job of `kind`, and checks what followed. */
async function expectCancelledInPool(kind: string, start: () => () => void): Promise<void> {
  const requestsBefore = stack.fake.requests.length;
  const recordsBefore = (await records()).length;
  const state = stack.services.gateway.runtime().registry.get("llama")!;
  const failuresBefore = state.circuit.totalFailures;
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
  expect(rec?.outcome).toBe("cancelled");
  expect(rec?.errorCode).toBe("KT_ERR_CANCELLED");
  // Not called at all: the request never got past the pool.
  expect(stack.fake.requests.length).toBe(requestsBefore);
  expect(state.circuit.totalFailures).toBe(failuresBefore);
  expect(state.inFlight).toBe(0);
  // Nothing of the request is left in the pool.
  for (let i = 0; i < 200 && (scanPool().queued > 0 || scanPool().running > 0); i++) await new Promise((r) => setTimeout(r, 50));
  expect(scanPool().queued).toBe(0);
}

function h1(bytes: number, stream: boolean): () => void {
  const req = http.request(`${stack.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: "Bearer kt-app", "content-type": "application/json" },
  });
  req.on("error", () => {});
  req.on("response", (res) => res.resume());
  req.end(body(bytes, stream));
  return () => void req.destroy();
}

function h2(bytes: number, stream: boolean, how: "reset" | "session"): () => void {
  const session = http2.connect(stack.url);
  session.on("error", () => {});
  const req = session.request({ ":method": "POST", ":path": "/v1/chat/completions", authorization: "Bearer kt-app", "content-type": "application/json" });
  req.on("error", () => {});
  req.on("data", () => {});
  req.end(body(bytes, stream));
  return () => {
    if (how === "reset") req.close(http2.constants.NGHTTP2_CANCEL);
    session.destroy();
  };
}

function rpc(protocol: KeeptrustsProtocol, bytes: number, stream: boolean, httpVersion?: "1.1"): () => void {
  const ac = new AbortController();
  const client = createKeeptrustsClient({ baseUrl: stack.url, apiKey: "kt-app", protocol, httpVersion });
  const req = { model: MODEL, messages: [{ role: "user", content: text(bytes) }] };
  const call = stream
    ? (async () => {
        for await (const _ of client.chat.streamChatCompletion(req, { signal: ac.signal }));
      })()
    : client.chat.createChatCompletion(req, { signal: ac.signal });
  call.catch(() => {});
  return () => ac.abort();
}

describe.each([false, true])("a client gone while its request is in the policy pool (stream: %s)", (stream) => {
  // The first job: a held body's parse (OpenAI) or decode (RPC); a smaller body's chain. Then a held body's rules.
  const cases = [
    ["held body, while it is parsed", SIZES.held, "parse-body", "module"],
    ["held body, while its rules run", SIZES.held, "body-chain", "body-chain"],
    ["smaller body, while its rules run", SIZES.small, "chain", "chain"],
  ] as const;

  describe.each(cases)("%s", (_name, bytes, openAiKind, rpcKind) => {
    it("OpenAI route over HTTP/1.1: the client closes its socket", async () => {
      await expectCancelledInPool(openAiKind, () => h1(bytes, stream));
    });

    it("OpenAI route over h2: the client resets the stream", async () => {
      await expectCancelledInPool(openAiKind, () => h2(bytes, stream, "reset"));
    });

    it("OpenAI route over h2: the client closes the session", async () => {
      await expectCancelledInPool(openAiKind, () => h2(bytes, stream, "session"));
    });

    it.each(["grpc", "connect", "grpc-web"] as const)("ChatService over %s: the client aborts the call", async (protocol) => {
      await expectCancelledInPool(rpcKind, () => rpc(protocol, bytes, stream));
    });

    it("ChatService over Connect on HTTP/1.1: the client aborts the call", async () => {
      await expectCancelledInPool(rpcKind, () => rpc("connect", bytes, stream, "1.1"));
    });
  });
});

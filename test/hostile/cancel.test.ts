import http from "node:http";
import http2 from "node:http2";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createKeeptrustsClient, type KeeptrustsProtocol } from "../../clients/typescript/src/index.js";
import { queryAuditLog } from "../../src/audit/index.js";
import { sha256Hex } from "../../src/config/index.js";
import { MODEL, startStack, type Stack } from "../helpers/harness.js";

// Every front door and protocol, streamed and not: the client goes away while the model is still
// generating; the fake upstream must see its request aborted, the record must say `cancelled`,
// and the target's circuit must not count it.

let stack: Stack;
let auditDir: string;
beforeAll(async () => {
  stack = await startStack(
    (url, dir) => {
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
  chain: [audit-logger]
policy:
  audit-logger:
    path: ${auditDir}
`;
    },
  );
});
afterAll(() => stack?.close());
beforeEach(() => {
  stack.fake.reset();
  // Non-streamed calls hang (the model "generates"); streamed ones drip a chunk every 100 ms for long.
  stack.fake.setBehavior("hang");
});

const body = (stream: boolean) => JSON.stringify({ model: MODEL, stream, messages: [{ role: "user", content: "write a long story" }] });

async function lastRecord(): Promise<{ outcome: string; errorCode?: string }> {
  await stack.services.auditLog()!.flush?.();
  for (let i = 0; i < 50; i++) {
    const r = await queryAuditLog(auditDir, {});
    const last = r.events.at(-1);
    if (last && (last as { outcome: string }).outcome !== "ok") return last as never;
    await new Promise((res) => setTimeout(res, 50));
  }
  const r = await queryAuditLog(auditDir, {});
  return r.events.at(-1) as never;
}

/**
 * Starts a call with `start` (which returns its cancel), waits until the fake is generating for it,
 * cancels, and checks what followed.
 */
async function expectCancelled(stream: boolean, start: () => () => void | Promise<void>): Promise<void> {
  const before = stack.fake.aborted;
  const state = stack.services.gateway.runtime().registry.get("llama")!;
  const failuresBefore = state.circuit.totalFailures;
  stack.fake.setBehavior(stream ? { kind: "drip", intervalMs: 100, chunks: 10_000 } : "hang");
  const cancel = start();
  try {
    await stack.fake.waitForRequests(1, 10_000);
    // For a stream, let a few chunks reach the client first.
    if (stream) await new Promise((r) => setTimeout(r, 250));
    await cancel();
    await stack.fake.waitForAborted(before + 1, 10_000);
  } finally {
    await cancel();
  }
  const rec = await lastRecord();
  expect(rec.outcome).toBe("cancelled");
  expect(rec.errorCode).toBe("KT_ERR_CANCELLED");
  expect(state.circuit.totalFailures).toBe(failuresBefore);
  expect(state.circuit.state).toBe("closed");
  expect(state.inFlight).toBe(0);
}

function h2(): http2.ClientHttp2Session {
  const s = http2.connect(stack.url);
  s.on("error", () => {});
  return s;
}

function h2Request(session: http2.ClientHttp2Session, stream: boolean): http2.ClientHttp2Stream {
  const req = session.request({
    ":method": "POST",
    ":path": "/v1/chat/completions",
    authorization: "Bearer kt-app",
    "content-type": "application/json",
  });
  req.on("error", () => {});
  req.on("data", () => {});
  req.end(body(stream));
  return req;
}

const rpc = (protocol: KeeptrustsProtocol, stream: boolean) => () => {
  const ac = new AbortController();
  const client = createKeeptrustsClient({ baseUrl: stack.url, apiKey: "kt-app", protocol });
  const req = { model: MODEL, messages: [{ role: "user", content: "write a long story" }] };
  const call = stream
    ? (async () => {
        for await (const _ of client.chat.streamChatCompletion(req, { signal: ac.signal }));
      })()
    : client.chat.createChatCompletion(req, { signal: ac.signal });
  call.catch(() => {});
  return () => ac.abort();
};

describe.each([false, true])("a client's cancel reaches the upstream (stream: %s)", (stream) => {
  it("OpenAI route over HTTP/1.1: the client closes its socket", async () => {
    await expectCancelled(stream, () => {
      const req = http.request(`${stack.url}/v1/chat/completions`, {
        method: "POST",
        headers: { authorization: "Bearer kt-app", "content-type": "application/json" },
      });
      req.on("error", () => {});
      req.on("response", (res) => res.resume());
      req.end(body(stream));
      return () => void req.destroy();
    });
  });

  it("OpenAI route over h2: the client resets the stream (RST_STREAM CANCEL)", async () => {
    const session = h2();
    await expectCancelled(stream, () => {
      const req = h2Request(session, stream);
      return () => void req.close(http2.constants.NGHTTP2_CANCEL);
    }).finally(() => session.destroy());
  });

  it("OpenAI route over h2: the client closes the session", async () => {
    await expectCancelled(stream, () => {
      const session = h2();
      h2Request(session, stream);
      return () => void session.destroy();
    });
  });

  it("OpenAI route over h2: the client sends GOAWAY with an error code", async () => {
    const session = h2();
    await expectCancelled(stream, () => {
      h2Request(session, stream);
      return () => {
        if (!session.destroyed && !session.closed) session.goaway(http2.constants.NGHTTP2_CANCEL);
      };
    }).finally(() => session.destroy());
  });

  it.each(["grpc", "connect", "grpc-web"] as const)("ChatService over %s: the client aborts the call", async (protocol) => {
    await expectCancelled(stream, rpc(protocol, stream));
  });
});

import { Worker } from "node:worker_threads";
import { create, toBinary } from "@bufbuild/protobuf";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { ChatCompletionRequestSchema } from "../../gen/keeptrusts/v1/chat_pb.js";
import { queryAuditLog } from "../../src/audit/index.js";
import { sha256Hex } from "../../src/config/index.js";
import { nextTurn, SLICE_MS, type CallContext, type Operation } from "../../src/wire/index.js";
import { MODEL, startStack, type Stack } from "../helpers/harness.js";

// A client that cancels while its request waits behind a backlog (issue #13, round 14). Under
// load the gateway handles hundreds of arrivals in one poll phase of its loop (seconds of wall
// time on a loaded machine); a request arriving then queues for its turn (src/wire/loop-turns.ts),
// and was let go in the check phase right after that poll — before the loop read what came
// meanwhile, its client's RST_STREAM or closed socket. It was sent upstream and cancelled a turn
// later (the outside battery: 11 of 11 gRPC streams, 32 of 35 Connect h2 streams sent upstream
// after the client's abort at N=300).
//
// The moment is made exact: the client runs in a worker thread (an event loop of its own), and
// the pipeline's `run` is wrapped so that on entry the client cancels while the gateway's thread
// is held (Atomics.wait) until the client's stream or socket has closed: the cancel is then in
// the gateway's socket, unread. The wrapper then spends the turn's slice, so the request queues
// for its turn, as under a backlog. Asserted: the upstream never sees the request, the record
// says `cancelled`, the target is not blamed.

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
  chain: [audit-logger]
policy:
  audit-logger:
    path: ${auditDir}
`;
  });
}, 60_000);
afterAll(() => stack?.close());
afterEach(() => vi.restoreAllMocks());

function busy(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

async function records(): Promise<{ outcome: string; errorCode?: string }[]> {
  await stack.services.auditLog()!.flush?.();
  return (await queryAuditLog(auditDir, { pageSize: 1000 })).events as never;
}

type Call = { path: string; headers: Record<string, string>; body: Uint8Array; transport: "h1" | "h2" };

const chatJson = (stream: boolean) => new TextEncoder().encode(JSON.stringify({ model: MODEL, stream, messages: [{ role: "user", content: "tell me a story" }] }));
const chatProto = () => toBinary(ChatCompletionRequestSchema, create(ChatCompletionRequestSchema, { model: MODEL, messages: [{ role: "user", content: "tell me a story" }] }));
function envelope(message: Uint8Array): Uint8Array {
  const out = new Uint8Array(5 + message.length);
  new DataView(out.buffer).setUint32(1, message.length);
  out.set(message, 5);
  return out;
}
const auth = { authorization: "Bearer kt-app" };
const rpcPath = (stream: boolean) => `/keeptrusts.v1.ChatService/${stream ? "StreamChatCompletion" : "CreateChatCompletion"}`;

const calls: Record<string, (stream: boolean) => Call> = {
  "OpenAI route over HTTP/1.1 (socket closed)": (stream) => ({ path: "/v1/chat/completions", headers: { ...auth, "content-type": "application/json" }, body: chatJson(stream), transport: "h1" }),
  "OpenAI route over h2 (RST_STREAM)": (stream) => ({ path: "/v1/chat/completions", headers: { ...auth, "content-type": "application/json" }, body: chatJson(stream), transport: "h2" }),
  "ChatService over gRPC (RST_STREAM)": (stream) => ({ path: rpcPath(stream), headers: { ...auth, "content-type": "application/grpc+proto", te: "trailers" }, body: envelope(chatProto()), transport: "h2" }),
  "ChatService over Connect on h2 (RST_STREAM)": (stream) =>
    stream
      ? { path: rpcPath(true), headers: { ...auth, "content-type": "application/connect+proto", "connect-protocol-version": "1" }, body: envelope(chatProto()), transport: "h2" }
      : { path: rpcPath(false), headers: { ...auth, "content-type": "application/proto", "connect-protocol-version": "1" }, body: chatProto(), transport: "h2" },
  "ChatService over gRPC-Web (socket closed)": (stream) => ({ path: rpcPath(stream), headers: { ...auth, "content-type": "application/grpc-web+proto", "x-grpc-web": "1" }, body: envelope(chatProto()), transport: "h1" }),
};

async function expectNotForwarded(call: Call): Promise<void> {
  const pipeline = stack.services.gateway.pipeline;
  const state = stack.services.gateway.runtime().registry.get("llama")!;
  const failuresBefore = state.circuit.totalFailures;
  const recordsBefore = (await records()).length;
  const flag = new SharedArrayBuffer(4);
  const worker = new Worker(new URL("../helpers/cancel-client-worker.mjs", import.meta.url), { workerData: { url: stack.url, ...call, flag } });
  const requestsBefore = stack.fake.requests.length;
  let entered = false;
  const original = pipeline.run.bind(pipeline);
  vi.spyOn(pipeline, "run").mockImplementation((op: Operation, body: unknown, ctx: CallContext) => {
    if (!entered) {
      entered = true;
      worker.postMessage("cancel");
      // The gateway's thread waits while the client cancels: the cancel is in its socket, unread.
      Atomics.wait(new Int32Array(flag), 0, 0, 10_000);
      // This turn has spent its slice: the request queues for its turn, as behind a backlog.
      nextTurn();
      busy(SLICE_MS + 1);
    }
    return original(op, body, ctx);
  });
  try {
    let rec: { outcome: string; errorCode?: string } | undefined;
    for (let i = 0; i < 200 && !rec; i++) {
      await new Promise((r) => setTimeout(r, 50));
      const all = await records();
      if (all.length > recordsBefore) rec = all.at(-1);
    }
    expect(entered).toBe(true);
    expect(Atomics.load(new Int32Array(flag), 0)).toBe(1);
    expect(rec?.outcome).toBe("cancelled");
    expect(rec?.errorCode).toBe("KT_ERR_CANCELLED");
    // The upstream never saw it: not sent, not sent and cancelled.
    expect(stack.fake.requests.length).toBe(requestsBefore);
    expect(state.circuit.totalFailures).toBe(failuresBefore);
    expect(state.inFlight).toBe(0);
  } finally {
    worker.postMessage("end");
    await worker.terminate();
  }
}

describe.each([false, true])("a client that cancels while its request waits its turn behind a backlog (stream: %s)", (stream) => {
  beforeAll(async () => {
    // A warm connection to the upstream: a request let go is written to it at once.
    stack.fake.setBehavior("normal");
    const res = await fetch(`${stack.url}/v1/chat/completions`, { method: "POST", headers: { ...auth, "content-type": "application/json" }, body: chatJson(false) });
    expect(res.status).toBe(200);
    stack.fake.setBehavior("hang");
  });

  it.each(Object.keys(calls))("%s: the upstream is never called", async (name) => {
    await expectNotForwarded(calls[name]!(stream));
  });
});

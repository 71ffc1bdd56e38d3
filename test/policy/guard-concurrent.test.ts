/**
 * The request-side guard model runs concurrently with the upstream call, over real sockets: a fake
 * guard model (a real HTTP server speaking vLLM's chat-completions wire format and the guard
 * model's own template and verdicts) and the fake OpenLLM. Ordering is asserted, never time: the
 * guard answers only once the upstream has the request (a gateway that called them one after the
 * other would wait for a verdict that never comes and fail closed), an unsafe verdict aborts the
 * upstream, and no byte reaches the client before the verdict. The latency figure (a 300 ms guard
 * and a 500 ms model answer in about 500 ms) is measured by bench/guard-concurrency.ts.
 */
import OpenAI from "openai";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { FakeOpenLLM } from "../fixtures/fake-openllm.js";
import { GUARD_MODELS, startFakeGuardServer, type Kind } from "../fixtures/fake-guard-model.js";
import { MODEL, startStack, type Stack } from "../helpers/harness.js";

const harmful = (t: string) => /\bbomb\b/i.test(t);

function config(guardUrl: string, kind: Kind, extra = ""): (url: string, dir: string) => string {
  return (url, dir) => `providers:
  targets:
    - { id: t, provider: "openllm:chat:llama3:8b-instruct", model: ${MODEL}, base_url: "${url}" }
    - { id: guard, provider: "openllm:chat:guard", model: ${GUARD_MODELS[kind]}, base_url: "${guardUrl}", timeout_seconds: 10 }
policies:
  chain: [safety, audit-logger]
policy:
  safety:
    rules:
      - { type: content_filter, id: guard-model, engine: ${kind}, target: guard, categories: [violence, hate], apply_to: request${extra} }
  audit-logger: { path: "${dir}/audit" }
`;
}

const posts = (f: FakeOpenLLM) => f.requests.filter((r) => r.method === "POST");

/** Resolves once the upstream has received a completion request. */
async function upstreamHasRequest(f: FakeOpenLLM): Promise<void> {
  while (posts(f).length === 0) await f.waitForRequests(f.requests.length + 1, 30_000);
}

/** Resolves once the upstream has sent a whole answer (its stream included) and holds no request open. */
async function upstreamDone(f: FakeOpenLLM): Promise<void> {
  while (f.answered.length === 0 || f.inFlight > 0) await new Promise((r) => setTimeout(r, 5));
}

for (const kind of ["llama_guard", "shieldgemma", "granite_guardian"] as Kind[]) {
  describe(`${kind} as a guard model called concurrently with the upstream`, () => {
    let guard: FakeOpenLLM;
    let stack: Stack;
    beforeAll(async () => {
      guard = await startFakeGuardServer(kind, (t) => harmful(t));
      stack = await startStack(config(guard.url, kind));
    });
    afterAll(async () => {
      await stack.close();
      await guard.close();
    });
    afterEach(() => {
      guard.setGate(null);
      stack.fake.setGate(null);
      stack.fake.setLatency(0);
      guard.reset();
      stack.fake.reset();
    });

    it("a safe request: the upstream has the request before the guard answers; the answer is the upstream's", async () => {
      // The guard answers only once the upstream holds the request: in sequence this never happens.
      guard.setGate(() => upstreamHasRequest(stack.fake));
      const r = await stack.openai().chat.completions.create({ model: "t", messages: [{ role: "user", content: "how do I bake bread" }] });
      expect(r.choices[0]!.message.content).toBe("You said: how do I bake bread");
      // The guard received the request in its own format (one call per risk or policy for the Yes/No models).
      expect(posts(guard).length).toBeGreaterThanOrEqual(1);
      for (const g of posts(guard)) expect((g.body as { model: string }).model).toBe(GUARD_MODELS[kind]);
      // The upstream's request went out before any guard answer was given.
      const firstAnswer = Math.min(...guard.answered.map((a) => a.at));
      expect(posts(stack.fake)[0]!.receivedAt).toBeLessThanOrEqual(firstAnswer);
    });

    it("an unsafe request: the upstream is aborted, its answer discarded, the client gets the block", async () => {
      // The upstream would answer only after the verdict; the guard answers once the upstream has the request.
      let released = false;
      stack.fake.setGate(async () => {
        await new Promise<void>((resolve) => {
          const t = setInterval(() => released && (clearInterval(t), resolve()), 5);
        });
      });
      guard.setGate(() => upstreamHasRequest(stack.fake));
      const err = await stack.openai().chat.completions.create({ model: "t", messages: [{ role: "user", content: "how do I build a bomb" }] }).catch((e) => e);
      released = true;
      expect(err).toBeInstanceOf(OpenAI.BadRequestError);
      expect(err.code).toBe("content_blocked");
      expect(err.message).not.toContain("bomb");
      // The upstream had the request, and the gateway closed it before it answered.
      await stack.fake.waitForAborted(1);
      expect(posts(stack.fake)).toHaveLength(1);
      expect(stack.fake.answered).toHaveLength(0);
      const log = stack.services.auditLog()!;
      await log.flush();
      const { events } = await log.query({});
      const last = events[events.length - 1]!;
      expect(last).toMatchObject({ outcome: "blocked", decision: "block", errorCode: "KT_ERR_POLICY_BLOCKED", rulesFired: ["safety/guard-model"] });
      expect(last.events[0]).toMatchObject({ engine: kind, action: "block", phase: "request", verdict: { score: 1, threshold: 1 } });
    });

    it("a stream: nothing reaches the client before the verdict; unsafe ends it as a plain HTTP error", async () => {
      // The guard answers only after the upstream has streamed its whole answer: a gateway that
      // forwarded the stream before the verdict would have delivered it all by then.
      const order: string[] = [];
      guard.setGate(async () => {
        await upstreamDone(stack.fake);
        order.push("verdict");
      });
      // A text not judged before (a cached verdict would need no guard call).
      const s = await stack.openai().chat.completions.create({ model: "t", stream: true, messages: [{ role: "user", content: "how do I bake rye bread" }] });
      let text = "";
      for await (const c of s) {
        if (order.length === 0 || order[order.length - 1] === "verdict") order.push("chunk");
        text += c.choices[0]?.delta?.content ?? "";
      }
      expect(text).toBe("You said: how do I bake rye bread");
      expect(order[0]).toBe("verdict");
      expect(order).toContain("chunk");

      guard.reset();
      stack.fake.reset();
      const err = await stack
        .openai()
        .chat.completions.create({ model: "t", stream: true, messages: [{ role: "user", content: "how do I build a bomb quickly" }] })
        .then(async (st) => {
          for await (const _ of st) order.push("leaked");
          return undefined;
        })
        .catch((e) => e);
      expect(err).toBeInstanceOf(OpenAI.BadRequestError);
      expect(err.code).toBe("content_blocked");
      expect(order).not.toContain("leaked");
      // The upstream had streamed its whole answer; the gateway read it and threw it away.
      expect(stack.fake.answered).toHaveLength(1);
    });
  });
}

describe("a guard model that gives no verdict", () => {
  let guard: FakeOpenLLM;
  let stack: Stack;
  beforeAll(async () => {
    guard = await startFakeGuardServer("llama_guard", () => false);
    guard.setBehavior("status-503");
    stack = await startStack(config(guard.url, "llama_guard", ", fail_open: true"));
  });
  afterAll(async () => {
    await stack.close();
    await guard.close();
  });

  it("fails open when configured, and the record says so", async () => {
    const r = await stack.openai().chat.completions.create({ model: "t", messages: [{ role: "user", content: "hello there" }] });
    expect(r.choices[0]!.message.content).toBe("You said: hello there");
    expect(posts(guard).length).toBeGreaterThanOrEqual(1);
    const log = stack.services.auditLog()!;
    await log.flush();
    const { events } = await log.query({});
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ outcome: "ok", decision: "log", rulesFired: ["safety/guard-model"] });
    expect(events[0]!.events[0]).toMatchObject({ engine: "llama_guard", failedOpen: true, phase: "request" });
  });
});

describe("a guard model that gives no verdict, failing closed", () => {
  let guard: FakeOpenLLM;
  let stack: Stack;
  beforeAll(async () => {
    guard = await startFakeGuardServer("llama_guard", () => false);
    stack = await startStack(config(guard.url, "llama_guard"));
  });
  afterAll(async () => {
    await stack.close();
    await guard.close();
  });

  it("answers 503 and cancels the upstream; the record names the engine and failedOpen: false", async () => {
    stack.fake.setGate(() => new Promise(() => {}));
    // The guard fails only once the upstream holds the request.
    guard.setGate(() => upstreamHasRequest(stack.fake));
    guard.setBehavior("status-500");
    const err = await stack.openai().chat.completions.create({ model: "t", messages: [{ role: "user", content: "hello there" }] }).catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect(err.status).toBe(503);
    await stack.fake.waitForAborted(1);
    const log = stack.services.auditLog()!;
    await log.flush();
    const { events } = await log.query({});
    expect(events[0]).toMatchObject({ outcome: "error", decision: "block", errorCode: "KT_ERR_POLICY_ENGINE_UNAVAILABLE" });
    expect(events[0]!.events[0]).toMatchObject({ engine: "llama_guard", action: "block", failedOpen: false });
  });
});

describe("a guard model judging an incremental stream in windows, over real sockets", () => {
  let guard: FakeOpenLLM;
  let stack: Stack;
  const story = "Once upon a time a curious fox wandered through the quiet forest looking for berries near the old river bank.";
  beforeAll(async () => {
    guard = await startFakeGuardServer("llama_guard", (t) => (/\bbomb\b/i.test(t) ? ["S1", "S9"] : false));
    stack = await startStack(
      (url, dir) => `providers:
  targets:
    - { id: t, provider: "openllm:chat:llama3:8b-instruct", model: ${MODEL}, base_url: "${url}" }
    - { id: guard, provider: "openllm:chat:guard", model: ${GUARD_MODELS.llama_guard}, base_url: "${guard.url}" }
streaming: { mode: incremental }
policies:
  chain: [safety, audit-logger]
policy:
  safety:
    rules:
      - { type: content_filter, id: windows, engine: llama_guard, target: guard, categories: [violence], apply_to: response, stream_window_tokens: 8 }
  audit-logger: { path: "${dir}/audit" }
`,
      { fake: { chunkDelayMs: 2 } },
    );
  });
  afterAll(async () => {
    await stack.close();
    await guard.close();
  });

  it("a safe answer goes out window by window, each window after its verdict", async () => {
    stack.fake.setReply(story);
    const order: string[] = [];
    guard.setGate(async () => {
      order.push("verdict");
    });
    const s = await stack.openai().chat.completions.create({ model: "t", stream: true, messages: [{ role: "user", content: "tell me a story" }] });
    let text = "";
    for await (const c of s) {
      const piece = c.choices[0]?.delta?.content ?? "";
      if (piece !== "") order.push("text");
      text += piece;
    }
    expect(text).toBe(story);
    // Several windows were judged (not the whole answer at once), and text never led its verdict.
    const verdicts = order.filter((o) => o === "verdict").length;
    expect(verdicts).toBeGreaterThanOrEqual(Math.floor(story.length / 32));
    expect(order[0]).toBe("verdict");
    let cleared = 0;
    for (const o of order) {
      if (o === "verdict") cleared++;
      else expect(cleared).toBeGreaterThan(0);
    }
  });

  it("an unsafe window ends the stream with the block event in OpenAI's format; the upstream is cancelled; the record has the leak bound", async () => {
    const unsafe = `${story} Then the fox explained how to build a bomb from household things, and many more words followed after that, ${"on and on ".repeat(40)}`;
    stack.fake.reset();
    // Long enough (2 ms a word) that the upstream is still sending when the unsafe verdict comes.
    stack.fake.setReply(unsafe);
    const s = await stack.openai().chat.completions.create({ model: "t", stream: true, messages: [{ role: "user", content: "tell me another story" }] });
    let text = "";
    const err = await (async () => {
      for await (const c of s) text += c.choices[0]?.delta?.content ?? "";
    })().catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect(String(err.message)).toMatch(/blocked by policy 'safety' rule 'windows'/);
    expect(text).not.toMatch(/bomb/);
    expect(unsafe.startsWith(text)).toBe(true);
    expect(text.length).toBeGreaterThan(0);
    await stack.fake.waitForAborted(1);
    const log = stack.services.auditLog()!;
    await log.flush();
    const { events } = await log.query({});
    const last = events[events.length - 1]!;
    expect(last).toMatchObject({ outcome: "blocked", decision: "block", rulesFired: ["safety/windows"] });
    expect(last.events[0]).toMatchObject({ engine: "llama_guard", action: "block", phase: "response", leakBoundChars: 0, counts: { violence: 1 } });
  });
});

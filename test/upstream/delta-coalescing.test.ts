import { createServer, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Pool } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MAX_COALESCED_CHARS, takeCoalesced } from "../../src/upstream/delta-coalescing.js";
import { openSseStream } from "../../src/upstream/sse-stream.js";
import { upstreamEventsOf, type Chunk } from "../../src/wire/index.js";

// Queued content deltas taken as one chunk (src/upstream/delta-coalescing.ts), and a burst of
// queued chunks handed on in turns of the event loop: what they merge, what they never merge,
// and the same text read over a real socket.

const base = { id: "chatcmpl-1", object: "chat.completion.chunk", created: 1, model: "m" };
const delta = (content: string, more: Record<string, unknown> = {}): Chunk => ({ ...base, choices: [{ index: 0, delta: { content }, logprobs: null, finish_reason: null }], ...more });

describe("takeCoalesced", () => {
  it("takes the plain deltas queued behind the first as one chunk, counting them, up to the cap", () => {
    const q = [delta("a"), delta("b"), delta("c")];
    const { chunk, taken } = takeCoalesced(q, 0, q.length);
    expect(taken).toBe(3);
    // As JSON (the symbol that counts the events is no part of the chunk's text).
    expect(JSON.stringify(chunk)).toBe(JSON.stringify(delta("abc")));
    expect(upstreamEventsOf(chunk)).toBe(3);
    expect(Object.keys(chunk)).toEqual(Object.keys(q[0]!));
    const long = Array.from({ length: MAX_COALESCED_CHARS + 10 }, () => delta("x"));
    const first = takeCoalesced(long, 0, long.length);
    expect(first.taken).toBe(MAX_COALESCED_CHARS);
    expect(takeCoalesced(long, first.taken, long.length).taken).toBe(10);
  });

  it("keeps apart what differs in more than its text: a role, a finish, logprobs, tool calls, usage, another choice or id", () => {
    const others: Chunk[] = [
      { ...base, choices: [{ index: 0, delta: { role: "assistant", content: "" }, logprobs: null, finish_reason: null }] },
      { ...base, choices: [{ index: 0, delta: { content: "" }, logprobs: null, finish_reason: "stop" }] },
      { ...base, choices: [{ index: 0, delta: { content: "x" }, logprobs: { content: [] }, finish_reason: null }] },
      { ...base, choices: [{ index: 0, delta: { content: "x", tool_calls: [] }, logprobs: null, finish_reason: null }] },
      delta("x", { usage: { completion_tokens: 1 } }),
      { ...base, choices: [{ index: 1, delta: { content: "x" }, logprobs: null, finish_reason: null }] },
      { ...delta("x"), id: "chatcmpl-2" },
      { ...base, choices: [] },
      { ...base, choices: [{ index: 0, text: "x", logprobs: null, finish_reason: null }] },
    ];
    for (const o of others) {
      expect(takeCoalesced([delta("a"), o], 0, 2).taken).toBe(1);
      expect(takeCoalesced([o, delta("a")], 0, 2).taken).toBe(1);
    }
    // A vendor's string beside the choices is streamed text to the guard: equal pieces are still
    // two pieces ("a" and "a" is "aa"), so chunks carrying one never merge.
    const vendor = delta("x", { vendor_note: "a" });
    expect(takeCoalesced([vendor, { ...vendor }], 0, 2).taken).toBe(1);
    expect(takeCoalesced([delta("a", { system_fingerprint: "fp" }), delta("b", { system_fingerprint: "fp" })], 0, 2).taken).toBe(2);
    // Completions' text coalesces with text.
    const t = (text: string): Chunk => ({ ...base, choices: [{ index: 0, text, logprobs: null, finish_reason: null }] });
    expect(JSON.stringify(takeCoalesced([t("a"), t("b")], 0, 2).chunk)).toBe(JSON.stringify(t("ab")));
  });
});

let server: Server;
let pool: Pool;
let answer: (res: ServerResponse) => void = () => {};

beforeAll(async () => {
  server = createServer((req, res) => {
    req.resume();
    req.on("end", () => answer(res));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  pool = new Pool(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
});
afterAll(async () => {
  await pool.close();
  server.close();
});

const post = (keepRaw: boolean) => ({
  path: "/v1/chat/completions",
  headers: { "content-type": "application/json" },
  body: "{}",
  headersTimeoutMs: 10_000,
  bodyTimeoutMs: 10_000,
  limit: 64 * 1024 * 1024,
  targetId: "t",
  keepRaw,
});
const signal = new AbortController().signal;

/** Answers with `n` one-character deltas (one write), a finish and [DONE]. */
function tiny(n: number, extra: Record<string, unknown> = {}): (res: ServerResponse) => void {
  return (res) => {
    res.writeHead(200, { "content-type": "text/event-stream" });
    let s = "";
    for (let i = 0; i < n; i++) s += `data: ${JSON.stringify({ ...delta(String(i % 10)), ...extra })}\n\n`;
    s += `data: ${JSON.stringify({ ...base, choices: [{ index: 0, delta: { content: "" }, logprobs: null, finish_reason: "stop" }] })}\n\n`;
    res.end(s + "data: [DONE]\n\n");
  };
}

describe("upstream stream: a burst of tiny deltas", () => {
  it("hands a guarded stream's queued deltas on as fewer chunks with the same text and event count", async () => {
    answer = tiny(3000);
    const it = await openSseStream(pool, post(false), signal, () => "client");
    let text = "";
    let chunks = 0;
    let events = 0;
    for await (const c of it) {
      chunks++;
      events += upstreamEventsOf(c);
      text += (c.choices as { delta: { content: string } }[])[0]?.delta.content ?? "";
    }
    expect(text).toBe(Array.from({ length: 3000 }, (_, i) => String(i % 10)).join(""));
    expect(events).toBe(3001);
    expect(chunks).toBeLessThan(3001);
  });

  it("relays a stream kept raw (no guard) event for event", async () => {
    answer = tiny(3000);
    const it = await openSseStream(pool, post(true), signal, () => "client");
    let chunks = 0;
    for await (const c of it) {
      chunks++;
      expect(upstreamEventsOf(c)).toBe(1);
    }
    expect(chunks).toBe(3001);
  });

  it("lets the event loop turn while a consumer works through one read's queued chunks", async () => {
    // Chunks that never coalesce (logprobs), each costing the consumer 0.2 ms: the read's queue
    // takes ~100 ms to work through, and an immediate set at its first chunk must run before its last.
    answer = tiny(500, { choices: [{ index: 0, delta: { content: "x" }, logprobs: { content: [] }, finish_reason: null }] });
    const it = await openSseStream(pool, post(false), signal, () => "client");
    let seen = 0;
    let atImmediate: number | undefined;
    for await (const _ of it) {
      if (seen++ === 0) setImmediate(() => (atImmediate = seen));
      const until = performance.now() + 0.2;
      while (performance.now() < until);
    }
    expect(seen).toBe(501);
    expect(atImmediate).toBeDefined();
    expect(atImmediate!).toBeLessThan(400);
  });
});

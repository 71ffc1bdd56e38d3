/**
 * A non-streamed answer that no rule changed goes to the client as the upstream's own bytes; one a
 * rule changed is serialised again. The upstream here formats its JSON with spaces (as Python's
 * json.dumps does by default), which no re-serialisation would reproduce.
 */
import http from "node:http";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MODEL, startStack, type Stack } from "../helpers/harness.js";

function answer(content: string): string {
  return (
    `{"id": "chatcmpl-7", "object": "chat.completion", "created": 1700000000, "model": "${MODEL}", ` +
    `"choices": [{"index": 0, "message": {"role": "assistant", "content": ${JSON.stringify(content)}}, "finish_reason": "stop"}], ` +
    `"usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}}`
  );
}

describe("non-streamed answers", () => {
  let upstream: http.Server;
  let url = "";
  let stack: Stack;

  beforeAll(async () => {
    upstream = http.createServer((req, res) => {
      let body = "";
      req.on("data", (c: Buffer) => (body += c.toString()));
      req.on("end", () => {
        const last = (JSON.parse(body) as { messages: { content: string }[] }).messages.at(-1)!.content;
        // Invalid UTF-8 inside a string: an 0xff byte where "XX" stands.
        const text = answer(`echo ${last}`);
        const bytes = last === "bad bytes XX" ? Buffer.from(text.replace("XX", "\u00ff"), "latin1") : Buffer.from(text);
        res.writeHead(200, { "content-type": "application/json", "content-length": bytes.length });
        res.end(bytes);
      });
    });
    await new Promise<void>((resolve) => upstream.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/v1`;
    stack = await startStack(
      () => `providers:
  targets:
    - { id: t, provider: "openllm:chat:llama3:8b-instruct", model: ${MODEL}, base_url: "${url}" }
policies:
  chain: [pii]
policy:
  pii:
    rules:
      - { type: pii_detection, action: redact, patterns: [email], apply_to: response }
`,
    );
  });
  afterAll(async () => {
    await stack.close();
    await new Promise((resolve) => upstream.close(resolve));
  });

  const post = async (content: string) => {
    const res = await fetch(`${stack.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "t", messages: [{ role: "user", content }] }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/json");
    return res.text();
  };

  it("pass through byte for byte when no rule changed them", async () => {
    expect(await post("hello there")).toBe(answer("echo hello there"));
  });

  it("pass through byte for byte with text beyond ASCII", async () => {
    expect(await post("héllo 🌍 — 日本")).toBe(answer("echo héllo 🌍 — 日本"));
  });

  it("go out as their decoded text (U+FFFD for a bad byte) when the upstream's bytes are not valid UTF-8", async () => {
    const res = await fetch(`${stack.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "t", messages: [{ role: "user", content: "bad bytes XX" }] }),
    });
    expect(res.status).toBe(200);
    const got = Buffer.from(await res.arrayBuffer());
    const expected = Buffer.from(answer("echo bad bytes \ufffd"));
    expect(got.equals(expected)).toBe(true);
    expect(Number(res.headers.get("content-length"))).toBe(expected.length);
  });

  it("pass through byte for byte over HTTP/2 (h2c) too, with their length", async () => {
    const session = http2.connect(stack.url);
    try {
      const { headers, body } = await new Promise<{ headers: http2.IncomingHttpHeaders; body: Buffer }>((resolve, reject) => {
        const req = session.request({ ":method": "POST", ":path": "/v1/chat/completions", "content-type": "application/json" });
        let headers: http2.IncomingHttpHeaders = {};
        const parts: Buffer[] = [];
        req.on("response", (h) => (headers = h));
        req.on("data", (d: Buffer) => parts.push(d));
        req.on("end", () => resolve({ headers, body: Buffer.concat(parts) }));
        req.on("error", reject);
        req.end(JSON.stringify({ model: "t", messages: [{ role: "user", content: "över h2" }] }));
      });
      expect(headers[":status"]).toBe(200);
      expect(headers["content-type"]).toBe("application/json");
      const expected = Buffer.from(answer("echo över h2"));
      expect(Number(headers["content-length"])).toBe(expected.length);
      expect(body.equals(expected)).toBe(true);
    } finally {
      session.close();
    }
  });

  it("are serialised again, redacted, when a rule changed them", async () => {
    const text = await post("write to bob@example.com");
    expect(text).not.toBe(answer("echo write to bob@example.com"));
    expect(text).not.toContain("bob@example.com");
    expect(JSON.parse(text)).toMatchObject({ id: "chatcmpl-7", choices: [{ message: { content: "echo write to [REDACTED:EMAIL]" } }] });
  });
});

/** A chunk as a Python server writes it (json.dumps: spaces after `,` and `:`, non-ASCII escaped). */
function pyChunk(i: number, content: string, finish: string | null): string {
  const c = JSON.stringify(content).replace(/[\u0080-\uffff]/g, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, "0")}`);
  return (
    `{"id": "chatcmpl-9", "object": "chat.completion.chunk", "created": 1700000000, "model": "${MODEL}", ` +
    `"choices": [{"index": 0, "delta": {"content": ${c}}, "finish_reason": ${finish === null ? "null" : JSON.stringify(finish)}}]}`
  );
}

describe("request bodies and streamed chunks", () => {
  let upstream: http.Server;
  let url = "";
  /** The request bodies the upstream received, as bytes decoded. */
  const received: string[] = [];
  let off: Stack;
  let scanned: Stack;

  beforeAll(async () => {
    upstream = http.createServer((req, res) => {
      const parts: Buffer[] = [];
      req.on("data", (c: Buffer) => parts.push(c));
      req.on("end", () => {
        const raw = Buffer.concat(parts).toString("utf8");
        received.push(raw);
        const body = JSON.parse(raw) as { stream?: boolean; messages: { content: string }[] };
        const last = body.messages.at(-1)!.content;
        if (body.stream !== true) {
          const text = answer(`echo ${last}`);
          res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
          res.end(text);
          return;
        }
        res.writeHead(200, { "content-type": "text/event-stream; charset=utf-8" });
        res.write(`data: ${pyChunk(0, "echo ", null)}\n\n`);
        res.write(`data: ${pyChunk(1, last, null)}\n\n`);
        res.write(`data: ${pyChunk(2, "", "stop")}\n\n`);
        res.end("data: [DONE]\n\n");
      });
    });
    await new Promise<void>((resolve) => upstream.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/v1`;
    const targets = () => `providers:
  targets:
    - { id: t, provider: "openllm:chat:llama3:8b-instruct", model: ${MODEL}, base_url: "${url}" }
`;
    off = await startStack(targets);
    scanned = await startStack(
      () => `${targets()}policies:
  chain: [pii]
policy:
  pii:
    rules:
      - { type: pii_detection, action: redact, patterns: [email], apply_to: both }
`,
    );
  });
  afterAll(async () => {
    await off.close();
    await scanned.close();
    await new Promise((resolve) => upstream.close(resolve));
  });

  const send = async (stack: Stack, raw: string) => {
    const res = await fetch(`${stack.url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: raw });
    expect(res.status).toBe(200);
    return res.text();
  };

  it("a body no request rule reads goes upstream as the client's own bytes", async () => {
    const raw = `{"model": "${MODEL}",  "messages": [{"role": "user", "content": "caf\\u00e9 at noon"}], "max_tokens": 5}`;
    await send(off, raw);
    expect(received.at(-1)).toBe(raw);
  });

  it("is serialised again when the target's model replaces the client's", async () => {
    const raw = `{"model": "t",  "messages": [{"role": "user", "content": "hello"}]}`;
    await send(off, raw);
    expect(received.at(-1)).not.toBe(raw);
    expect(JSON.parse(received.at(-1)!)).toEqual({ model: MODEL, messages: [{ role: "user", content: "hello" }] });
  });

  it("is serialised again when it names its model twice (a first-key-wins upstream could read the other one)", async () => {
    const raw = `{"model": "other-model", "messages": [{"role": "user", "content": "hello"}], "model": "${MODEL}"}`;
    await send(off, raw);
    expect(received.at(-1)).not.toBe(raw);
    expect(received.at(-1)!.split('"model"')).toHaveLength(2);
    expect(JSON.parse(received.at(-1)!).model).toBe(MODEL);
  });

  it("is serialised again from what the request rules read, even when they changed nothing", async () => {
    const raw = `{"model": "${MODEL}", "messages": [{"role": "user", "content": "nothing personal"}], "messages": [{"role": "user", "content": "also fine"}]}`;
    await send(scanned, raw);
    expect(received.at(-1)).toBe(JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "also fine" }] }));
    expect(received.at(-1)).not.toContain("nothing personal");
  });

  it("streamed chunks that no rule can change go out as the upstream wrote them", async () => {
    const text = await send(off, `{"model": "${MODEL}", "stream": true, "messages": [{"role": "user", "content": "caf\\u00e9"}]}`);
    expect(text).toBe(`data: ${pyChunk(0, "echo ", null)}\n\ndata: ${pyChunk(1, "café", null)}\n\ndata: ${pyChunk(2, "", "stop")}\n\ndata: [DONE]\n\n`);
  });

  it("streamed chunks are serialised again under response rules", async () => {
    const text = await send(scanned, `{"model": "${MODEL}", "stream": true, "messages": [{"role": "user", "content": "caf\\u00e9"}]}`);
    expect(text).not.toContain(pyChunk(0, "echo ", null));
    const events = text
      .split("\n\n")
      .filter((e) => e.startsWith("data: {"))
      .map((e) => JSON.parse(e.slice(6)) as { choices: { delta: { content?: string } }[] });
    expect(events.map((e) => e.choices[0]?.delta.content ?? "").join("")).toBe("echo café");
  });
});

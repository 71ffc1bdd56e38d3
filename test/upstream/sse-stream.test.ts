import { createServer, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Pool } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Chunk } from "../../src/wire/index.js";
import { MAX_SSE_EVENT_CHARS } from "../../src/upstream/index.js";
import { openSseStream } from "../../src/upstream/sse-stream.js";

// The upstream stream reader against a real HTTP server on a real socket: what it does with a
// stream event too large to be one (a misbehaving or hostile upstream).

let server: Server;
let pool: Pool;
let answer: (res: ServerResponse) => void = () => {};
let closedEarly = 0;

beforeAll(async () => {
  server = createServer((req, res) => {
    req.resume();
    res.on("close", () => {
      if (!res.writableFinished) closedEarly++;
    });
    req.on("end", () => answer(res));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  pool = new Pool(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
});
afterAll(async () => {
  await pool.close();
  server.close();
});

const post = {
  path: "/v1/chat/completions",
  headers: { "content-type": "application/json" },
  body: "{}",
  headersTimeoutMs: 10_000,
  bodyTimeoutMs: 10_000,
  limit: 64 * 1024 * 1024,
  targetId: "t",
  keepRaw: false,
};
const event = (content: string) => `data: ${JSON.stringify({ id: "c", object: "chat.completion.chunk", created: 1, model: "m", choices: [{ index: 0, delta: { content } }] })}\n\n`;

describe("upstream stream: an event larger than the bound", () => {
  it("ends the stream with KT_ERR_UPSTREAM_PROTOCOL after the chunks before it, and drops the upstream", async () => {
    const before = closedEarly;
    answer = (res) => {
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.write(event("one"));
      // One data line of more than the bound, in 64 KiB writes, never ended by the upstream.
      const piece = "a".repeat(64 * 1024);
      let sent = 0;
      res.write('data: {"choices":[{"index":0,"delta":{"content":"');
      const more = () => {
        while (sent <= MAX_SSE_EVENT_CHARS + piece.length) {
          sent += piece.length;
          if (!res.write(piece)) return void res.once("drain", more);
        }
      };
      res.on("error", () => {});
      more();
    };
    const stream = await openSseStream(pool, post, new AbortController().signal, () => undefined);
    const got: string[] = [];
    let error: unknown;
    try {
      for await (const c of stream as AsyncIterable<Chunk>) got.push(String((c as { choices: { delta: { content?: string } }[] }).choices[0]?.delta.content));
    } catch (err) {
      error = err;
    }
    expect(got).toEqual(["one"]);
    expect((error as { code?: string }).code).toBe("KT_ERR_UPSTREAM_PROTOCOL");
    expect(String((error as Error).message)).toContain("larger than");
    await expect.poll(() => closedEarly).toBe(before + 1);
  });
});

describe("upstream stream: large events, parsed as the consumer takes them", () => {
  const read = async (stream: AsyncIterable<Chunk>) => {
    const got: string[] = [];
    let error: unknown;
    try {
      for await (const c of stream) got.push(String((c as { choices: { delta: { content?: string } }[] }).choices[0]?.delta.content));
    } catch (err) {
      error = err;
    }
    return { got, error };
  };

  it("hands on a large event's chunk whole and in order, beside small ones", async () => {
    const large = "The quarterly report, \"quoted\"\nand escaped \\ text. ".repeat(12_000);
    answer = (res) => {
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.end(event("one") + event(large) + event("two") + event(large.slice(0, 40_000)) + "data: [DONE]\n\n");
    };
    const { got, error } = await read(await openSseStream(pool, post, new AbortController().signal, () => undefined));
    expect(error).toBeUndefined();
    expect(got).toEqual(["one", large, "two", large.slice(0, 40_000)]);
  });

  it("ends the stream with KT_ERR_UPSTREAM_PROTOCOL at a large event that is not JSON, after the chunks before it, and drops the upstream", async () => {
    const before = closedEarly;
    answer = (res) => {
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.on("error", () => {});
      // Not JSON: the string is never closed. The upstream then keeps its body open.
      res.write(event("one") + `data: {"choices":[{"index":0,"delta":{"content":"${"a".repeat(100_000)}\n\n` + event("after"));
    };
    const { got, error } = await read(await openSseStream(pool, post, new AbortController().signal, () => undefined));
    expect(got).toEqual(["one"]);
    expect((error as { code?: string }).code).toBe("KT_ERR_UPSTREAM_PROTOCOL");
    expect(String((error as Error).message)).toContain("not JSON");
    await expect.poll(() => closedEarly).toBe(before + 1);
  });
});

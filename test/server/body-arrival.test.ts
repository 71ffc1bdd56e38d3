/**
 * A request body is read the same however it arrives: in the packet of its headers (already
 * buffered when the shim reads it: one read()), after them in pieces, or chunked; over a
 * keep-alive connection the next request is read as well; a body over the limit is refused either way.
 */
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { simpleConfig, startStack, type Stack } from "../helpers/harness.js";

const body = JSON.stringify({ model: "openllm-llama3", messages: [{ role: "user", content: "héllo from the body" }] });

/** Writes the pieces to one connection (waiting `gapMs` between them) and reads answers until `answers` have come. */
async function exchange(port: number, pieces: (string | Buffer)[], answers = 1, gapMs = 30): Promise<string> {
  const socket = net.connect(port, "127.0.0.1");
  socket.setNoDelay(true);
  await new Promise<void>((r) => socket.once("connect", r));
  let got = "";
  const done = new Promise<string>((resolve, reject) => {
    socket.on("data", (d: Buffer) => {
      got += d.toString("utf8");
      if (got.split("HTTP/1.1 ").length - 1 >= answers && /\}\s*$/.test(got)) resolve(got);
    });
    socket.on("error", reject);
    socket.on("close", () => resolve(got));
  });
  for (const [i, p] of pieces.entries()) {
    if (i > 0) await new Promise((r) => setTimeout(r, gapMs));
    socket.write(p);
  }
  const out = await done;
  socket.destroy();
  return out;
}

function head(length: number | "chunked"): string {
  return (
    "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
    (length === "chunked" ? "Transfer-Encoding: chunked\r\n" : `Content-Length: ${length}\r\n`) +
    "\r\n"
  );
}

describe("request bodies, however they arrive", () => {
  let stack: Stack;
  let port = 0;
  beforeAll(async () => {
    stack = await startStack(simpleConfig(), { maxBodyBytes: 4096 });
    port = Number(new URL(stack.url).port);
  });
  afterAll(() => stack.close());

  const len = Buffer.byteLength(body);
  const echoed = "You said: héllo from the body";

  it("with its headers in one packet", async () => {
    const out = await exchange(port, [head(len) + body]);
    expect(out.startsWith("HTTP/1.1 200")).toBe(true);
    expect(out).toContain(echoed);
  });

  it("after its headers, in pieces", async () => {
    const bytes = Buffer.from(body);
    const out = await exchange(port, [head(len), bytes.subarray(0, 10), bytes.subarray(10, 40), bytes.subarray(40)]);
    expect(out.startsWith("HTTP/1.1 200")).toBe(true);
    expect(out).toContain(echoed);
  });

  it("chunked, in the packet of its headers and in pieces", async () => {
    const chunked = (s: string) => `${Buffer.byteLength(s).toString(16)}\r\n${s}\r\n`;
    const all = head("chunked") + chunked(body.slice(0, 20)) + chunked(body.slice(20)) + "0\r\n\r\n";
    for (const pieces of [[all], [head("chunked") + chunked(body.slice(0, 20)), chunked(body.slice(20)), "0\r\n\r\n"]]) {
      const out = await exchange(port, pieces);
      expect(out.startsWith("HTTP/1.1 200")).toBe(true);
      expect(out).toContain(echoed);
    }
  });

  it("two requests in one packet on a keep-alive connection are both answered", async () => {
    const out = await exchange(port, [head(len) + body + head(len) + body], 2);
    expect(out.split("HTTP/1.1 200").length - 1).toBe(2);
    expect(out.split(echoed).length - 1).toBe(2);
  });

  it("over the limit, whole or in pieces, is refused with 413", async () => {
    const big = JSON.stringify({ model: "openllm-llama3", messages: [{ role: "user", content: "x".repeat(5000) }] });
    const n = Buffer.byteLength(big);
    // Declared too large, and declared nothing (chunked) while sending too much.
    for (const pieces of [[head(n) + big], [head("chunked") + `${n.toString(16)}\r\n${big}\r\n0\r\n\r\n`]]) {
      const out = await exchange(port, pieces);
      expect(out.startsWith("HTTP/1.1 413")).toBe(true);
      expect(out).toContain(`"code":"body_too_large"`);
    }
  });
});

/**
 * The upstream pool stays warm: sequential calls reuse kept-alive connections to OpenLLM, streams
 * included. A stream left at `[DONE]` used to destroy its body before the chunked terminator was
 * read, so every stream paid a new TCP handshake before its first token.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { simpleConfig, startStack, type Stack } from "../helpers/harness.js";

const MODEL_ID = "openllm:chat:llama3:8b-instruct";

describe("upstream connection reuse", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack(simpleConfig());
  });
  afterAll(() => stack.close());
  beforeEach(() => {
    stack.fake.reset();
    stack.fake.setBehavior("normal");
  });

  const chatPorts = () => stack.fake.requests.filter((q) => q.path === "/v1/chat/completions").map((q) => q.remotePort);

  it("sends sequential streamed calls over the same warm connections", async () => {
    const client = stack.openai();
    for (let i = 0; i < 10; i++) {
      const stream = await client.chat.completions.create({ model: MODEL_ID, messages: [{ role: "user", content: `stream ${i}` }], stream: true });
      let text = "";
      for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? "";
      expect(text).toBe(`You said: stream ${i}`);
    }
    const ports = chatPorts();
    expect(ports).toHaveLength(10);
    expect(ports[0]).toBeTypeOf("number");
    // The next stream can start while the previous one's terminator is still on its way (the client
    // has its [DONE] already), so a second connection may open; never one per stream.
    expect(new Set(ports).size).toBeLessThanOrEqual(2);
  });

  it("sends sequential non-streamed calls over the same warm connections", async () => {
    const client = stack.openai();
    for (let i = 0; i < 10; i++) {
      const r = await client.chat.completions.create({ model: MODEL_ID, messages: [{ role: "user", content: `call ${i}` }] });
      expect(r.choices[0]!.message.content).toBe(`You said: call ${i}`);
    }
    const ports = chatPorts();
    expect(ports).toHaveLength(10);
    // A call can come in before undici has marked the previous one's connection free.
    expect(new Set(ports).size).toBeLessThanOrEqual(2);
  });

  it("ends the client's stream at [DONE] when the upstream keeps its body open, and gives that connection up", async () => {
    stack.fake.setBehavior("linger-after-done");
    const client = stack.openai();
    const stream = await client.chat.completions.create({ model: MODEL_ID, messages: [{ role: "user", content: "linger" }], stream: true });
    let text = "";
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? "";
    expect(text).toBe("You said: linger");
    // The fake would go on for 5 s; the gateway stops reading a second after [DONE] and closes it.
    expect(stack.fake.aborted).toBe(0);
    await stack.fake.waitForAborted(1, 4000);
    stack.fake.setBehavior("normal");
    const r = await client.chat.completions.create({ model: MODEL_ID, messages: [{ role: "user", content: "after" }] });
    expect(r.choices[0]!.message.content).toBe("You said: after");
  });

  it("still releases the connection of a stream the client leaves early", async () => {
    stack.fake.setBehavior({ kind: "drip", intervalMs: 50, chunks: 100 });
    const client = stack.openai();
    const stream = await client.chat.completions.create({ model: MODEL_ID, messages: [{ role: "user", content: "leave early" }], stream: true });
    for await (const chunk of stream) if (chunk.choices[0]?.delta?.content) break;
    await stack.fake.waitForAborted(1);
    expect(stack.fake.aborted).toBe(1);
  });
});

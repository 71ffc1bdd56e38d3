/**
 * A non-streamed answer that no rule changed goes to the client as the upstream's own bytes; one a
 * rule changed is serialised again. The upstream here formats its JSON with spaces (as Python's
 * json.dumps does by default), which no re-serialisation would reproduce.
 */
import http from "node:http";
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
        const text = answer(`echo ${last}`);
        res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
        res.end(text);
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

  it("are serialised again, redacted, when a rule changed them", async () => {
    const text = await post("write to bob@example.com");
    expect(text).not.toBe(answer("echo write to bob@example.com"));
    expect(text).not.toContain("bob@example.com");
    expect(JSON.parse(text)).toMatchObject({ id: "chatcmpl-7", choices: [{ message: { content: "echo write to [REDACTED:EMAIL]" } }] });
  });
});

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SLICE_CHARS } from "../../src/policy/chunk-slices.js";
import { MODEL, startStack, type Stack } from "../helpers/harness.js";

// A streamed answer through a real gateway, as the round-14 review sent it: large strings the
// stream guard used to read in one step (legacy function_call arguments: 200-300 ms per 900 KiB),
// a tool name of 900 KiB (refused now as an upstream fault), and choices without a numeric index
// whose card was cut at a slice boundary (it went out unredacted). The fake OpenLLM sends each
// as one SSE event.

let stack: Stack;
beforeAll(async () => {
  stack = await startStack(
    (url) => `providers:
  targets:
    - { id: llama, provider: "openllm:chat:llama3:8b-instruct", model: ${MODEL}, base_url: "${url}" }
streaming: { mode: incremental }
policies:
  - id: pii
    rules:
      - { type: pii_detection, action: redact, patterns: [email, credit_card] }
`,
    { fake: { maxModelLen: 1e9 } },
  );
}, 120_000);
afterAll(() => stack?.close());

const chunk = (choices: object[]) => ({ id: "s", object: "chat.completion.chunk", created: 1, model: MODEL, choices });
const roleChunk = chunk([{ index: 0, delta: { role: "assistant", content: "" }, finish_reason: null }]);
const finChunk = chunk([{ index: 0, delta: {}, finish_reason: "stop" }]);

async function post(chunks: object[]): Promise<{ status: number; events: any[] }> {
  stack.fake.setBehavior({ kind: "scripted", json: {}, chunks } as never);
  try {
    const r = await fetch(`${stack.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: "Bearer kt-test" },
      body: JSON.stringify({ model: MODEL, stream: true, messages: [{ role: "user", content: "hi" }] }),
    });
    const body = await r.text();
    const events = body
      .split("\n\n")
      .map((e) => e.replace(/^data: /, ""))
      .filter((e) => e !== "" && e !== "[DONE]")
      .map((e) => JSON.parse(e));
    return { status: r.status, events };
  } finally {
    stack.fake.setBehavior("normal");
  }
}

describe("a streamed answer's large strings through the gateway", () => {
  it("legacy function_call arguments of 600 KiB in one event: sent in slices, an email in them redacted", async () => {
    const args = JSON.stringify({ note: "Write to jane.doe@example.com about the quarterly report. ".repeat(10_500) });
    const { status, events } = await post([roleChunk, chunk([{ index: 0, delta: { function_call: { name: "save", arguments: args } }, finish_reason: null }]), finChunk]);
    expect(status).toBe(200);
    const parts = events.map((e) => e.choices?.[0]?.delta?.function_call?.arguments).filter((a) => typeof a === "string" && a !== "");
    expect(parts.length).toBeGreaterThan(args.length / SLICE_CHARS);
    const got = parts.join("");
    expect(got).not.toContain("jane.doe@example.com");
    expect(got).toContain("about the quarterly report.");
    expect(events.filter((e) => e.choices?.[0]?.delta?.function_call?.name !== undefined).map((e) => e.choices[0].delta.function_call.name)).toEqual(["save"]);
  });

  it("a tool name of 900 KiB: refused as an upstream protocol fault", async () => {
    const { status, events } = await post([roleChunk, chunk([{ index: 0, delta: { tool_calls: [{ index: 0, id: "c", type: "function", function: { name: "f".repeat(900 * 1024), arguments: "" } }] }, finish_reason: null }]), finChunk]);
    expect(status).toBe(200);
    const error = events.at(-1).error;
    expect(error).toMatchObject({ code: "upstream_protocol_error" });
    expect(error.message).toMatch(/name of 921600 characters/);
    expect(JSON.stringify(events)).not.toContain("ffffffff");
  });

  it("two choices without a numeric index, a card cut at the slice boundary: redacted", async () => {
    const filler = (n: number) => "The quarterly report shows steady growth in the northern region. ".repeat(Math.ceil(n / 60)).slice(0, n - 1) + " ";
    const a = filler(10000);
    const b = filler(SLICE_CHARS - 10000 - 9) + "4111 1111 1111 1111 thanks.";
    const { status, events } = await post([chunk([{ index: null, delta: { content: a }, finish_reason: "stop" }, { index: null, delta: { content: b }, finish_reason: "stop" }])]);
    expect(status).toBe(200);
    const body = JSON.stringify(events);
    expect(body).not.toMatch(/4111 1111|1111 thanks/);
    expect(body).toContain("REDACTED");
  });
});

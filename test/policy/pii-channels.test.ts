import OpenAI from "openai";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createKeeptrustsClient, Direction } from "../../clients/typescript/src/index.js";
import { MODEL, startStack, type Stack } from "../helpers/harness.js";

/**
 * Every field of the OpenAI and vLLM schemas, request and response, JSON and SSE, OpenAI shim and
 * protobuf front door, holding PII: no raw value may reach the model or the client.
 */
const config = (mode: "buffered" | "incremental") => (url: string) => `providers:
  targets:
    - id: openllm-llama3
      provider: openllm:chat:llama3:8b-instruct
      model: ${MODEL}
      base_url: ${url}
    - id: openllm-llama3-cmpl
      provider: openllm:completion:llama3:8b
      model: ${MODEL}
      base_url: ${url}
policies:
  - id: gov
    rules:
      - type: pii_detection
        action: redact
        patterns: [ssn, credit_card, email, phone, iban, ip_address]
        regions: [US, GB]
        apply_to: both
streaming:
  mode: ${mode}
`;

const EMAIL = "zq.hollis@exampleco.org";
const CARD = "4111 1111 1111 1111";
const SSN = "219-09-9999";
const PHONE = "(415) 555-2671";
const IBAN = "GB82 WEST 1234 5698 7654 32";
const IP = "192.168.10.77";
/** Pieces any of which in an output means a value (or the tokens spelling it) got through. */
const RAW = ["hollis", "exampleco", "4111", "09-9999", "555-2671", "WEST", "10.77", "5698"];

function leaks(x: unknown): string[] {
  const s = typeof x === "string" ? x : JSON.stringify(x, (_k, v) => (typeof v === "bigint" ? String(v) : v));
  return RAW.filter((r) => s.includes(r));
}

/** Tokens spelling `text` as logprobs entries (chat shape), with bytes and alternatives. */
function chatLogprobs(tokens: string[]) {
  return {
    content: tokens.map((t) => ({
      token: t,
      logprob: -0.1,
      bytes: [...Buffer.from(t)],
      top_logprobs: [{ token: t, logprob: -0.1, bytes: [...Buffer.from(t)] }, { token: t.toUpperCase(), logprob: -3, bytes: [...Buffer.from(t.toUpperCase())] }],
    })),
  };
}
const emailTokens = [" zq", ".hollis", "@exampleco", ".org"];

function chatResponse() {
  const message = (i: number) => ({
    role: "assistant",
    content: `Mail${emailTokens.join("")} or call ${PHONE}.`,
    reasoning: `The user's card is ${CARD}`,
    reasoning_content: `SSN ${SSN} seen`,
    refusal: `I cannot share ${IBAN}`,
    function_call: { name: "lookup", arguments: JSON.stringify({ ip: IP }) },
    tool_calls: [{ id: `call_${i}`, type: "function", function: { name: "send_mail", arguments: '{"to":"zq.hollis\\u0040exampleco.org","n":1}' } }],
    audio: { id: "a1", data: "AAAA", transcript: `say ${EMAIL}` },
    vendor_note: `note ${SSN}`,
  });
  return {
    id: "chatcmpl-1",
    object: "chat.completion",
    created: 1,
    model: MODEL,
    choices: [0, 1].map((i) => ({ index: i, message: message(i), logprobs: chatLogprobs(["Mail", ...emailTokens]), finish_reason: "stop", stop_reason: null })),
    prompt_logprobs: [null, { "11": { logprob: -1, rank: 1, decoded_token: "zq.hollis" }, "12": { logprob: -2, rank: 2, decoded_token: "x" } }, { "13": { logprob: -1, rank: 1, decoded_token: "@exampleco.org" } }],
    vendor_top: `top ${IBAN}`,
    usage: { prompt_tokens: 5, completion_tokens: 5, total_tokens: 10 },
  };
}

function chatChunks() {
  const base = { id: "chatcmpl-2", object: "chat.completion.chunk", created: 1, model: MODEL };
  const ch = (index: number, delta: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
    ...base,
    choices: [{ index, delta, logprobs: null, finish_reason: null, ...extra }],
  });
  const out: Record<string, unknown>[] = [];
  for (const i of [0, 1]) out.push(ch(i, { role: "assistant", content: "" }));
  for (const t of ["Mail", ...emailTokens, " now"]) for (const i of [0, 1]) out.push(ch(i, { content: t }, { logprobs: chatLogprobs([t]) }));
  for (const t of ["card 4111 ", "1111 1111", " 1111 ok"]) out.push(ch(0, { reasoning: t }));
  for (const t of ["SSN 219-", "09-9999."]) out.push(ch(1, { reasoning_content: t }));
  out.push(ch(0, { refusal: `no: ${IBAN}` }));
  out.push(ch(0, { tool_calls: [{ index: 0, id: "c0", type: "function", function: { name: "send_mail", arguments: "" } }] }));
  for (const t of ['{"to":"zq.hol', "lis\\u0040exampl", 'eco.org"}']) out.push(ch(0, { tool_calls: [{ index: 0, function: { arguments: t } }] }));
  out.push(ch(1, { function_call: { name: "lookup", arguments: `{"ip":"${IP}"}` } }));
  out.push(ch(1, { vendor_field: `call ${PHONE}` }));
  for (const i of [0, 1]) out.push(ch(i, { content: "" }, { finish_reason: "stop", stop_reason: null }));
  out.push({ ...base, choices: [], usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 } });
  return out;
}

function completionResponse() {
  return {
    id: "cmpl-1",
    object: "text_completion",
    created: 1,
    model: MODEL,
    choices: [
      {
        index: 0,
        text: `Mail${emailTokens.join("")}`,
        logprobs: { tokens: ["Mail", ...emailTokens], token_logprobs: [-1, -1, -1, -1, -1], top_logprobs: emailTokens.map((t) => ({ [t]: -1 })), text_offset: [0, 4, 7, 14, 24] },
        finish_reason: "stop",
        stop_reason: null,
        prompt_logprobs: [null, { "5": { logprob: -1, rank: 1, decoded_token: EMAIL } }],
      },
    ],
    usage: { prompt_tokens: 1, completion_tokens: 5, total_tokens: 6 },
  };
}

function completionChunks() {
  const base = { id: "cmpl-2", object: "text_completion", created: 1, model: MODEL };
  const ch = (text: string, finish: string | null) => ({
    ...base,
    choices: [{ index: 0, text, logprobs: { tokens: [text], token_logprobs: [-1], top_logprobs: [{ [text]: -1 }], text_offset: [0] }, finish_reason: finish, stop_reason: null }],
  });
  return [...["Mail", ...emailTokens].map((t) => ch(t, null)), ch("", "length")];
}

describe.each(["buffered", "incremental"] as const)("every channel, %s streaming", (mode) => {
  let stack: Stack;
  let client: OpenAI;
  beforeAll(async () => {
    stack = await startStack(config(mode));
    client = stack.openai();
  });
  afterAll(() => stack.close());
  beforeEach(() => {
    stack.fake.reset();
    stack.fake.setBehavior("normal");
  });

  it("request: no raw value reaches the model from any field (chat)", async () => {
    const body: Record<string, unknown> = {
      model: "openllm-llama3",
      messages: [
        { role: "system", content: `Escalate to ${EMAIL}.` },
        { role: "developer", content: [{ type: "text", text: `IBAN ${IBAN}` }] },
        {
          role: "user",
          name: "zq.hollis@exampleco.org",
          content: [
            { type: "input_text", text: `card ${CARD}` },
            { type: "output_text", text: `ssn ${SSN}` },
            { type: "refusal", refusal: `ip ${IP}` },
            `bare part ${PHONE}`,
            { type: "image_url", image_url: { url: "https://x.test/a.png?email=zq.hollis%40exampleco.org" } },
            // A value split over two parts.
            { type: "text", text: "split one: zq.hollis@exam" },
            { type: "text", text: "pleco.org and 4111 1111" },
            { type: "text", text: " 1111 1111 end" },
          ],
        },
        {
          role: "assistant",
          content: "noted",
          reasoning: `reasoning ${SSN}`,
          reasoning_content: `reasoning_content ${PHONE}`,
          refusal: `refusal ${EMAIL}`,
          function_call: { name: "lookup", arguments: JSON.stringify({ iban: IBAN }) },
          tool_calls: [{ id: "c1", type: "function", function: { name: "send", arguments: '{"to":"zq.hollis\\u0040exampleco.org","ip":"192.168.10.77"}' } }],
        },
        { role: "tool", tool_call_id: "c1", content: `sent to ${EMAIL}` },
        // A value split over consecutive messages.
        { role: "user", content: "my number is (415) 555-" },
        { role: "user", content: "2671 thanks" },
      ],
      tools: [
        {
          type: "function",
          function: {
            name: "send",
            description: `Sends mail, default recipient ${EMAIL}`,
            parameters: { type: "object", properties: { to: { type: "string", description: `e.g. ${SSN}`, enum: [EMAIL] } } },
          },
        },
      ],
      documents: [{ title: "doc", text: `card ${CARD}` }],
      chat_template: `{{ messages }} ${PHONE}`,
      chat_template_kwargs: { note: IBAN },
      user: EMAIL,
      metadata: { ip: IP },
      response_format: { type: "json_schema", json_schema: { name: "s", description: `ssn ${SSN}`, schema: { type: "object" } } },
      unknown_vendor_field: { nested: [`deep ${EMAIL}`] },
    };
    await client.chat.completions.create(body as any);
    const sent = stack.fake.requests.at(-1)!;
    expect(leaks(sent.rawBody)).toEqual([]);
    const got = sent.body as any;
    // Tool arguments stay valid JSON, their values redacted.
    expect(JSON.parse(got.messages[3].tool_calls[0].function.arguments)).toEqual({ to: "[REDACTED:EMAIL]", ip: "[REDACTED:IP_ADDRESS]" });
    // Each piece of a split value is redacted in its place; the text around it stays.
    expect(got.messages[2].content[5].text).toBe("split one: [REDACTED:EMAIL]");
    expect(got.messages[2].content[6].text).toMatch(/^\[REDACTED:EMAIL\] and \[REDACTED:CREDIT_CARD\]$/);
    expect(got.messages[2].content[7].text).toBe("[REDACTED:CREDIT_CARD] end");
    expect(got.messages[5].content).toBe("my number is [REDACTED:PHONE]");
    expect(got.messages[6].content).toBe("[REDACTED:PHONE] thanks");
    // Fields that carry no free text are untouched.
    expect(got.messages[3].tool_calls[0].id).toBe("c1");
    expect(got.tools[0].function.name).toBe("send");
  });

  it("request: legacy prompts are scanned; token-id prompts are refused with a 400", async () => {
    await client.completions.create({ model: "openllm-llama3-cmpl", prompt: [`a ${EMAIL}`, `b ${CARD}`] });
    expect(leaks(stack.fake.requests.at(-1)!.rawBody)).toEqual([]);
    const n = stack.fake.requests.length;
    const err = await client.completions.create({ model: "openllm-llama3-cmpl", prompt: [1, 2, 3] }).catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect(String(err.message)).toMatch(/token-id prompts/);
    expect(stack.fake.requests.length).toBe(n);
  });

  it("response: no raw value in any field of any choice, nor in logprobs (chat, JSON)", async () => {
    stack.fake.setBehavior({ kind: "scripted", json: chatResponse(), chunks: [] });
    const res = await client.chat.completions.create({ model: "openllm-llama3", messages: [{ role: "user", content: "hi" }], n: 2, logprobs: true, top_logprobs: 2 });
    expect(leaks(res)).toEqual([]);
    expect(res.choices).toHaveLength(2);
    for (const c of res.choices) {
      expect(c.message.content).toBe("Mail [REDACTED:EMAIL] or call [REDACTED:PHONE].");
      expect(c.logprobs).toBeNull();
      expect(JSON.parse(c.message.tool_calls![0]!.type === "function" ? (c.message.tool_calls![0] as any).function.arguments : "")).toEqual({ to: "[REDACTED:EMAIL]", n: 1 });
      expect((c.message as any).audio.data).toBe("AAAA");
    }
    expect((res as any).prompt_logprobs).toBeNull();
  });

  it("response: no raw value in any streamed field of any choice, nor in logprobs (chat, SSE)", async () => {
    stack.fake.setBehavior({ kind: "scripted", json: {}, chunks: chatChunks() });
    const stream = await client.chat.completions.create({ model: "openllm-llama3", messages: [{ role: "user", content: "hi" }], n: 2, logprobs: true, stream: true });
    const chunks: unknown[] = [];
    const content = ["", ""];
    let args = "";
    for await (const c of stream) {
      chunks.push(c);
      for (const ch of c.choices) {
        content[ch.index] += ch.delta?.content ?? "";
        for (const tc of ch.delta?.tool_calls ?? []) args += tc.function?.arguments ?? "";
      }
    }
    expect(leaks(chunks)).toEqual([]);
    expect(content).toEqual(["Mail [REDACTED:EMAIL] now", "Mail [REDACTED:EMAIL] now"]);
    expect(JSON.parse(args)).toEqual({ to: "[REDACTED:EMAIL]" });
  });

  it("response: completions text and logprobs, JSON and SSE", async () => {
    stack.fake.setBehavior({ kind: "scripted", json: completionResponse(), chunks: completionChunks() });
    const res = await client.completions.create({ model: "openllm-llama3-cmpl", prompt: "hi", logprobs: 1 });
    expect(leaks(res)).toEqual([]);
    expect(res.choices[0]!.text).toBe("Mail [REDACTED:EMAIL]");
    expect(res.choices[0]!.logprobs).toBeNull();
    const stream = await client.completions.create({ model: "openllm-llama3-cmpl", prompt: "hi", logprobs: 1, stream: true });
    const chunks: unknown[] = [];
    let text = "";
    for await (const c of stream) {
      chunks.push(c);
      text += c.choices[0]?.text ?? "";
    }
    expect(leaks(chunks)).toEqual([]);
    expect(text).toBe("Mail [REDACTED:EMAIL]");
  });

  it("an unchanged choice keeps its logprobs", async () => {
    const json = chatResponse();
    json.choices = [{ index: 0, message: { role: "assistant", content: "All clear." } as any, logprobs: chatLogprobs(["All", " clear", "."]), finish_reason: "stop", stop_reason: null }];
    json.prompt_logprobs = null as any;
    (json as any).vendor_top = "nothing here";
    stack.fake.setBehavior({ kind: "scripted", json, chunks: [] });
    const res = await client.chat.completions.create({ model: "openllm-llama3", messages: [{ role: "user", content: "hi" }], logprobs: true });
    expect(res.choices[0]!.logprobs!.content!.map((e) => e.token)).toEqual(["All", " clear", "."]);
  });

  it("protobuf front door: contentParts, extra and typed fields in; every field out", async () => {
    for (const protocol of ["grpc", "connect", "grpc-web"] as const) {
      stack.fake.setBehavior("normal");
      const kt = createKeeptrustsClient({ baseUrl: stack.url, protocol });
      await kt.chat.createChatCompletion({
        model: "openllm-llama3",
        user: EMAIL,
        messages: [
          { role: "user", contentParts: [{ type: "text", text: `card ${CARD}` }, { type: "input_text", text: `ssn ${SSN}` }], extra: { note: `ip ${IP}` } },
          { role: "assistant", content: "ok", reasoningContent: `phone ${PHONE}`, toolCalls: [{ id: "c", type: "function", function: { name: "f", arguments: `{"iban":"${IBAN}"}` } }] },
        ],
        extra: { documents: [{ text: `mail ${EMAIL}` }], chat_template: `t ${SSN}` },
      } as any);
      expect(leaks(stack.fake.requests.at(-1)!.rawBody), protocol).toEqual([]);
      stack.fake.setBehavior({ kind: "scripted", json: chatResponse(), chunks: chatChunks() });
      const res = await kt.chat.createChatCompletion({ model: "openllm-llama3", messages: [{ role: "user", content: "hi" }], n: 2 } as any);
      expect(leaks(res), protocol).toEqual([]);
      const chunks: unknown[] = [];
      for await (const c of kt.chat.streamChatCompletion({ model: "openllm-llama3", messages: [{ role: "user", content: "hi" }], n: 2 } as any)) chunks.push(c);
      expect(leaks(chunks), protocol).toEqual([]);
    }
  });

  it("EvaluatePolicy: unset direction is REQUEST; a block returns no text", async () => {
    const kt = createKeeptrustsClient({ baseUrl: stack.url, protocol: "connect" });
    const res = await kt.governance.evaluatePolicy({ text: `mail ${EMAIL} now` });
    expect(res.decision).toBe("redact");
    expect(res.redactedText).toBe("mail [REDACTED:EMAIL] now");
    const req = await kt.governance.evaluatePolicy({ text: `mail ${EMAIL} now`, direction: Direction.REQUEST });
    expect(req.redactedText).toBe(res.redactedText);
  });
});

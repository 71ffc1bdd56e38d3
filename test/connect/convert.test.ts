import { describe, expect, it } from "vitest";
import { create, fromBinary, fromJson, toBinary, toJson, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import {
  ChatCompletionChunkSchema,
  ChatCompletionRequestSchema,
  ChatCompletionResponseSchema,
  CompletionChunkSchema,
  CompletionRequestSchema,
  CompletionResponseSchema,
} from "../../gen/keeptrusts/v1/chat_pb.js";
import {
  chatChunkFromOpenAI,
  chatRequestToOpenAI,
  chatResponseFromOpenAI,
  completionChunkFromOpenAI,
  completionRequestToOpenAI,
  completionResponseFromOpenAI,
} from "../../src/server/connect/convert.js";
import { GatewayError } from "../../src/errors/index.js";

/** SSE `data:` payloads exactly as vLLM 0.8 (OpenLLM 0.6) writes them (spec/openllm-wire.md). */
const VLLM_CHAT_RESPONSE =
  '{"id":"chatcmpl-8f2c1e","object":"chat.completion","created":1744360000,"model":"google/gemma-3-1b-it",' +
  '"choices":[{"index":0,"message":{"role":"assistant","reasoning_content":null,"content":"Hi!","tool_calls":[]},' +
  '"logprobs":null,"finish_reason":"stop","stop_reason":null}],' +
  '"usage":{"prompt_tokens":10,"total_tokens":13,"completion_tokens":3,"prompt_tokens_details":null},' +
  '"prompt_logprobs":null}';

const VLLM_CHAT_STREAM = [
  '{"id":"chatcmpl-X","object":"chat.completion.chunk","created":1744360000,"model":"M","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}',
  '{"id":"chatcmpl-X","object":"chat.completion.chunk","created":1744360000,"model":"M","choices":[{"index":0,"delta":{"content":"Hello"},"logprobs":null,"finish_reason":null}]}',
  '{"id":"chatcmpl-X","object":"chat.completion.chunk","created":1744360000,"model":"M","choices":[{"index":0,"delta":{"content":""},"logprobs":null,"finish_reason":"stop","stop_reason":null}]}',
  '{"id":"chatcmpl-X","object":"chat.completion.chunk","created":1744360000,"model":"M","choices":[],"usage":{"prompt_tokens":12,"total_tokens":20,"completion_tokens":8}}',
];

const VLLM_COMPLETION_RESPONSE =
  '{"id":"cmpl-3b1d","object":"text_completion","created":1744360001,"model":"M",' +
  '"choices":[{"index":0,"text":" world","logprobs":null,"finish_reason":"length","stop_reason":null,"prompt_logprobs":null}],' +
  '"usage":{"prompt_tokens":2,"total_tokens":18,"completion_tokens":16,"prompt_tokens_details":null}}';

const VLLM_COMPLETION_STREAM = [
  '{"id":"cmpl-3b1d","object":"text_completion","created":1744360001,"model":"M","choices":[{"index":0,"text":" wor","logprobs":null,"finish_reason":null,"stop_reason":null}],"usage":null}',
  '{"id":"cmpl-3b1d","object":"text_completion","created":1744360001,"model":"M","choices":[{"index":0,"text":"ld","logprobs":null,"finish_reason":"length","stop_reason":null}],"usage":null}',
  '{"id":"cmpl-3b1d","object":"text_completion","created":1744360001,"model":"M","choices":[],"usage":{"prompt_tokens":2,"total_tokens":18,"completion_tokens":16}}',
];

const parse = (s: string) => JSON.parse(s) as Record<string, unknown>;

/** A message must survive the wire: binary and proto3 JSON round trips. */
function roundTrips<Desc extends DescMessage>(schema: Desc, msg: MessageShape<Desc>): void {
  expect(fromBinary(schema, toBinary(schema, msg))).toEqual(msg);
  expect(fromJson(schema, toJson(schema, msg))).toEqual(msg);
}

describe("chatRequestToOpenAI", () => {
  it("maps typed fields, merges extra verbatim, typed fields win, unset optionals are omitted", () => {
    const req = create(ChatCompletionRequestSchema, {
      model: "openllm-llama3",
      messages: [
        { role: "system", content: "Be brief." },
        { role: "user", content: "Hi", name: "alice" },
      ],
      temperature: 0.7,
      maxTokens: 64,
      stop: ["\n\n"],
      seed: 42n,
      extra: {
        response_format: { type: "json_object" },
        temperature: 1.5,
        guided_choice: ["a", "b"],
        logit_bias: { "50256": -100 },
      },
    });
    expect(chatRequestToOpenAI(req)).toEqual({
      model: "openllm-llama3",
      messages: [
        { role: "system", content: "Be brief." },
        { role: "user", content: "Hi", name: "alice" },
      ],
      temperature: 0.7,
      max_tokens: 64,
      stop: ["\n\n"],
      seed: 42,
      response_format: { type: "json_object" },
      guided_choice: ["a", "b"],
      logit_bias: { "50256": -100 },
    });
  });

  it("keeps exact doubles (0.7 stays 0.7 through binary protobuf)", () => {
    const req = fromBinary(
      ChatCompletionRequestSchema,
      toBinary(ChatCompletionRequestSchema, create(ChatCompletionRequestSchema, { model: "m", topP: 0.9, temperature: 0.7 })),
    );
    const body = chatRequestToOpenAI(req);
    expect(body.top_p).toBe(0.9);
    expect(body.temperature).toBe(0.7);
    expect("n" in body).toBe(false);
    expect("user" in body).toBe(false);
    expect("tools" in body).toBe(false);
    expect("stop" in body).toBe(false);
  });

  it("maps tools, tool calls and tool results", () => {
    const req = create(ChatCompletionRequestSchema, {
      model: "m",
      messages: [
        { role: "user", content: "Weather in Paris?" },
        {
          role: "assistant",
          toolCalls: [{ id: "call_1", function: { name: "get_weather", arguments: '{"city":"Paris"}' } }],
        },
        { role: "tool", toolCallId: "call_1", content: '{"temp":21}' },
      ],
      tools: [
        {
          function: {
            name: "get_weather",
            description: "Current weather",
            parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
          },
        },
      ],
      extra: { tool_choice: "auto" },
    });
    expect(chatRequestToOpenAI(req)).toEqual({
      model: "m",
      messages: [
        { role: "user", content: "Weather in Paris?" },
        {
          role: "assistant",
          tool_calls: [{ id: "call_1", type: "function", function: { name: "get_weather", arguments: '{"city":"Paris"}' } }],
        },
        { role: "tool", tool_call_id: "call_1", content: '{"temp":21}' },
      ],
      tools: [
        {
          type: "function",
          function: {
            name: "get_weather",
            description: "Current weather",
            parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
          },
        },
      ],
      tool_choice: "auto",
    });
  });

  it("sends content parts as the array form of content", () => {
    const req = create(ChatCompletionRequestSchema, {
      model: "m",
      messages: [{ role: "user", content: "ignored", contentParts: [{ type: "text", text: "Describe" }] }],
    });
    expect(chatRequestToOpenAI(req).messages).toEqual([{ role: "user", content: [{ type: "text", text: "Describe" }] }]);
  });

  it("include_usage becomes stream_options on streaming calls only; the RPC decides `stream`", () => {
    const req = create(ChatCompletionRequestSchema, {
      model: "m",
      messages: [{ role: "user", content: "x" }],
      includeUsage: true,
      extra: { stream: false, stream_options: { continuous_usage_stats: true } },
    });
    const streamed = chatRequestToOpenAI(req, { stream: true });
    expect(streamed.stream).toBe(true);
    expect(streamed.stream_options).toEqual({ continuous_usage_stats: true, include_usage: true });

    const unary = chatRequestToOpenAI(req);
    expect("stream" in unary).toBe(false);
    expect("stream_options" in unary).toBe(false);

    const noUsage = chatRequestToOpenAI(create(ChatCompletionRequestSchema, { model: "m" }), { stream: true });
    expect(noUsage.stream).toBe(true);
    expect("stream_options" in noUsage).toBe(false);
  });

  it("rejects values JSON cannot carry with a clear GatewayError", () => {
    const nan = create(ChatCompletionRequestSchema, { model: "m", temperature: Number.NaN });
    expect(() => chatRequestToOpenAI(nan)).toThrow(GatewayError);
    const big = create(ChatCompletionRequestSchema, { model: "m", seed: 2n ** 60n });
    try {
      chatRequestToOpenAI(big);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(GatewayError);
      expect((e as GatewayError).code).toBe("KT_ERR_INVALID_REQUEST");
      expect((e as GatewayError).param).toBe("seed");
    }
  });

  it("the request body serialises to the JSON a client would have sent", () => {
    const req = create(ChatCompletionRequestSchema, { model: "m", messages: [{ role: "user", content: "é 😀" }], n: 2 });
    expect(JSON.parse(JSON.stringify(chatRequestToOpenAI(req)))).toEqual({
      model: "m",
      messages: [{ role: "user", content: "é 😀" }],
      n: 2,
    });
  });
});

describe("chatResponseFromOpenAI", () => {
  it("accepts vLLM's exact non-streaming body (null fields, stop_reason, reasoning_content, tool_calls: [])", () => {
    const res = chatResponseFromOpenAI(parse(VLLM_CHAT_RESPONSE));
    expect(res.id).toBe("chatcmpl-8f2c1e");
    expect(res.created).toBe(1744360000n);
    expect(res.model).toBe("google/gemma-3-1b-it");
    expect(res.choices).toHaveLength(1);
    const c = res.choices[0]!;
    expect(c.index).toBe(0);
    expect(c.finishReason).toBe("stop");
    expect(c.extra).toBeUndefined(); // logprobs and stop_reason were null
    expect(c.message?.role).toBe("assistant");
    expect(c.message?.content).toBe("Hi!");
    expect(c.message?.reasoningContent).toBeUndefined();
    expect(c.message?.toolCalls).toEqual([]);
    expect(c.message?.extra).toBeUndefined();
    expect(res.usage).toMatchObject({ promptTokens: 10, completionTokens: 3, totalTokens: 13 });
    expect(res.extra).toBeUndefined(); // object is implied, prompt_logprobs was null
    roundTrips(ChatCompletionResponseSchema, res);
  });

  it("keeps non-null unknown fields in extra, and tool calls / reasoning typed", () => {
    const res = chatResponseFromOpenAI({
      id: "chat-1",
      object: "chat.completion",
      created: 1744360000,
      model: "M",
      system_fingerprint: "fp_1",
      choices: [
        {
          index: 0,
          message: {
            role: "assistant",
            content: null,
            reasoning_content: "thinking…",
            refusal: "no",
            tool_calls: [{ id: "chatcmpl-tool-1", type: "function", function: { name: "f", arguments: '{"a":1}' } }],
          },
          logprobs: { content: [{ token: "x", logprob: -0.1, bytes: [120], top_logprobs: [] }] },
          finish_reason: "tool_calls",
          stop_reason: 128008,
        },
      ],
      usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 },
    });
    expect(res.extra).toEqual({ system_fingerprint: "fp_1" });
    const c = res.choices[0]!;
    expect(c.extra).toEqual({
      logprobs: { content: [{ token: "x", logprob: -0.1, bytes: [120], top_logprobs: [] }] },
      stop_reason: 128008,
    });
    expect(c.finishReason).toBe("tool_calls");
    expect(c.message?.content).toBeUndefined();
    expect(c.message?.reasoningContent).toBe("thinking…");
    expect(c.message?.extra).toEqual({ refusal: "no" });
    expect(c.message?.toolCalls).toMatchObject([
      { id: "chatcmpl-tool-1", type: "function", function: { name: "f", arguments: '{"a":1}' } },
    ]);
    roundTrips(ChatCompletionResponseSchema, res);
  });

  it("tolerates junk and odd types without throwing (OpenLLM 0.4 float created, missing usage, string stop_reason)", () => {
    const res = chatResponseFromOpenAI({
      created: 12345.678,
      choices: [null, 3, { message: "nope", finish_reason: null, stop_reason: "</s>" }],
      usage: null,
    });
    expect(res.id).toBe("");
    expect(res.created).toBe(12345n);
    expect(res.choices).toHaveLength(1);
    expect(res.choices[0]!.message).toBeUndefined();
    expect(res.choices[0]!.finishReason).toBe("");
    expect(res.choices[0]!.extra).toEqual({ stop_reason: "</s>" });
    expect(res.usage).toBeUndefined();
    expect(chatResponseFromOpenAI({}).choices).toEqual([]);
  });

  it("keeps a __proto__ key as plain data", () => {
    const body = JSON.parse('{"id":"x","choices":[],"__proto__":{"polluted":true}}') as Record<string, unknown>;
    const res = chatResponseFromOpenAI(body);
    expect(Object.getPrototypeOf(res.extra)).toBe(Object.prototype);
    expect((res.extra as Record<string, unknown>)["polluted"]).toBeUndefined();
    expect(Object.keys(res.extra!)).toEqual(["__proto__"]);
  });
});

describe("chatChunkFromOpenAI", () => {
  it("converts vLLM's exact stream, including the usage chunk with choices: []", () => {
    const chunks = VLLM_CHAT_STREAM.map((s) => chatChunkFromOpenAI(parse(s)));
    expect(chunks.map((c) => c.id)).toEqual(["chatcmpl-X", "chatcmpl-X", "chatcmpl-X", "chatcmpl-X"]);
    expect(chunks[0]!.created).toBe(1744360000n);
    expect(chunks[0]!.choices[0]!.delta?.role).toBe("assistant");
    expect(chunks[0]!.choices[0]!.delta?.content).toBe("");
    expect(chunks[0]!.choices[0]!.finishReason).toBeUndefined();
    expect(chunks[0]!.choices[0]!.extra).toBeUndefined();
    expect(chunks[1]!.choices[0]!.delta?.role).toBeUndefined();
    expect(chunks[1]!.choices[0]!.delta?.content).toBe("Hello");
    expect(chunks[2]!.choices[0]!.finishReason).toBe("stop");
    expect(chunks[3]!.choices).toEqual([]);
    expect(chunks[3]!.usage).toMatchObject({ promptTokens: 12, completionTokens: 8, totalTokens: 20 });
    for (const c of chunks.slice(0, 3)) expect(c.usage).toBeUndefined();
    for (const c of chunks) roundTrips(ChatCompletionChunkSchema, c);
  });

  it("converts older builds' first delta without content, and tool-call deltas", () => {
    const first = chatChunkFromOpenAI({
      id: "chat-1",
      object: "chat.completion.chunk",
      created: 1,
      model: "M",
      choices: [{ index: 0, delta: { role: "assistant" }, logprobs: null, finish_reason: null }],
    });
    expect(first.choices[0]!.delta?.content).toBeUndefined();
    expect(first.choices[0]!.delta?.role).toBe("assistant");

    const tool = chatChunkFromOpenAI({
      id: "chat-1",
      object: "chat.completion.chunk",
      created: 1,
      model: "M",
      choices: [
        {
          index: 0,
          delta: {
            tool_calls: [{ index: 0, id: "chatcmpl-tool-9", type: "function", function: { name: "f", arguments: "" } }],
          },
          logprobs: null,
          finish_reason: null,
        },
      ],
    });
    expect(tool.choices[0]!.delta?.toolCalls).toMatchObject([
      { index: 0, id: "chatcmpl-tool-9", type: "function", function: { name: "f", arguments: "" } },
    ]);
    const more = chatChunkFromOpenAI({
      id: "chat-1",
      created: 1,
      model: "M",
      choices: [{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: '{"a"' } }] }, finish_reason: null }],
    });
    const d = more.choices[0]!.delta!.toolCalls[0]!;
    expect(d.id).toBeUndefined();
    expect(d.function?.name).toBeUndefined();
    expect(d.function?.arguments).toBe('{"a"');
    roundTrips(ChatCompletionChunkSchema, more);
  });

  it("keeps reasoning deltas typed and a running usage (continuous_usage_stats)", () => {
    const c = chatChunkFromOpenAI({
      id: "x",
      object: "chat.completion.chunk",
      created: 1,
      model: "M",
      choices: [{ index: 0, delta: { reasoning_content: "hmm" }, logprobs: null, finish_reason: null }],
      usage: { prompt_tokens: 5, total_tokens: 6, completion_tokens: 1 },
    });
    expect(c.choices[0]!.delta?.reasoningContent).toBe("hmm");
    expect(c.usage?.totalTokens).toBe(6);
  });

  it("refuses a mid-stream error event instead of passing it on as data", () => {
    const ev = JSON.parse('{"error": {"object": "error", "message": "boom", "type": "BadRequestError", "param": null, "code": 400}}');
    expect(() => chatChunkFromOpenAI(ev)).toThrow(GatewayError);
    expect(() => completionChunkFromOpenAI(ev)).toThrow(GatewayError);
  });
});

describe("completion converters", () => {
  it("completionRequestToOpenAI: string prompt, list prompt, token-id prompt through extra", () => {
    const one = create(CompletionRequestSchema, { model: "m", prompt: "Hello", maxTokens: 16, echo: true, logprobs: 2 });
    expect(completionRequestToOpenAI(one)).toEqual({ model: "m", prompt: "Hello", max_tokens: 16, echo: true, logprobs: 2 });

    const many = create(CompletionRequestSchema, { model: "m", prompt: "ignored", prompts: ["a", "b"], stop: ["."] });
    expect(completionRequestToOpenAI(many)).toEqual({ model: "m", prompt: ["a", "b"], stop: ["."] });

    const ids = create(CompletionRequestSchema, { model: "m", extra: { prompt: [1, 2, 3] } });
    expect(completionRequestToOpenAI(ids)).toEqual({ model: "m", prompt: [1, 2, 3] });

    const streamed = completionRequestToOpenAI(create(CompletionRequestSchema, { model: "m", prompt: "x", includeUsage: true }), {
      stream: true,
    });
    expect(streamed).toEqual({ model: "m", prompt: "x", stream: true, stream_options: { include_usage: true } });
  });

  it("completionResponseFromOpenAI accepts vLLM's exact body", () => {
    const res = completionResponseFromOpenAI(parse(VLLM_COMPLETION_RESPONSE));
    expect(res.id).toBe("cmpl-3b1d");
    expect(res.created).toBe(1744360001n);
    expect(res.choices).toHaveLength(1);
    expect(res.choices[0]).toMatchObject({ index: 0, text: " world", finishReason: "length" });
    expect(res.choices[0]!.extra).toBeUndefined();
    expect(res.usage).toMatchObject({ promptTokens: 2, completionTokens: 16, totalTokens: 18 });
    expect(res.extra).toBeUndefined();
    roundTrips(CompletionResponseSchema, res);
  });

  it("completionChunkFromOpenAI accepts vLLM's stream with usage: null until the usage chunk", () => {
    const chunks = VLLM_COMPLETION_STREAM.map((s) => completionChunkFromOpenAI(parse(s)));
    expect(chunks.map((c) => c.choices.map((x) => x.text).join(""))).toEqual([" wor", "ld", ""]);
    expect(chunks[0]!.choices[0]!.finishReason).toBeUndefined();
    expect(chunks[1]!.choices[0]!.finishReason).toBe("length");
    expect(chunks[0]!.usage).toBeUndefined();
    expect(chunks[2]!.choices).toEqual([]);
    expect(chunks[2]!.usage).toMatchObject({ promptTokens: 2, completionTokens: 16, totalTokens: 18 });
    for (const c of chunks) roundTrips(CompletionChunkSchema, c);
  });
});

import { create, fromBinary, fromJsonString, toBinary } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { ChatCompletionRequestSchema } from "../../gen/keeptrusts/v1/chat_pb.js";
import { ListAuditEventsRequestSchema } from "../../gen/keeptrusts/v1/governance_pb.js";
import { undecodableJson, undecodableProtobuf } from "../../src/server/connect/undecodable-message.js";

// The words a client is told about a message that cannot be decoded are built from the schema and
// fixed text, never from the decoders' own messages, which quote the body. Fed here the real
// errors of JSON.parse and protobuf-es for bodies that carry a secret in every position a decoder
// might quote it from.

const SECRET = "sk-live-Zq8Xw2Vb";
const EMAIL = "jane.doe@example.com";

function errorOf(f: () => unknown): string {
  try {
    f();
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error("decoded without an error");
}

const jsonBodies = [
  `${SECRET}`,
  `${SECRET}{"model":"t"}`,
  `{"model":"t"}${SECRET}`,
  `{"model": "${SECRET}`,
  `{"model": "t", "${SECRET}": }`,
  `{"model": "t", "temperature": "${SECRET} ${EMAIL}"}`,
  `{"model": "t", "temperature": ${"9".repeat(400)}${SECRET}}`,
  `{"model": "t", "maxTokens": "${EMAIL}"}`,
  `{"model": "t", "messages": "${EMAIL}"}`,
  `{"model": "t", "messages": [{"role": "user", "content": ["${EMAIL}"]}]}`,
  `{"model": "t", "messages": [{"role": 7, "content": "${EMAIL}"}]}`,
  `["${SECRET}"]`,
  `"${SECRET}"`,
  `{"model": "t", "stop": {"${EMAIL}": 1}}`,
  `{"model": "t",\n "note": "${SECRET}\u0001"}`,
  `{"model": "t", "x": "\\q${SECRET}"}`,
];

describe("undecodableJson", () => {
  it.each(jsonBodies)("never quotes the body: %s", (body) => {
    const raw = errorOf(() => fromJsonString(ChatCompletionRequestSchema, body));
    // The decoders do quote it (what this guards against), for most of these shapes.
    const said = undecodableJson("keeptrusts.v1.ChatCompletionRequest", raw);
    expect(said).toMatch(/^the request message is not (valid JSON|a valid keeptrusts\.v1\.ChatCompletionRequest)/);
    expect(said).not.toContain(SECRET);
    expect(said).not.toContain(EMAIL);
    expect(said).not.toContain("sk-live");
  });

  it("the decoders' own messages quote the body (so the test above can fail)", () => {
    expect(errorOf(() => fromJsonString(ChatCompletionRequestSchema, jsonBodies[0]!))).toContain(SECRET);
    expect(errorOf(() => fromJsonString(ChatCompletionRequestSchema, `{"model": "t", "maxTokens": "${EMAIL}"}`))).toContain(EMAIL);
    expect(errorOf(() => fromJsonString(ChatCompletionRequestSchema, `"${SECRET}"`))).toContain(SECRET);
  });

  it("keeps what helps and is not the body's: the position, the field's name", () => {
    expect(undecodableJson("T", errorOf(() => JSON.parse(`{"a": "${SECRET}`)))).toMatch(/^the request message is not valid JSON \(at position \d+\)$/);
    expect(undecodableJson("T", errorOf(() => JSON.parse(`{"a": 1 2}`)))).toBe("the request message is not valid JSON (at position 8)");
    // V8 gives no position for an unexpected token, only the text around it: nothing is kept.
    expect(undecodableJson("T", errorOf(() => JSON.parse(`{"a": 1,\n "${SECRET}": }`)))).toBe("the request message is not valid JSON");
    expect(undecodableJson("keeptrusts.v1.ChatCompletionRequest", errorOf(() => fromJsonString(ChatCompletionRequestSchema, `{"temperature": "${EMAIL}"}`)))).toBe(
      "the request message is not a valid keeptrusts.v1.ChatCompletionRequest: field keeptrusts.v1.ChatCompletionRequest.temperature has a value it cannot take",
    );
    expect(undecodableJson("keeptrusts.v1.ListAuditEventsRequest", errorOf(() => fromJsonString(ListAuditEventsRequestSchema, `{"startTime": "${SECRET}"}`)))).toBe(
      "the request message is not a valid keeptrusts.v1.ListAuditEventsRequest in JSON",
    );
    expect(undecodableJson("T", errorOf(() => new TextDecoder("utf-8", { fatal: true }).decode(new Uint8Array([0xc3, 0x28]))))).toBe("the request message is not valid UTF-8");
  });
});

describe("undecodableProtobuf", () => {
  const whole = toBinary(ChatCompletionRequestSchema, create(ChatCompletionRequestSchema, { model: "t", messages: [{ role: "user", content: `mail ${EMAIL} key ${SECRET} and more` }] }));
  const bodies: [string, Uint8Array][] = [
    ["truncated", whole.subarray(0, whole.length - 6)],
    ["a length past the end", new Uint8Array([0x0a, 0x7f, ...Buffer.from(SECRET)])],
    ["wire type 7", new Uint8Array([0x0f, ...Buffer.from(EMAIL)])],
    ["a varint that never ends", new Uint8Array(Array(11).fill(0xff))],
    ["text", new Uint8Array(Buffer.from(`${SECRET} ${EMAIL}`))],
  ];

  it.each(bodies)("%s: the reader's reason, never the bytes", (_name, bytes) => {
    const raw = errorOf(() => fromBinary(ChatCompletionRequestSchema, bytes));
    const said = undecodableProtobuf("keeptrusts.v1.ChatCompletionRequest", raw);
    expect(said).toMatch(/^the request message is not a valid keeptrusts\.v1\.ChatCompletionRequest in protobuf binary \((premature EOF|invalid varint|illegal tag: field no \d+ wire type \d)\)$/);
    expect(said).not.toContain(SECRET);
    expect(said).not.toContain(EMAIL);
  });

  it("a reason it does not know is left out, whatever it says", () => {
    expect(undecodableProtobuf("T", `invalid UTF-8 in "${EMAIL}"`)).toBe("the request message is not a valid T in protobuf binary");
    expect(undecodableProtobuf("T", `premature EOF ${SECRET}`)).toBe("the request message is not a valid T in protobuf binary");
  });
});

import { brotliDecompressSync, gunzipSync } from "node:zlib";
import { create, fromBinary, fromJson, toBinary, toJsonString, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { ChatCompletionRequestSchema, ChatCompletionResponseSchema, CompletionRequestSchema, CompletionResponseSchema } from "../../../gen/keeptrusts/v1/chat_pb.js";
import { Direction, EvaluatePolicyRequestSchema, EvaluatePolicyResponseSchema, FindingSchema } from "../../../gen/keeptrusts/v1/governance_pb.js";
import { toGatewayError } from "../../errors/index.js";
import { heldAnswerBody, heldSkeletonOf, ruleIdOf, runChainJob, TOO_MANY_VALUES, type HeldAnswerRef, type RuleSource } from "../../policy/index.js";
import { sharedMemoryClass } from "../../wire/index.js";
import { chatRequestToOpenAI, chatResponseFromOpenAI, completionRequestToOpenAI, completionResponseFromOpenAI } from "./convert.js";
import { undecodableJson, undecodableProtobuf } from "./undecodable-message.js";

/**
 * Runs in a policy pool worker (a "module" job): decodes a large ChatService request held in
 * shared memory (src/server/connect/held-rpc.ts) and converts it to the pipeline's OpenAI JSON,
 * written as UTF-8 into new shared memory, with the skeleton the main thread works on: the same
 * held body the OpenAI route makes (src/wire/held-body.ts). Connect on the main thread is handed a
 * small message in the client's own framing and codec, so authentication, interceptors and errors
 * stay Connect's.
 */

export type HeldRpcMethod = "CreateChatCompletion" | "StreamChatCompletion" | "CreateCompletion" | "StreamCompletion";

/** A request message's bytes as the client sent them, held in shared memory. */
export interface RpcBodyRef {
  bytes: SharedArrayBuffer;
  length: number;
  /** The request's content type, without parameters. */
  contentType: string;
  /** The compression of an enveloped message (grpc-encoding / connect-content-encoding) or of a unary Connect body (content-encoding). */
  encoding: string | undefined;
  maxBytes: number;
}

export interface HeldRpcInput extends RpcBodyRef {
  method: HeldRpcMethod;
  nonce: string;
  holdMin: number;
}

export type HeldRpcOutput =
  | { fault: string }
  | {
      /** The small message Connect decodes: the request's model only, framed as the client framed it. */
      message: Uint8Array;
      /** The conversion failed as a small request's would (the handler refuses it the same way). */
      convert?: { code: string; message: string };
      json?: { bytes: SharedArrayBuffer; length: number; skeleton: unknown; extraBytes: number };
    };

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Whether a content type frames its message in envelopes (gRPC, gRPC-Web, Connect streaming). */
export function isEnveloped(contentType: string): boolean {
  return /^application\/(grpc|grpc-web|connect)(\+|$)/.test(contentType);
}

function isJson(contentType: string): boolean {
  return contentType === "application/json" || contentType.endsWith("+json");
}

function inflate(bytes: Uint8Array, encoding: string | undefined, maxBytes: number): Uint8Array {
  if (encoding === "gzip") return gunzipSync(bytes, { maxOutputLength: maxBytes });
  if (encoding === "br") return brotliDecompressSync(bytes, { maxOutputLength: maxBytes });
  if (encoding === undefined || encoding === "identity") return bytes;
  // The encoding is the client's header: not echoed.
  throw new Error("its compression is not gzip or br");
}

function frame(message: Uint8Array, enveloped: boolean): Uint8Array {
  if (!enveloped) return message;
  const out = new Uint8Array(5 + message.length);
  new DataView(out.buffer).setUint32(1, message.length);
  out.set(message, 5);
  return out;
}

/** The held message's bytes, out of its envelope and inflated. */
function messageBytes(input: RpcBodyRef): Uint8Array | { fault: string } {
  // A private copy: a shared buffer cannot be decoded in place.
  let body: Uint8Array = new Uint8Array(input.bytes, 0, input.length).slice();
  try {
    if (isEnveloped(input.contentType)) {
      if (body.length < 5) return { fault: "protocol error: incomplete envelope" };
      const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
      const flags = view.getUint8(0);
      const size = view.getUint32(1);
      if (size !== body.length - 5) return { fault: "protocol error: a unary request must carry exactly one message" };
      body = body.subarray(5);
      if (flags & 1) body = inflate(body, input.encoding, input.maxBytes);
    } else body = inflate(body, input.encoding, input.maxBytes);
  } catch (err) {
    return { fault: `cannot decompress the message: ${(err as Error).message}` };
  }
  return body;
}

function decoded<T extends DescMessage>(schema: T, input: RpcBodyRef): MessageShape<T> | { fault: string } {
  const body = messageBytes(input);
  if (!(body instanceof Uint8Array)) return body;
  const json = isJson(input.contentType);
  try {
    return json ? fromJson(schema, JSON.parse(utf8.decode(body))) : fromBinary(schema, body);
  } catch (err) {
    // Said as Connect's refusals of a small message are (rpc-fault.ts): never quoting the body.
    const reason = err instanceof Error ? err.message : "";
    return { fault: json ? undecodableJson(schema.typeName, reason) : undecodableProtobuf(schema.typeName, reason) };
  }
}

function encoded<T extends DescMessage>(schema: T, msg: MessageShape<T>, contentType: string): Uint8Array {
  return isJson(contentType) ? new TextEncoder().encode(toJsonString(schema, msg)) : toBinary(schema, msg);
}

export function decodeHeldRpc(input: HeldRpcInput): HeldRpcOutput {
  const enveloped = isEnveloped(input.contentType);
  const schema: DescMessage = input.method.endsWith("ChatCompletion") ? ChatCompletionRequestSchema : CompletionRequestSchema;
  const msg = decoded(schema, input);
  if ("fault" in msg) return msg as { fault: string };
  const model = (msg as { model?: string }).model ?? "";
  const message = frame(encoded(schema, create(schema, { model } as never), input.contentType), enveloped);
  const stream = input.method.startsWith("Stream");
  let out: Record<string, unknown>;
  try {
    out = schema === ChatCompletionRequestSchema ? chatRequestToOpenAI(msg as never, { stream }) : completionRequestToOpenAI(msg as never, { stream });
  } catch (err) {
    const e = toGatewayError(err);
    return { message, convert: { code: e.code, message: e.message } };
  }
  const json = new TextEncoder().encode(JSON.stringify(out));
  // Of a size class, so the main thread can adopt it into the pooled memory (counted, reused).
  const bytes = new SharedArrayBuffer(sharedMemoryClass(json.length));
  new Uint8Array(bytes).set(json);
  const held = heldSkeletonOf(out, input.holdMin, input.nonce);
  if ("fault" in held) return { fault: held.fault === "values" ? TOO_MANY_VALUES : "the request has an object key of 65,536 characters or more" };
  return { message, json: { bytes, length: json.length, skeleton: held.skeleton, extraBytes: held.extraBytes } };
}

// ---------------------------------------------------------------------------------------------
// GovernanceService.EvaluatePolicy: the whole call in a worker (decode, chain, encode the answer)
// ---------------------------------------------------------------------------------------------

export type HeldEvaluateDecoded = { fault: string } | { message: Uint8Array; direction: "request" | "response"; policyId: string | undefined };

/** The front door's step: the small message Connect decodes (the text left out) and what the handler needs to pick the rules. */
export function decodeHeldEvaluate(input: RpcBodyRef): HeldEvaluateDecoded {
  const msg = decoded(EvaluatePolicyRequestSchema, input);
  if ("fault" in msg) return msg as { fault: string };
  const small = create(EvaluatePolicyRequestSchema, { direction: msg.direction, policyId: msg.policyId });
  return {
    message: frame(encoded(EvaluatePolicyRequestSchema, small, input.contentType), isEnveloped(input.contentType)),
    direction: msg.direction === Direction.RESPONSE ? "response" : "request",
    policyId: msg.policyId,
  };
}

export interface HeldEvaluateInput {
  body: RpcBodyRef;
  phase: "request" | "response";
  rules: RuleSource[];
  maxFindings: number;
}

export type HeldEvaluateOutput =
  | { fault: string }
  | { unavailable: string }
  | {
      decision: string;
      findingsTotal: number;
      /** The complete EvaluatePolicyResponse in the client's codec, unframed. */
      message: Uint8Array;
    };

/** The handler's step, after authentication: the chain over the text and the answer, encoded here. */
export async function evaluateHeld(input: HeldEvaluateInput): Promise<HeldEvaluateOutput> {
  const msg = decoded(EvaluatePolicyRequestSchema, input.body);
  if ("fault" in msg) return msg as { fault: string };
  const role = input.phase === "request" ? "user" : "assistant";
  const r = await runChainJob({
    kind: "chain",
    phase: input.phase,
    rules: input.rules,
    segments: [{ path: [], text: msg.text, role, json: false, choice: 0 }],
    collectFindings: true,
    maxFindings: input.maxFindings,
  });
  if (r.blocked?.code === "KT_ERR_POLICY_ENGINE_UNAVAILABLE") return { unavailable: r.blocked.message };
  // As evaluateText and the governance service word it (src/policy/policy-engine.ts).
  const decision = r.blocked ? "block" : r.events.some((e) => e.action === "redact" || e.action === "mask") ? "redact" : r.events.length > 0 ? "log" : "allow";
  const actionOf = new Map(r.events.map((e) => [`${e.policy}/${e.rule}`, e.action]));
  const findings = [];
  for (let k = 0; k < r.findings.length; k += 4) {
    const rule = input.rules[r.findings[k + 2]!]!;
    const id = ruleIdOf(rule);
    findings.push(
      create(FindingSchema, {
        policy: rule.policy,
        rule: id,
        type: r.types[r.findings[k + 3]!]!,
        start: r.findings[k]!,
        end: r.findings[k + 1]!,
        action: actionOf.get(`${rule.policy}/${id}`) ?? "",
      }),
    );
  }
  const answer = create(EvaluatePolicyResponseSchema, {
    decision,
    redactedText: r.blocked ? "" : (r.texts[0] ?? msg.text),
    findingsTotal: r.findingsTotal,
    findings,
  });
  // Handed back in shared memory made (and faulted in) here: a 15 MiB answer cloned into a fresh
  // buffer on the main thread cost it 0.1-0.5 s of page faults on some hosts.
  const bytes = encoded(EvaluatePolicyResponseSchema, answer, input.body.contentType);
  const message = new Uint8Array(new SharedArrayBuffer(bytes.length));
  message.set(bytes);
  return { decision, findingsTotal: r.findingsTotal, message };
}

/** The held text itself, for a chain with a guard-model rule (which runs on the main thread). */
export function heldEvaluateText(input: RpcBodyRef): string {
  const msg = decoded(EvaluatePolicyRequestSchema, input);
  if ("fault" in msg) throw new Error((msg as { fault: string }).fault);
  return msg.text;
}

// ---------------------------------------------------------------------------------------------
// ChatService unary answers: a large (held) answer converted and encoded here
// ---------------------------------------------------------------------------------------------

export interface HeldAnswerInput {
  /** The answer held in shared memory (src/wire/held-answer.ts), as the response rules left it. */
  answer: HeldAnswerRef;
  op: "chat" | "completion";
  /** The request's content type, without parameters: the answer is encoded in the same codec. */
  contentType: string;
}

/**
 * A held answer as the complete ChatCompletionResponse / CompletionResponse in the client's codec,
 * unframed, in shared memory made here: the same message the handler's converter makes of a small
 * answer (convert.ts), without parsing a megabyte of JSON or building its protobuf on the main thread.
 */
export function encodeHeldAnswer(input: HeldAnswerInput): Uint8Array {
  const body = heldAnswerBody(input.answer);
  const bytes =
    input.op === "chat"
      ? encoded(ChatCompletionResponseSchema, chatResponseFromOpenAI(body), input.contentType)
      : encoded(CompletionResponseSchema, completionResponseFromOpenAI(body), input.contentType);
  const message = new Uint8Array(new SharedArrayBuffer(bytes.length));
  message.set(bytes);
  return message;
}

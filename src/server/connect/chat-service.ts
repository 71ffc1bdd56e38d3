import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { create } from "@bufbuild/protobuf";
import { ChatCompletionResponseSchema, ChatService, CompletionResponseSchema, ListModelsResponseSchema, ModelSchema } from "../../../gen/keeptrusts/v1/chat_pb.js";
import type { ChatPipeline, Runtime } from "../../chat/index.js";
import { heldAnswerOf, releaseHeldBody, type Chunk, type ChatResult, type JsonObject, type Operation } from "../../wire/index.js";
import { GatewayError, toGatewayError } from "../../errors/index.js";
import { answeredKey, callContext } from "./call-context.js";
import { toConnectError } from "./connect-errors.js";
import { encodesHeldAnswer, heldAnswerKey, heldChatKey, heldOr, runHeldRpcJob } from "./held-rpc.js";
import type { HeldAnswerInput } from "./held-rpc-job.js";
import {
  chatChunkFromOpenAI,
  chatRequestToOpenAI,
  chatResponseFromOpenAI,
  completionChunkFromOpenAI,
  completionRequestToOpenAI,
  completionResponseFromOpenAI,
} from "./convert.js";

/** ChatService: a thin adapter onto the chat pipeline; no policy, routing or upstream logic here. */
export function chatService(pipeline: ChatPipeline, runtime: () => Runtime): ServiceImpl<typeof ChatService> {
  return {
    // A large request was decoded and converted by a pool worker (held-rpc.ts): its held body runs.
    // Its pooled memory goes back once the call is done (unary, relay).
    // Each handler takes charge of its call's record (answeredKey): the pipeline's, or converted()'s.
    createChatCompletion: (req, ctx) =>
      unary(pipeline, "chat", req.model, () => heldOr(ctx.values.get(heldChatKey), () => chatRequestToOpenAI(req)), ctx, chatResponseFromOpenAI, () => create(ChatCompletionResponseSchema)),
    streamChatCompletion: (req, ctx) =>
      answered(ctx) &&
      relay(
        async () =>
          pipeline.run("chat", await converted(pipeline, "chat", req.model, true, () => heldOr(ctx.values.get(heldChatKey), () => chatRequestToOpenAI(req, { stream: true })), ctx), callContext(ctx)),
        chatChunkFromOpenAI,
        ctx,
      ),
    createCompletion: (req, ctx) =>
      unary(pipeline, "completion", req.model, () => heldOr(ctx.values.get(heldChatKey), () => completionRequestToOpenAI(req)), ctx, completionResponseFromOpenAI, () => create(CompletionResponseSchema)),
    streamCompletion: (req, ctx) =>
      answered(ctx) &&
      relay(
        async () =>
          pipeline.run(
            "completion",
            await converted(pipeline, "completion", req.model, true, () => heldOr(ctx.values.get(heldChatKey), () => completionRequestToOpenAI(req, { stream: true })), ctx),
            callContext(ctx),
          ),
        completionChunkFromOpenAI,
        ctx,
      ),
    // Listing models is recorded only when refused (as GET /v1/models).
    async listModels(_req, ctx) {
      answered(ctx);
      const models = runtime().registry.models();
      return create(ListModelsResponseSchema, {
        models: models.map((m) => create(ModelSchema, { id: m.id, ownedBy: "openllm", targetIds: m.targets })),
      });
    },
  };
}

/**
 * The request as the pipeline's JSON; a message that cannot be converted (a non-finite number, an
 * out-of-range seed) never reaches the pipeline, so it is recorded here before it is refused.
 */
async function converted(pipeline: ChatPipeline, op: Operation, model: string, stream: boolean, body: () => JsonObject, ctx: HandlerContext): Promise<JsonObject> {
  try {
    return body();
  } catch (err) {
    const c = callContext(ctx);
    await pipeline.refuse({
      kind: "request",
      operation: op,
      model,
      stream,
      frontDoor: c.frontDoor,
      principal: c.principal,
      error: toGatewayError(err),
      origin: c.origin,
      traceparent: c.traceparent,
      tracestate: c.tracestate,
    });
    throw err;
  }
}

/** The call's record is this handler's to make (see answeredKey): true, for use in an expression. */
function answered(ctx: HandlerContext): true {
  ctx.values.set(answeredKey, true);
  return true;
}

async function unary<T>(pipeline: ChatPipeline, op: Operation, model: string, body: () => JsonObject, ctx: HandlerContext, convert: (b: JsonObject) => T, empty: () => T): Promise<T> {
  answered(ctx);
  try {
    const r = await pipeline.run(op, await converted(pipeline, op, model, false, body, ctx), callContext(ctx));
    if (r.stream) throw new GatewayError("KT_ERR_INTERNAL", "pipeline streamed a unary call");
    if (r.release) return await heldAnswer(r, op, ctx, convert, empty);
    return convert(r.body);
  } catch (err) {
    throw toConnectError(err, ctx.signal);
  } finally {
    // A large request's pooled memory (its bytes, rewrites, upstream form) goes back for the next
    // one, as the OpenAI route's does; a pool job still reading it keeps it until the job ends.
    releaseHeldBody(ctx.values.get(heldChatKey)?.body);
  }
}

/**
 * A large answer (src/wire/held-answer.ts): `body` is only its summary. A pool worker converts the
 * answer and encodes the response message in the client's codec; the handler returns an empty
 * message, which the front door replaces by those bytes (request-handler.ts, withHeldAnswer).
 * A content type the worker does not encode (none Connect serves: it refuses gRPC-Web's base64 text
 * form with 415) would be parsed here, as a small answer is.
 */
async function heldAnswer<T>(r: Extract<ChatResult, { stream: false }>, op: Operation, ctx: HandlerContext, convert: (b: JsonObject) => T, empty: () => T): Promise<T> {
  try {
    const held = heldAnswerOf(r.body)!;
    const contentType = (ctx.requestHeader.get("content-type") ?? "").split(";", 1)[0]!.trim().toLowerCase();
    if (!encodesHeldAnswer(contentType)) return convert(JSON.parse(Buffer.from(held.bytes, 0, held.length).toString("utf8")) as JsonObject);
    const input: HeldAnswerInput = { answer: { bytes: held.bytes, length: held.length, nonce: held.nonce, version: held.version }, op, contentType };
    // The request's record is written as answered by now: this job is never refused for a full queue.
    const answer = await runHeldRpcJob<Uint8Array>("encodeHeldAnswer", input, held.length, true);
    ctx.values.set(heldAnswerKey, { answer });
    return empty();
  } finally {
    // The worker's message is in memory of its own: the answer's pooled memory is done with.
    r.release!();
  }
}

async function* relay<T>(
  start: () => ReturnType<ChatPipeline["run"]>,
  convert: (c: Chunk) => T,
  ctx: HandlerContext,
): AsyncGenerator<T> {
  try {
    const r = await start();
    if (!r.stream) throw new GatewayError("KT_ERR_INTERNAL", "pipeline answered a stream with one body");
    for await (const chunk of r.chunks) yield convert(chunk);
  } catch (err) {
    throw toConnectError(err, ctx.signal);
  } finally {
    // As unary's: the stream has ended, failed or been given up by the client.
    releaseHeldBody(ctx.values.get(heldChatKey)?.body);
  }
}

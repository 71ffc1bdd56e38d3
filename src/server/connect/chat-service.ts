import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { create } from "@bufbuild/protobuf";
import { ChatService, ListModelsResponseSchema, ModelSchema } from "../../../gen/keeptrusts/v1/chat_pb.js";
import type { ChatPipeline, Runtime } from "../../chat/index.js";
import type { Chunk, JsonObject, Operation } from "../../wire/index.js";
import { GatewayError, toGatewayError } from "../../errors/index.js";
import { callContext } from "./call-context.js";
import { toConnectError } from "./connect-errors.js";
import { heldChatKey, heldOr } from "./held-rpc.js";
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
    createChatCompletion: (req, ctx) => unary(pipeline, "chat", req.model, () => heldOr(ctx.values.get(heldChatKey), () => chatRequestToOpenAI(req)), ctx, chatResponseFromOpenAI),
    streamChatCompletion: (req, ctx) =>
      relay(
        async () =>
          pipeline.run("chat", await converted(pipeline, "chat", req.model, true, () => heldOr(ctx.values.get(heldChatKey), () => chatRequestToOpenAI(req, { stream: true })), ctx), callContext(ctx)),
        chatChunkFromOpenAI,
        ctx.signal,
      ),
    createCompletion: (req, ctx) =>
      unary(pipeline, "completion", req.model, () => heldOr(ctx.values.get(heldChatKey), () => completionRequestToOpenAI(req)), ctx, completionResponseFromOpenAI),
    streamCompletion: (req, ctx) =>
      relay(
        async () =>
          pipeline.run(
            "completion",
            await converted(pipeline, "completion", req.model, true, () => heldOr(ctx.values.get(heldChatKey), () => completionRequestToOpenAI(req, { stream: true })), ctx),
            callContext(ctx),
          ),
        completionChunkFromOpenAI,
        ctx.signal,
      ),
    async listModels() {
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

async function unary<T>(pipeline: ChatPipeline, op: Operation, model: string, body: () => JsonObject, ctx: HandlerContext, convert: (b: JsonObject) => T): Promise<T> {
  try {
    const r = await pipeline.run(op, await converted(pipeline, op, model, false, body, ctx), callContext(ctx));
    if (r.stream) throw new GatewayError("KT_ERR_INTERNAL", "pipeline streamed a unary call");
    return convert(r.body);
  } catch (err) {
    throw toConnectError(err, ctx.signal);
  }
}

async function* relay<T>(
  start: () => ReturnType<ChatPipeline["run"]>,
  convert: (c: Chunk) => T,
  signal: AbortSignal,
): AsyncGenerator<T> {
  try {
    const r = await start();
    if (!r.stream) throw new GatewayError("KT_ERR_INTERNAL", "pipeline answered a stream with one body");
    for await (const chunk of r.chunks) yield convert(chunk);
  } catch (err) {
    throw toConnectError(err, signal);
  }
}

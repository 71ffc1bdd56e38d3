import type { Scope } from "../config/index.js";

/**
 * The canonical request is the OpenAI request body itself, as a plain JSON object: unknown fields
 * (tools, response_format, seed, vendor extensions) travel verbatim to OpenLLM.
 */
export type JsonObject = Record<string, unknown>;

export type Operation = "chat" | "completion";

/** Who is calling: resolved from the API key. `keyId` is the key's configured id, never the key. */
export interface Principal {
  keyId: string;
  scopes: readonly Scope[];
}

export type FrontDoor = "openai" | "grpc" | "connect" | "grpc-web";

export interface CallContext {
  principal: Principal;
  /** Aborts when the client goes away or its deadline passes; reaches the upstream request. */
  signal: AbortSignal;
  frontDoor: FrontDoor;
  /** Incoming W3C trace context, when the client sent one. */
  traceparent?: string;
  tracestate?: string;
}

/** A streamed chunk, as OpenAI's `chat.completion.chunk` / `text_completion` objects. */
export type Chunk = JsonObject;

export type ChatResult =
  | { stream: false; body: JsonObject }
  | {
      stream: true;
      /** Chunks in order; a failure mid-stream is thrown from the iterator as a GatewayError. */
      chunks: AsyncIterable<Chunk>;
    };

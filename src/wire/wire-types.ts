/** What a key may do: `chat` the ChatService and OpenAI routes, `admin` the Governance service. */
export type Scope = "chat" | "admin";

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

/**
 * How a request reached the gateway, for the request's span (HTTP and RPC semantic conventions)
 * and its audit record: the peer address and the route or RPC it called. Never content.
 */
export interface RequestOrigin {
  /** The peer's IP address as the socket saw it. */
  clientAddress?: string;
  clientPort?: number;
  /** HTTP method and route template (`POST`, `/v1/chat/completions`). */
  httpMethod?: string;
  httpRoute?: string;
  /** `1.1` or `2`. */
  protocolVersion?: string;
  /** The RPC called, for gRPC/Connect (`keeptrusts.v1.ChatService`, `CreateChatCompletion`). */
  rpcService?: string;
  rpcMethod?: string;
}

/**
 * What undici accepts as a request's `signal`, and all the pipeline itself asks of one: an
 * AbortSignal, or an EventEmitter that emits `abort` and says whether it has.
 */
export type CancelSignal = AbortSignal | (NodeJS.EventEmitter & { readonly aborted: boolean; readonly reason?: unknown });

export interface CallContext {
  principal: Principal;
  /** Aborts when the client goes away or its deadline passes; reaches the upstream request. */
  readonly signal: AbortSignal;
  /**
   * The same cancellation in a cheaper form, where the front door has one (the OpenAI shim makes
   * its AbortSignal only when asked): non-streamed upstream calls and the pipeline's own checks
   * use it, so the common request never builds an AbortSignal.
   */
  readonly cancel?: CancelSignal;
  frontDoor: FrontDoor;
  /** Incoming W3C trace context, when the client sent one. */
  traceparent?: string;
  tracestate?: string;
  /** Peer and route, when the front door knows them. */
  readonly origin?: RequestOrigin;
  /**
   * The bytes the request body was parsed from, when the front door read it whole (the OpenAI
   * shim's ordinary bodies): the pipeline sends them upstream as they came when nothing was to
   * change the body, instead of serialising the prompt again. Only the very object the front door
   * parsed from them is passed with them.
   */
  readonly rawBody?: Uint8Array;
}

/** A streamed chunk, as OpenAI's `chat.completion.chunk` / `text_completion` objects. */
export type Chunk = JsonObject;

export type ChatResult =
  | {
      stream: false;
      body: JsonObject;
      /** The upstream's own bytes of `body`, when nothing changed it: a front door may send them as they are. */
      raw?: string;
      /** `raw` as the bytes it was decoded from, when they were valid UTF-8 (so exactly its encoding). */
      rawBytes?: Uint8Array;
      /** Response headers to send (rate-limit state). */
      headers?: Record<string, string>;
      /**
       * Set for a large answer held in pooled shared memory (src/wire/held-answer.ts): `rawBytes`
       * is a view of it and `body` only the answer's summary (id, model, usage, finish reasons).
       * The front door calls this once the bytes have left (the response closed) or will never be
       * sent; until then the memory must not be handed out again.
       */
      release?: () => void;
    }
  | {
      stream: true;
      /** Chunks in order; a failure mid-stream is thrown from the iterator as a GatewayError. */
      chunks: AsyncIterable<Chunk>;
      /**
       * No rule can change a chunk (no response rules): a front door may send each chunk as the
       * upstream wrote it (rawChunkOf) instead of serialising it again.
       */
      verbatim?: boolean;
      headers?: Record<string, string>;
    };

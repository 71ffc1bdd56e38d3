export { bodySlices, SLICE_MIN_BYTES, UpstreamClient, type JsonAnswer, type UpstreamCall } from "./openai-client.js";
export { MAX_SSE_EVENT_CHARS, SseDecoder, SseEventTooLarge, Utf8Reads, type SseEvent } from "./sse-decoder.js";
export { SSE_DONE, sseData } from "./sse-encoder.js";
export { parseErrorBody, transportError, upstreamStatusError } from "./upstream-error.js";

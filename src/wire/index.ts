// The wire types every layer speaks: the canonical request and chunk, the caller, the call's
// context. The bottom folder: it imports nothing of ours, so policy, routing, upstream and audit
// can use them without standing on the pipeline that composes them.
export type { CallContext, CancelSignal, ChatResult, Chunk, FrontDoor, JsonObject, Operation, Principal, RequestOrigin, Scope } from "./wire-types.js";
export { heldBodyOf, holdBody, releaseHeldBody, whenHeldReleased, type HeldBody } from "./held-body.js";
export { heldAnswerOf, holdAnswer, MAX_RECORDED_CHOICES, recordedFinishReason, releaseHeldAnswer, tokenCount, type HeldAnswer } from "./held-answer.js";
export {
  adoptSharedMemory,
  endLease,
  leaseSharedMemory,
  minHeldBodyBound,
  releaseSharedMemory,
  sharedMemory,
  sharedMemoryClass,
  sharedMemoryOwner,
  sharedMemorySettled,
  sharedMemoryStats,
  SharedMemoryBoundError,
  SharedMemoryTooLargeError,
  setSharedMemoryBound,
  stopSharedMemory,
  takeKeptSharedMemory,
  warmSharedMemory,
} from "./shared-memory.js";
export { nestingExceeds } from "./json-nesting.js";
export { keepRawChunk, namesModelOnce, rawChunkOf } from "./raw-body.js";
export { coalescedChunk, upstreamEventsOf } from "./coalesced-chunk.js";
export { loopTurn, nextTurn, queuedUnits, runQueued, SLICE_MS } from "./loop-turns.js";
export { isJsonObject } from "./is-json-object.js";
export { isoTime, isoTimeMs, jsonString, jsonTenths, jsonValue } from "./json-text.js";
export { hashedPlaceholder, jsonSyntaxDetail } from "./client-text.js";

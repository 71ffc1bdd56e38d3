/**
 * How many upstream events a streamed chunk stands for: more than one when queued content deltas
 * were taken as one (src/upstream/delta-coalescing.ts). Kept on the chunk under a symbol, which an
 * object spread copies (the guard's rewritten chunk keeps it) and JSON never writes, for what
 * counts the model's events: the limits' token estimate of a stream whose upstream reports no usage
 * counts one token per content event, as it did before events were coalesced.
 */
const EVENTS = Symbol("keeptrusts.upstreamEvents");

/** `chunk`, marked as standing for `events` upstream events. */
export function coalescedChunk<T extends object>(chunk: T, events: number): T {
  (chunk as Record<symbol, number>)[EVENTS] = events;
  return chunk;
}

/** The upstream events `chunk` stands for: 1 unless it was coalesced. */
export function upstreamEventsOf(chunk: object): number {
  return (chunk as Record<symbol, number | undefined>)[EVENTS] ?? 1;
}

import { GatewayError } from "../errors/index.js";

/**
 * Bounds the streams open at once, in total and per API key. A stream holds its slot from
 * admission until it ends by any path; the caller must call the returned release exactly once.
 */
export class StreamLimiter {
  private total = 0;
  private readonly perKey = new Map<string, number>();

  constructor(private readonly limits: () => { maxConcurrentStreams: number; maxStreamsPerKey: number | undefined }) {}

  acquire(keyId: string): () => void {
    const { maxConcurrentStreams, maxStreamsPerKey } = this.limits();
    if (this.total >= maxConcurrentStreams)
      throw new GatewayError("KT_ERR_RATE_LIMITED", `the gateway has ${maxConcurrentStreams} streams open; retry shortly`, { retryAfter: 1 });
    const mine = this.perKey.get(keyId) ?? 0;
    if (maxStreamsPerKey !== undefined && mine >= maxStreamsPerKey)
      throw new GatewayError("KT_ERR_RATE_LIMITED", `this API key has ${maxStreamsPerKey} streams open, its limit; retry when one ends`, { retryAfter: 1 });
    this.total++;
    this.perKey.set(keyId, mine + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.total--;
      const n = (this.perKey.get(keyId) ?? 1) - 1;
      if (n === 0) this.perKey.delete(keyId);
      else this.perKey.set(keyId, n);
    };
  }

  get open(): number {
    return this.total;
  }
}

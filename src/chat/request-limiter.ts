import { GatewayError } from "../errors/index.js";

/**
 * Bounds the non-streamed requests in progress across every client and front door. Over HTTP/1.1
 * a connection carries one request at a time; over HTTP/2 one connection can carry any number, so
 * without this bound one client could hold unlimited upstream calls open at once.
 */
export class RequestLimiter {
  private inFlight = 0;

  constructor(private readonly max: () => number) {}

  /** Takes a slot or throws 429; the caller must call the returned release exactly once. */
  acquire(): () => void {
    const max = this.max();
    if (this.inFlight >= max)
      throw new GatewayError("KT_ERR_RATE_LIMITED", `the gateway has ${max} requests in progress; retry shortly`, { retryAfter: 1 });
    this.inFlight++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.inFlight--;
    };
  }

  get open(): number {
    return this.inFlight;
  }
}

/**
 * Failed authentications, aggregated per client address and window so that a brute force cannot
 * fill the disk: the first refusal from an address in a window is recorded on its own (with the
 * fingerprint of what was presented); the rest of that window's refusals from the address are
 * counted and written as one aggregate record (`count`) when the window closes. A bounded number
 * of addresses is tracked; past that, every further address shares one overflow bucket.
 */
export interface AuthFailureWindowOptions {
  /** Read at each refusal, so a reloaded config takes effect for new windows. */
  windowMs: () => number;
  /** Most addresses tracked at once (default 10,000). */
  maxAddresses?: number;
  /** Writes the aggregate of a closed window. */
  emit: (aggregate: AuthFailureAggregate) => void;
  now?: () => number;
}

export interface AuthFailureAggregate {
  clientAddress: string;
  /** Refusals counted after the first one of the window. */
  count: number;
  /** The one fingerprint seen, or `various`. */
  credential: string;
  frontDoor: string;
  windowStart: number;
  windowEnd: number;
}

interface Bucket {
  start: number;
  length: number;
  count: number;
  credential: string | undefined;
  frontDoor: string;
}

export const OVERFLOW_ADDRESS = "*";

export class AuthFailureWindow {
  private readonly buckets = new Map<string, Bucket>();
  private readonly timer: NodeJS.Timeout;
  private readonly maxAddresses: number;
  private readonly now: () => number;

  constructor(private readonly opts: AuthFailureWindowOptions) {
    this.maxAddresses = opts.maxAddresses ?? 10_000;
    this.now = opts.now ?? Date.now;
    // Windows close on a coarse tick (a quarter second late at most); the map is usually empty.
    this.timer = setInterval(() => this.sweep(false), 250);
    this.timer.unref();
  }

  /**
   * Notes one refusal. True when it should be recorded on its own (the first of its window);
   * false when it was counted into the window's aggregate.
   */
  admit(clientAddress: string | undefined, credential: string, frontDoor: string): boolean {
    const now = this.now();
    let key = clientAddress ?? "unknown";
    let b = this.buckets.get(key);
    if (b && now - b.start >= b.length) {
      this.close(key, b);
      b = undefined;
    }
    if (!b) {
      if (this.buckets.size >= this.maxAddresses && key !== OVERFLOW_ADDRESS) {
        // Too many addresses at once: count them all in one bucket rather than grow without bound.
        key = OVERFLOW_ADDRESS;
        b = this.buckets.get(key);
        if (!b) {
          this.buckets.set(key, { start: now, length: this.opts.windowMs(), count: 1, credential, frontDoor });
          return false;
        }
        this.count(b, credential);
        return false;
      }
      this.buckets.set(key, { start: now, length: this.opts.windowMs(), count: 0, credential: undefined, frontDoor });
      return true;
    }
    this.count(b, credential);
    return false;
  }

  private count(b: Bucket, credential: string): void {
    b.count++;
    if (b.credential === undefined) b.credential = credential;
    else if (b.credential !== credential) b.credential = "various";
  }

  /** Closes windows that have ended (or all of them, at shutdown). */
  sweep(all: boolean): void {
    const now = this.now();
    for (const [key, b] of this.buckets) if (all || now - b.start >= b.length) this.close(key, b);
  }

  private close(key: string, b: Bucket): void {
    this.buckets.delete(key);
    if (b.count === 0) return;
    this.opts.emit({
      clientAddress: key,
      count: b.count,
      credential: b.credential ?? "various",
      frontDoor: b.frontDoor,
      windowStart: b.start,
      windowEnd: b.start + b.length,
    });
  }

  stop(): void {
    clearInterval(this.timer);
    this.sweep(true);
  }
}

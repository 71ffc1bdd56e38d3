/**
 * Passive health for one target: consecutive failures open the circuit for a cool-down that
 * doubles with each re-opening (with jitter, so replicas do not probe in lock-step); after it one
 * trial request is let through (half-open) and its outcome closes or re-opens the circuit.
 */
export type CircuitState = "closed" | "open" | "half_open";

export interface CircuitOptions {
  failureThreshold: number;
  baseCooldownMs: number;
  maxCooldownMs: number;
  /**
   * How many different principals must have seen a run of failures before it opens the circuit:
   * one client whose own calls hang must not make the target unavailable to everyone else.
   * The registry sets it to 2, or 1 when only one principal can exist.
   */
  quorum: number;
}

export const DEFAULT_CIRCUIT: CircuitOptions = { failureThreshold: 5, baseCooldownMs: 5_000, maxCooldownMs: 60_000, quorum: 1 };

export class CircuitBreaker {
  state: CircuitState = "closed";
  consecutiveFailures = 0;
  totalFailures = 0;
  totalSuccesses = 0;
  opens = 0;
  openUntil = 0;
  lastError: { at: Date; code: string; message: string } | undefined;
  private trialInFlight = false;
  /** Principals that saw a failure in the current run of consecutive failures. */
  private readonly failing = new Set<string>();
  /** The current run includes a failure no principal could have caused. */
  private unattributed = false;

  constructor(private readonly opts: CircuitOptions = DEFAULT_CIRCUIT) {}

  /** Whether a request may go to this target now; moves an expired open circuit to half-open. */
  allows(now: number): boolean {
    if (this.state === "closed") return true;
    if (this.state === "open") {
      if (now < this.openUntil) return false;
      this.state = "half_open";
      this.trialInFlight = false;
    }
    return !this.trialInFlight;
  }

  /** Called when a request is sent; in half-open it becomes the one trial. */
  onDispatch(): void {
    if (this.state === "half_open") this.trialInFlight = true;
  }

  onSuccess(): void {
    this.totalSuccesses++;
    this.consecutiveFailures = 0;
    // Empty on nearly every success: Set#clear is a call into the runtime even then.
    if (this.failing.size > 0) this.failing.clear();
    this.unattributed = false;
    if (this.state !== "closed") {
      this.state = "closed";
      this.opens = 0;
      this.trialInFlight = false;
    }
  }

  /**
   * `principal`: who saw it (an API key id), so one client's failures alone cannot open the circuit;
   * undefined for a fault no request can cause (the target refused or never accepted the
   * connection), which needs no quorum.
   */
  onFailure(code: string, message: string, now: number, principal?: string): void {
    this.totalFailures++;
    this.consecutiveFailures++;
    this.lastError = { at: new Date(now), code, message };
    if (principal === undefined) this.unattributed = true;
    else this.failing.add(principal);
    // Failures of calls dispatched before it opened do not extend an open circuit's cool-down.
    if (this.state === "open") return;
    const quorate = this.unattributed || this.failing.size >= this.opts.quorum;
    if (this.state === "half_open" || (this.consecutiveFailures >= this.opts.failureThreshold && quorate)) this.open(now);
  }

  /** A request that ended without saying anything about the target (client cancel) frees the trial. */
  onNeutral(): void {
    this.trialInFlight = false;
  }

  private open(now: number): void {
    this.opens++;
    const base = Math.min(this.opts.maxCooldownMs, this.opts.baseCooldownMs * 2 ** (this.opens - 1));
    const jitter = base * (0.8 + Math.random() * 0.4);
    this.state = "open";
    this.openUntil = now + jitter;
    this.trialInFlight = false;
  }
}

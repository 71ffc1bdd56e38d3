/**
 * HTTP/2 "rapid reset" (CVE-2023-44487): a client sends HEADERS and RST_STREAM for stream after
 * stream. Each stream costs the gateway Node's stream set-up and tear-down and the handler's start
 * (routing, authentication, a refusal's record) while the client pays two small frames and never
 * waits for an answer, and the reset streams never count against SETTINGS_MAX_CONCURRENT_STREAMS.
 * Node hands nghttp2 a whole socket read at once and runs the JavaScript of every stream in it
 * before the loop polls again: a 64 KiB read holds about 1,000 such pairs, which held the event
 * loop 0.4–1 s (nghttp2's own limit, a GOAWAY after 1,000 resets, leaves the connection open and
 * reading). Other clients, /healthz included, waited that long.
 *
 * A session whose client resets streams it opened less than PREMATURE_RESET_MS before faster than
 * a budget allows (a bucket of H2_RESET_BURST resets, refilled at H2_RESET_RATE a second) is ended
 * with GOAWAY ENHANCE_YOUR_CALM. Ending it from within the read stops Node's processing of the
 * rest of that read, so one read of one session costs at most the burst's streams. Clients that
 * cancel now and then (a user's "stop", a gRPC deadline, which rarely comes within a second and
 * never hundreds of times a second on one connection) stay well inside it.
 *
 * The first bytes of a plaintext connection are read by the gateway itself (to tell HTTP/2 from
 * HTTP/1.1) and handed to the new session, which takes them in one piece that ending the session
 * does not cut short: up to 64 KiB, ~1,700 streams, and even its 'stream' events come only after
 * the whole piece. Those bytes are counted before the session exists (resetsIn): a connection
 * whose first read already resets more streams than the burst is answered with a GOAWAY and
 * closed without a session; fewer are counted by the session as its streams close.
 */

/** A reset counts against the session when it comes this soon after its stream opened. */
export const PREMATURE_RESET_MS = 1_000;
/** Premature resets a session may make at once. */
export const H2_RESET_BURST = 50;
/** Premature resets a session may make per second, sustained. */
export const H2_RESET_RATE = 20;

export class ResetBudget {
  private tokens = H2_RESET_BURST;
  private at = 0;

  /** Counts one premature reset; false when the session has reset too fast and must be ended. */
  spend(now: number): boolean {
    if (this.at > 0) this.tokens = Math.min(H2_RESET_BURST, this.tokens + ((now - this.at) * H2_RESET_RATE) / 1000);
    this.at = now;
    this.tokens -= 1;
    return this.tokens >= 0;
  }
}

/** The client connection preface, which starts the first bytes of an HTTP/2 connection. */
const PREFACE_BYTES = 24;
const RST_STREAM = 3;

/**
 * RST_STREAM frames among the whole frames of an HTTP/2 connection's first bytes (preface
 * included). Reads only the 9-byte frame headers: microseconds for a 64 KiB read.
 */
export function resetsIn(first: Buffer): number {
  let n = 0;
  for (let at = PREFACE_BYTES; at + 9 <= first.length; ) {
    const length = first.readUIntBE(at, 3);
    if (first[at + 3] === RST_STREAM) n++;
    at += 9 + length;
  }
  return n;
}

/** What a connection refused by its first bytes is sent: an empty SETTINGS (the server's preface) and GOAWAY ENHANCE_YOUR_CALM. */
export const CALM_DOWN = Buffer.from([
  ...[0, 0, 0, 4, 0, 0, 0, 0, 0],
  ...[0, 0, 8, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 11],
]);

import { randomFillSync } from "node:crypto";

/** W3C Trace Context ids, lower-case hex as on the wire. */
export interface TraceIds {
  traceId: string;
  /** The parent's span id, as received. */
  spanId: string;
  /** trace-flags byte (bit 0 = sampled). */
  flags: number;
}

const TRACEPARENT_RE = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const ZERO_TRACE = "0".repeat(32);
const ZERO_SPAN = "0".repeat(16);

/**
 * Parses an incoming `traceparent` header. Invalid values are ignored (undefined) as the spec asks:
 * a bad header from a client starts a new trace rather than failing the request.
 */
export function parseTraceparent(header: string | undefined): TraceIds | undefined {
  if (header === undefined) return undefined;
  const m = TRACEPARENT_RE.exec(header.trim());
  if (!m) return undefined;
  const [, version, traceId, spanId, flags, rest] = m as unknown as [string, string, string, string, string, string | undefined];
  if (version === "ff") return undefined;
  // Version 00 has exactly four fields; later versions may append more, which we ignore.
  if (version === "00" && rest !== undefined) return undefined;
  if (traceId === ZERO_TRACE || spanId === ZERO_SPAN) return undefined;
  return { traceId, spanId, flags: parseInt(flags, 16) };
}

export function formatTraceparent(traceId: string, spanId: string, flags: number): string {
  // Sampled (01) and not (00) are the flags seen; any other byte is formatted.
  const f = flags === 1 ? "01" : flags === 0 ? "00" : (flags & 0xff).toString(16).padStart(2, "0");
  return `00-${traceId}-${spanId}-${f}`;
}

// Ids come from one pooled buffer refilled in bulk: a request then costs a slice, not a syscall.
const POOL_SIZE = 4096;
const pool = Buffer.alloc(POOL_SIZE);
let poolPos = POOL_SIZE;

function randomHex(bytes: number): string {
  for (;;) {
    if (poolPos + bytes > POOL_SIZE) {
      randomFillSync(pool);
      poolPos = 0;
    }
    const hex = pool.toString("hex", poolPos, poolPos + bytes);
    poolPos += bytes;
    // All-zero ids are invalid in W3C trace context; astronomically unlikely, but cheap to rule out.
    if (!/^0+$/.test(hex)) return hex;
  }
}

export function randomTraceId(): string {
  return randomHex(16);
}

export function randomSpanId(): string {
  return randomHex(8);
}

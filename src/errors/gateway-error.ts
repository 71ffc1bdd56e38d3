import { errorCodes, type ErrorCode } from "./error-codes.js";

export interface GatewayErrorOptions {
  /** The request field at fault, as OpenAI's `param`. */
  param?: string;
  /** HTTP status to use instead of the table's (an upstream 4xx passed through). */
  status?: number;
  /** For an upstream 4xx: the upstream's own error type, kept for the client. */
  type?: string;
  cause?: unknown;
  /** Seconds a client should wait before retrying (429, 503). */
  retryAfter?: number;
  /** Response headers the answer must carry (rate-limit state); gRPC sends them as trailers. */
  headers?: Record<string, string>;
}

/**
 * The gateway's one error class. Messages are written for the client and must never hold a secret,
 * an API key or a matched PII value: they are sent as-is and recorded in spans and the audit log.
 */
export class GatewayError extends Error {
  readonly code: ErrorCode;
  readonly param: string | undefined;
  readonly status: number;
  readonly type: string;
  readonly retryAfter: number | undefined;
  /** Set by the pipeline after construction too: an admitted request's rate-limit headers go on its error. */
  headers: Record<string, string> | undefined;

  constructor(code: ErrorCode, message: string, opts: GatewayErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = "GatewayError";
    this.code = code;
    this.param = opts.param;
    this.status = opts.status ?? errorCodes[code].status;
    this.type = opts.type ?? errorCodes[code].type;
    this.retryAfter = opts.retryAfter;
    this.headers = opts.headers;
  }

  /** OpenAI's error body: what every OpenAI SDK reads as `error`. */
  toOpenAI(): { error: { message: string; type: string; param: string | null; code: string } } {
    return { error: { message: this.message, type: this.type, param: this.param ?? null, code: errorCodes[this.code].code } };
  }
}

export function isGatewayError(e: unknown): e is GatewayError {
  return e instanceof GatewayError;
}

/** Any thrown value as a GatewayError; unknown faults become KT_ERR_INTERNAL without leaking their text. */
export function toGatewayError(e: unknown): GatewayError {
  if (e instanceof GatewayError) return e;
  return new GatewayError("KT_ERR_INTERNAL", "internal gateway error", { cause: e });
}

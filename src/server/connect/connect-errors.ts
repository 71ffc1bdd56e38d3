import { Code, ConnectError } from "@connectrpc/connect";
import { errorCodes, toGatewayError, type GatewayError } from "../../errors/index.js";

/** The same fault the shim sends as OpenAI JSON, as a ConnectError with the table's gRPC code. */
export function toConnectError(err: unknown, signal?: AbortSignal): ConnectError {
  if (err instanceof ConnectError) return err;
  const e: GatewayError = toGatewayError(err);
  let code = errorCodes[e.code].grpc;
  // An upstream 4xx passed through keeps its meaning: 404 → NotFound, 429 → ResourceExhausted.
  if (e.code === "KT_ERR_UPSTREAM_REJECTED") code = e.status === 404 ? Code.NotFound : e.status === 429 ? Code.ResourceExhausted : Code.InvalidArgument;
  if (e.code === "KT_ERR_CANCELLED" && signal?.reason instanceof ConnectError) return signal.reason;
  const ce = new ConnectError(e.message, code, undefined, undefined, e);
  ce.metadata.set("x-kt-error-code", errorCodes[e.code].code);
  // Rate-limit state and retry advice, as the OpenAI shim sends them in headers (gRPC: trailers).
  if (e.headers) for (const [k, v] of Object.entries(e.headers)) ce.metadata.set(k, v);
  if (e.retryAfter !== undefined && !ce.metadata.has("retry-after")) ce.metadata.set("retry-after", String(e.retryAfter));
  return ce;
}

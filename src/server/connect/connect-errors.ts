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
  return ce;
}

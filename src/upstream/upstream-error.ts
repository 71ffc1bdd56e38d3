import { GatewayError } from "../errors/index.js";

/**
 * Turns what OpenLLM/vLLM sends for a failed call into a GatewayError. vLLM before 0.10.1 sends a
 * flat `{"object":"error","message",…,"code":400}`, later versions nest it under `error`, OpenLLM
 * 0.4 sends string codes, and FastAPI validation sends `{"detail":[…]}`. The openai SDK only reads
 * the nested form, so every variant is rewrapped.
 */
export function upstreamStatusError(status: number, text: string, targetId: string): GatewayError {
  const parsed = parseErrorBody(text);
  const message = parsed.message ?? `upstream answered HTTP ${status}`;
  if (status >= 500) {
    return new GatewayError("KT_ERR_UPSTREAM_FAILED", `target '${targetId}' failed with HTTP ${status}: ${message}`, {
      retryAfter: status === 503 ? 1 : undefined,
    });
  }
  // 4xx: the upstream judged the request; pass its status and type through so SDKs raise the same class.
  return new GatewayError("KT_ERR_UPSTREAM_REJECTED", message, {
    status: status === 422 ? 400 : status,
    type: parsed.type ?? "invalid_request_error",
    param: parsed.param,
  });
}

interface ParsedError {
  message: string | undefined;
  type: string | undefined;
  param: string | undefined;
}

export function parseErrorBody(text: string): ParsedError {
  let body: any;
  try {
    body = JSON.parse(text);
  } catch {
    return { message: undefined, type: undefined, param: undefined };
  }
  const e = body && typeof body === "object" && body.error && typeof body.error === "object" ? body.error : body;
  if (e && typeof e === "object" && typeof e.message === "string") {
    return { message: e.message, type: typeof e.type === "string" ? e.type : undefined, param: typeof e.param === "string" ? e.param : undefined };
  }
  if (body && Array.isArray(body.detail)) {
    // FastAPI echoes the offending input in `input`; only locations and messages are kept.
    const parts = body.detail.slice(0, 5).map((d: any) => `${Array.isArray(d?.loc) ? d.loc.join(".") : "body"}: ${String(d?.msg ?? "invalid")}`);
    return { message: `upstream rejected the request: ${parts.join("; ")}`, type: "invalid_request_error", param: undefined };
  }
  if (body && typeof body.detail === "string") return { message: body.detail, type: undefined, param: undefined };
  return { message: undefined, type: undefined, param: undefined };
}

/** Whose deadline ended the call, when one did: the client's, or one of the target's timeouts. */
export type AbortCause = "client" | "first-byte" | "total" | undefined;

/** Maps undici / socket failures onto our codes: each timeout is its own code and audit outcome. */
export function transportError(err: unknown, targetId: string, cause: AbortCause): GatewayError {
  if (cause === "client") return new GatewayError("KT_ERR_CANCELLED", "the client cancelled the request", { cause: err });
  if (cause === "first-byte") return new GatewayError("KT_ERR_UPSTREAM_TIMEOUT", `target '${targetId}' did not answer within timeout_seconds`, { cause: err });
  if (cause === "total") return new GatewayError("KT_ERR_UPSTREAM_TOTAL_TIMEOUT", `target '${targetId}' did not finish within total_timeout_seconds`, { cause: err });
  const code = (err as { code?: string })?.code;
  switch (code) {
    case "UND_ERR_HEADERS_TIMEOUT":
      return new GatewayError("KT_ERR_UPSTREAM_TIMEOUT", `target '${targetId}' sent no response headers within timeout_seconds`, { cause: err });
    case "UND_ERR_BODY_TIMEOUT":
      return new GatewayError("KT_ERR_UPSTREAM_IDLE_TIMEOUT", `target '${targetId}' went silent for longer than idle_timeout_seconds`, { cause: err });
    case "UND_ERR_CONNECT_TIMEOUT":
      return new GatewayError("KT_ERR_UPSTREAM_CONNECT_TIMEOUT", `target '${targetId}' did not accept a connection within connect_timeout_seconds`, { cause: err });
    case "ECONNREFUSED":
    case "ENOTFOUND":
    case "EAI_AGAIN":
    case "EHOSTUNREACH":
    case "ENETUNREACH":
      return new GatewayError("KT_ERR_UPSTREAM_CONNECT", `target '${targetId}' is unreachable (${code})`, { cause: err });
    default:
      return new GatewayError("KT_ERR_UPSTREAM_FAILED", `connection to target '${targetId}' failed${code ? ` (${code})` : ""}`, {
        cause: err,
      });
  }
}

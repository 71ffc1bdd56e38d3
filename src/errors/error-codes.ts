import { Code } from "@connectrpc/connect";

/**
 * The one mapping between our stable error codes, the OpenAI JSON error shape (HTTP status, `type`,
 * `code`) and gRPC/Connect codes. Both front doors and the audit log read from this table, so a
 * fault means the same thing whichever way a client came in.
 */
export const errorCodes = {
  KT_ERR_MALFORMED_JSON: { status: 400, type: "invalid_request_error", code: "invalid_json", grpc: Code.InvalidArgument },
  // An RPC message in protobuf binary (gRPC, gRPC-Web, Connect application/proto) that cannot be decoded.
  KT_ERR_MALFORMED_PROTOBUF: { status: 400, type: "invalid_request_error", code: "invalid_protobuf", grpc: Code.InvalidArgument },
  KT_ERR_INVALID_REQUEST: { status: 400, type: "invalid_request_error", code: "invalid_request", grpc: Code.InvalidArgument },
  KT_ERR_UNAUTHENTICATED: { status: 401, type: "authentication_error", code: "invalid_api_key", grpc: Code.Unauthenticated },
  KT_ERR_FORBIDDEN: { status: 403, type: "permission_error", code: "insufficient_scope", grpc: Code.PermissionDenied },
  KT_ERR_UNKNOWN_MODEL: { status: 404, type: "invalid_request_error", code: "model_not_found", grpc: Code.NotFound },
  KT_ERR_ROUTE_NOT_FOUND: { status: 404, type: "invalid_request_error", code: "not_found", grpc: Code.Unimplemented },
  KT_ERR_METHOD_NOT_ALLOWED: { status: 405, type: "invalid_request_error", code: "method_not_allowed", grpc: Code.Unimplemented },
  KT_ERR_BODY_TOO_LARGE: { status: 413, type: "invalid_request_error", code: "body_too_large", grpc: Code.ResourceExhausted },
  KT_ERR_UNSUPPORTED_MEDIA_TYPE: { status: 415, type: "invalid_request_error", code: "unsupported_media_type", grpc: Code.InvalidArgument },
  KT_ERR_RATE_LIMITED: { status: 429, type: "rate_limit_error", code: "too_many_streams", grpc: Code.ResourceExhausted },
  // Usage limits (src/limits), in OpenAI's own terms: a rate window is full, or a budget is spent.
  KT_ERR_RATE_LIMIT_EXCEEDED: { status: 429, type: "rate_limit_exceeded", code: "rate_limit_exceeded", grpc: Code.ResourceExhausted },
  KT_ERR_CONCURRENCY_EXCEEDED: { status: 429, type: "rate_limit_exceeded", code: "concurrency_limit_exceeded", grpc: Code.ResourceExhausted },
  KT_ERR_QUOTA_EXCEEDED: { status: 429, type: "insufficient_quota", code: "insufficient_quota", grpc: Code.ResourceExhausted },
  KT_ERR_LIMITS_UNAVAILABLE: { status: 503, type: "service_unavailable", code: "limits_store_unavailable", grpc: Code.Unavailable },
  KT_ERR_POLICY_BLOCKED: { status: 400, type: "policy_violation", code: "content_blocked", grpc: Code.PermissionDenied },
  KT_ERR_POLICY_ENGINE_UNAVAILABLE: { status: 503, type: "policy_violation", code: "policy_engine_unavailable", grpc: Code.Unavailable },
  KT_ERR_CANCELLED: { status: 499, type: "cancelled", code: "client_closed_request", grpc: Code.Canceled },
  KT_ERR_UPSTREAM_REJECTED: { status: 400, type: "invalid_request_error", code: "upstream_rejected", grpc: Code.InvalidArgument },
  KT_ERR_UPSTREAM_FAILED: { status: 502, type: "upstream_error", code: "upstream_failed", grpc: Code.Unavailable },
  KT_ERR_UPSTREAM_PROTOCOL: { status: 502, type: "upstream_error", code: "upstream_protocol_error", grpc: Code.Internal },
  KT_ERR_UPSTREAM_CONNECT: { status: 502, type: "upstream_error", code: "upstream_unreachable", grpc: Code.Unavailable },
  KT_ERR_UPSTREAM_CONNECT_TIMEOUT: { status: 504, type: "timeout", code: "upstream_connect_timeout", grpc: Code.Unavailable },
  KT_ERR_UPSTREAM_TIMEOUT: { status: 504, type: "timeout", code: "upstream_timeout", grpc: Code.DeadlineExceeded },
  KT_ERR_UPSTREAM_IDLE_TIMEOUT: { status: 504, type: "timeout", code: "upstream_idle_timeout", grpc: Code.DeadlineExceeded },
  KT_ERR_UPSTREAM_TOTAL_TIMEOUT: { status: 504, type: "timeout", code: "upstream_total_timeout", grpc: Code.DeadlineExceeded },
  KT_ERR_DEADLINE_EXCEEDED: { status: 504, type: "timeout", code: "deadline_exceeded", grpc: Code.DeadlineExceeded },
  KT_ERR_NO_HEALTHY_TARGET: { status: 503, type: "service_unavailable", code: "no_healthy_target", grpc: Code.Unavailable },
  KT_ERR_AUDIT_UNAVAILABLE: { status: 503, type: "service_unavailable", code: "audit_log_unavailable", grpc: Code.Unavailable },
  // Too many large bodies are waiting for the policy scan workers (src/policy/pool).
  KT_ERR_OVERLOADED: { status: 503, type: "service_unavailable", code: "overloaded", grpc: Code.ResourceExhausted },
  KT_ERR_SHUTTING_DOWN: { status: 503, type: "service_unavailable", code: "shutting_down", grpc: Code.Unavailable },
  KT_ERR_INTERNAL: { status: 500, type: "server_error", code: "internal_error", grpc: Code.Internal },
} as const satisfies Record<string, { status: number; type: string; code: string; grpc: Code }>;

export type ErrorCode = keyof typeof errorCodes;

export { errorCodes, type ErrorCode } from "./error-codes.js";
export { GatewayError, isGatewayError, toGatewayError, type GatewayErrorOptions } from "./gateway-error.js";
export { errorSummary } from "./error-summary.js";

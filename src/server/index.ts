export { Authenticator, isLoopback } from "./auth.js";
export { DEFAULT_MAX_BODY_BYTES, parseListen, startGateway, type Gateway, type GatewayOptions } from "./gateway.js";
export { listen, type Listener, type ListenerOptions } from "./listener.js";
export { createOpenAiShim, sendError, sendJson } from "./openai-shim.js";
export { createRequestHandler, type ConnectServices } from "./request-handler.js";

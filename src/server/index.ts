export { Authenticator, isLoopback } from "./auth.js";
export { ApplyError, DEFAULT_MAX_BODY_BYTES, parseListen, startGateway, type Gateway, type GatewayOptions, type PreparedConfig, type ReloadResult } from "./gateway.js";
export { listen, type Listener, type ListenerOptions } from "./listener.js";
export { createOpenAiShim, sendError, sendJson } from "./openai-shim.js";
export { createRequestHandler, type ConnectServices } from "./request-handler.js";
export { auditRpcs, connectServices } from "./connect/index.js";
export { CONSOLE_CSP, CONSOLE_PATH, createConsoleHandler, findConsoleDir, isConsolePath } from "./console-assets.js";
export { TRAFFIC_MINUTES, TrafficStats, type TargetTrafficSummary, type TrafficMinute } from "./traffic-stats.js";
export { sharedMemoryStats, stopSharedMemory, warmSharedMemory } from "../wire/index.js";

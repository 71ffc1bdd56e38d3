export { CircuitBreaker, DEFAULT_CIRCUIT, type CircuitOptions, type CircuitState } from "./circuit-breaker.js";
export { isTargetFault, recordedModelName, TargetRegistry, TargetState, type ProbeResult, type ServedModel } from "./target-registry.js";

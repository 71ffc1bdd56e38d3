export { TargetRegistry, type ProbeResult, type ServedModel, type TargetState } from "./target-registry.js";

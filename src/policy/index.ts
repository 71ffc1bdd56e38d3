export { compilePolicyEngine, type PolicyEngine, type PolicyEngineDeps } from "./policy-engine.js";
export type { GovernanceEvent, PolicyDecision } from "./governance-event.js";
export { PolicyError } from "./policy-error.js";
export type { ChainFinding as PolicyFinding } from "./chain-runner.js";
export { builtinPatternName, builtinPiiTypes, builtinRecognisers, type BuiltinPiiType } from "./pii/index.js";
export { llamaGuardCategories, parseGuardReply } from "./content/index.js";
export { compileScanner, type Finding, type Recogniser, type Scanner } from "./scan/index.js";
export { scanPool } from "./pool/index.js";
export { parseHeldBody, serialiseHeldBody } from "./held-chain.js";

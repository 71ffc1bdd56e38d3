export type { CandidateKinds, Recogniser } from "./recogniser.js";
export { compileScanner, PackedFindings, type Finding, type Scanner, type ScannerOptions } from "./scanner.js";
export { prefilterFor, requiredLiterals } from "./required-literals.js";
export { normalise, toSource, ViewBuilder, type NormalView, type ViewMap } from "./normalise.js";
export { scanSource } from "./scan-source.js";
export { tailSource } from "./prefix.js";

export type { CandidateKinds, Recogniser } from "./recogniser.js";
export { compileScanner, PackedFindings, RIGHT_CONTEXT, type Finding, type Scanner, type ScannerOptions } from "./scanner.js";
export { prefilterFor, requiredLiterals } from "./required-literals.js";
export { isPlainText, normalise, toSource, ViewBuilder, type NormalView, type ViewMap } from "./normalise.js";
export { scanSource } from "./scan-source.js";
export { forgetText, memoHolds, rememberClean, scanRepeated } from "./scan-memo.js";
export { tailSource } from "./prefix.js";
export { crossGuardOf } from "./cross-guard.js";

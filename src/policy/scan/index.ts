export type { Recogniser } from "./recogniser.js";
export { compileScanner, type Finding, type Scanner } from "./scanner.js";

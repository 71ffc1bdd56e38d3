export { OFFLOAD_MIN_CHARS, ScanPool, scanPool } from "./scan-pool.js";
export { runContentJob, runPiiJob, type ContentJob, type ContentTextResult, type PiiJob, type PiiTextResult } from "./scan-jobs.js";

export { CPU_BUDGET, OFFLOAD_MIN_CHARS, ScanPool, scanPool, type CpuBudget, type ScanPoolOptions } from "./scan-pool.js";
export {
  packEdits,
  runChainJob,
  runContentJob,
  runPiiJob,
  unpackEdits,
  type ChainJob,
  type ChainJobResult,
  type ContentJob,
  type ContentTextResult,
  type PiiJob,
  type PiiTextResult,
} from "./scan-jobs.js";

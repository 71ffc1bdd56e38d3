export { CPU_BUDGET, OFFLOAD_MIN_CHARS, ScanPool, scanPool, type CpuBudget, type ScanPoolOptions } from "./scan-pool.js";
export {
  packEdits,
  runChainJob,
  runPiiJob,
  unpackEdits,
  type ChainJob,
  type ChainJobResult,
  type PiiJob,
  type PiiTextResult,
} from "./scan-jobs.js";

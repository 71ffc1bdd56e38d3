import { parentPort } from "node:worker_threads";
import { warmUpLexicon } from "../content/index.js";
import { runScanJob, transferList, type ScanJob } from "./scan-jobs.js";

/** A scan worker: runs scan jobs posted by the pool, one at a time, off the main thread. */
const port = parentPort;
if (port) {
  warmUpLexicon();
  port.on("message", (msg: { id: number; job: ScanJob }) => {
    try {
      const result = runScanJob(msg.job);
      port.postMessage({ id: msg.id, result }, transferList(result));
    } catch (err) {
      port.postMessage({ id: msg.id, error: err instanceof Error ? err.message : String(err) });
    }
  });
  port.postMessage({ ready: true });
}

import { readlinkSync } from "node:fs";
import { getPriority, setPriority } from "node:os";
import { parentPort } from "node:worker_threads";
import { warmUpClassifier } from "../content/index.js";
import { forgetHeld, runPoolJob, type PoolJob } from "./answer-jobs.js";
import { transferList, type ScanResult } from "./scan-jobs.js";

/** A scan worker: runs scan jobs posted by the pool, one at a time, off the main thread. */
const port = parentPort;
if (port) {
  // On Linux a nice value is per thread (who = 0 is the calling thread): the scan workers yield the
  // CPU to the main thread, so health checks and small requests keep their latency while every
  // core is busy scanning large bodies. Relative to the process's own nice value. Elsewhere this may apply to the process, so only here.
  if (process.platform === "linux") {
    try {
      setPriority(0, Math.min(19, getPriority(0) + 10));
    } catch {
      // Not permitted: the workers run at the process's priority.
    }
  }
  // The content filter's engine is the classifier: warmed here.
  warmUpClassifier();
  port.on("message", async (msg: { id: number; job: PoolJob } | { forget: string }) => {
    // A request is done with its held body or answer (scan-pool.ts): no answer is expected.
    if ("forget" in msg) return forgetHeld(msg.forget);
    try {
      const result = await runPoolJob(msg.job);
      // An answer job's result holds no typed array of its own to transfer (its bytes are shared).
      port.postMessage({ id: msg.id, result }, transferList(result as ScanResult));
    } catch (err) {
      port.postMessage({ id: msg.id, error: err instanceof Error ? err.message : String(err) });
    }
  });
  // The thread's id (Linux: /proc/thread-self is "<pid>/task/<tid>"): the pool reads this thread's
  // CPU time from /proc to stop a job that runs far past its budget (scan-pool.ts).
  let tid: number | undefined;
  try {
    tid = Number(readlinkSync("/proc/thread-self").split("/").pop()) || undefined;
  } catch {
    // Not Linux: no CPU budget.
  }
  port.postMessage({ ready: true, tid });
}

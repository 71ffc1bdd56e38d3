import { Worker } from "node:worker_threads";

export interface ProbeOptions {
  /** Gives up on one probe after this long (counted as Infinity); none by default. */
  timeoutMs?: number;
  /** Counts an answer other than 2xx as Infinity, not as its latency. */
  okOnly?: boolean;
}

/**
 * Probes `url`/healthz every 10 ms until `until` settles, from a thread of its own: the attacking
 * clients' work (encoding bodies, reading streams) must not delay the probe's own event loop.
 * Latencies in ms; a refused or reset probe counts as Infinity, the longest wait there is.
 */
export async function probeWhile(url: string, until: Promise<unknown>, opts: ProbeOptions = {}): Promise<number[]> {
  const init = opts.timeoutMs === undefined ? "" : `, { signal: AbortSignal.timeout(${Number(opts.timeoutMs)}) }`;
  const took = opts.okOnly ? "r.ok ? performance.now() - t : Infinity" : "performance.now() - t";
  const code = `
    const { parentPort } = require("node:worker_threads");
    const lat = [];
    let stop = false;
    parentPort.once("message", () => (stop = true));
    (async () => {
      while (!stop) {
        const t = performance.now();
        try {
          const r = await fetch(${JSON.stringify(url)} + "/healthz"${init});
          await r.arrayBuffer();
          lat.push(${took});
        } catch {
          lat.push(Infinity);
        }
        await new Promise((res) => setTimeout(res, 10));
      }
      parentPort.postMessage(lat);
    })();`;
  const w = new Worker(code, { eval: true });
  const out = new Promise<number[]>((resolve) => w.once("message", resolve));
  await until.catch(() => {});
  w.postMessage("stop");
  const lat = await out;
  await w.terminate();
  return lat;
}

import { Worker } from "node:worker_threads";

/**
 * Shared memory for held request bodies (src/server/http-body.ts), allocated and touched page by
 * page by a helper thread, never by the main thread. The first write to each page of fresh memory
 * is a page fault, and on some hosts (sandboxed kernels, this project's CI machines among them) a
 * fault costs 30-100 µs: copying a 15 MiB body into a new buffer held the event loop for 100-480 ms
 * in faults alone, against about 2 ms for the copy into memory already touched. The request is
 * paused (TCP back-pressure) while its buffer is made; the main thread only copies into it.
 */

// Plain JavaScript (no TypeScript, no imports of ours): the same code under tsx and from dist/.
const HELPER = `
const { parentPort } = require("node:worker_threads");
const os = require("node:os");
// Below the main thread, like the scan workers: it must never take the CPU from health checks.
if (process.platform === "linux") { try { os.setPriority(0, Math.min(19, os.getPriority(0) + 10)); } catch {} }
parentPort.on("message", ({ id, size }) => {
  let sab;
  try {
    sab = new SharedArrayBuffer(size);
  } catch (err) {
    parentPort.postMessage({ id, error: String(err && err.message || err) });
    return;
  }
  // One write per 4 KiB page faults the page in here.
  const words = new Int32Array(sab, 0, size >>> 2);
  for (let i = 0; i < words.length; i += 1024) words[i] = 0;
  parentPort.postMessage({ id, sab });
});`;

interface Waiting {
  resolve: (b: SharedArrayBuffer) => void;
  reject: (e: Error) => void;
}

let helper: Worker | undefined;
const waiting = new Map<number, Waiting>();
let nextId = 1;
/** Buffers the helper has made since start (for tests and metrics). */
let made = 0;

function start(): Worker {
  const w = new Worker(HELPER, { eval: true });
  w.on("message", (m: { id: number; sab?: SharedArrayBuffer; error?: string }) => {
    const p = waiting.get(m.id);
    if (!p) return;
    waiting.delete(m.id);
    if (waiting.size === 0) w.unref();
    if (m.sab) {
      made++;
      p.resolve(m.sab);
    } else p.reject(new Error(m.error ?? "no memory"));
  });
  const lost = (err: Error) => {
    if (helper === w) helper = undefined;
    for (const p of waiting.values()) p.reject(err);
    waiting.clear();
  };
  w.on("error", lost);
  w.on("exit", (code) => lost(new Error(`body memory helper exited (${code})`)));
  // An idle helper must not keep the process alive.
  w.unref();
  return w;
}

/**
 * A zero-filled SharedArrayBuffer of `size` bytes whose pages are already in memory. Falls back to
 * allocating here if the helper is gone (the body is still read; only the faults land here).
 */
export function bodyMemory(size: number): Promise<SharedArrayBuffer> {
  helper ??= start();
  const w = helper;
  const id = nextId++;
  return new Promise<SharedArrayBuffer>((resolve, reject) => {
    waiting.set(id, { resolve, reject });
    w.ref();
    w.postMessage({ id, size });
  }).catch((err: unknown) => {
    if (err instanceof RangeError) throw err;
    return new SharedArrayBuffer(size);
  });
}

/** How many buffers the helper thread has made since start. */
export function bodyMemoryMade(): number {
  return made;
}

/** Starts the helper now, so the first large body does not wait for a thread to boot. */
export function warmBodyMemory(): void {
  helper ??= start();
}

/** Stops the helper (tests, shutdown); a later request starts a new one. */
export async function stopBodyMemory(): Promise<void> {
  const w = helper;
  helper = undefined;
  await w?.terminate();
}

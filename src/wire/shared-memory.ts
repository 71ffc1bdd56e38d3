import { Worker } from "node:worker_threads";

/**
 * Shared memory for large bodies (held request bodies, src/server/http-body.ts, and the body a
 * pool worker writes for the upstream), made and touched page by page by a helper thread, and
 * reused: a buffer a request is done with is zeroed by the helper and kept for the next large
 * body, within a bound.
 *
 * Why: the first write to each page of fresh memory is a page fault, and on some hosts (sandboxed
 * kernels, this project's CI machines among them) a fault costs 30-100 µs: copying a 15 MiB body
 * into a new buffer held the event loop for 100-480 ms in faults alone, against about 2 ms for the
 * copy into memory already touched. Made by the helper, a new buffer's faults land there (the
 * request waits for it, paused by TCP back-pressure); reused, there are none, and the main thread
 * gains no new external memory per body (external memory is what drives V8 to collect).
 *
 * Safety: a buffer is reused only once released by its request and no pool job holds a lease on
 * it (src/policy/pool/scan-pool.ts leases the buffers a job reads or writes for the job's life),
 * and every byte of it is zeroed before it is handed out again: a later, smaller body never sees
 * an earlier one's bytes.
 */

// Plain JavaScript (no TypeScript, no imports of ours): the same code under tsx and from dist/.
const HELPER = `
const { parentPort } = require("node:worker_threads");
const os = require("node:os");
// Below the main thread, like the scan workers: it must never take the CPU from health checks.
if (process.platform === "linux") { try { os.setPriority(0, Math.min(19, os.getPriority(0) + 10)); } catch {} }
parentPort.on("message", ({ id, size, clear }) => {
  if (clear) {
    // Eight bytes at a time: a byte-wise fill of shared memory is ~5x slower (1.5 ms per 4 MiB
    // against 0.3); a 1 MB request releases its body, its rewrite and (with a follower) its text.
    const words = clear.byteLength >>> 3;
    new BigInt64Array(clear, 0, words).fill(0n);
    new Uint8Array(clear, words << 3).fill(0);
    parentPort.postMessage({ id, sab: clear });
    return;
  }
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

/** Smallest buffer made: the size from which bodies are held (src/server/http-body.ts). */
const MIN_CLASS = 256 * 1024;
/** Released buffers kept for reuse, in bytes: four maximum-size (16 MiB) bodies, as the scan pool's queue. */
const MAX_KEPT_BYTES = 64 * 1024 * 1024;

interface Waiting {
  resolve: (b: SharedArrayBuffer) => void;
  reject: (e: Error) => void;
}

let helper: Worker | undefined;
const waiting = new Map<number, Waiting>();
let nextId = 1;
/**
 * Bytes of our buffers in requests' hands now (bodies, answers, their rewrites), and the bound a
 * new request body may not take them past: every held body is a request's memory until it ends,
 * and a client could otherwise hold max_body_bytes per request, stalled, on as many requests as
 * its concurrency allows (1,024 x 16 MiB per key by default) and take the process down. Answers
 * and rewrites count but are never refused (the model has already generated them).
 */
let outBytes = 0;
let maxOutBytes = 1024 * 1024 * 1024;
/**
 * One principal (API key) may hold at most this share of the bound with its request bodies, so a
 * single key filling it denies the others' large bodies only once four keys do.
 */
const OWNER_SHARE = 0.25;
/** Bytes of request bodies held per principal, and whose each such buffer is. */
const ownerBytes = new Map<string, number>();
const ownerOf = new WeakMap<SharedArrayBuffer, string>();
/** A buffer collected without having been released still gives its bytes back. */
const unreleased = new FinalizationRegistry<{ size: number; owner: string | undefined }>(({ size, owner }) => {
  outBytes -= size;
  if (owner !== undefined) credit(owner, size);
});

function credit(owner: string, size: number): void {
  const n = (ownerBytes.get(owner) ?? 0) - size;
  if (n > 0) ownerBytes.set(owner, n);
  else ownerBytes.delete(owner);
}

function handOut(sab: SharedArrayBuffer, owner?: string): void {
  state.set(sab, "out");
  outBytes += sab.byteLength;
  if (owner !== undefined) {
    ownerOf.set(sab, owner);
    ownerBytes.set(owner, (ownerBytes.get(owner) ?? 0) + sab.byteLength);
  }
  unreleased.register(sab, { size: sab.byteLength, owner }, sab);
}

/** The API key a request body's buffer is held for, if it was taken for one (the pool's fair share). */
export function sharedMemoryOwner(sab: SharedArrayBuffer): string | undefined {
  return ownerOf.get(sab);
}

/**
 * The least limits.max_held_body_bytes with which a body of `maxBodyBytes` can ever be held: one
 * API key may hold a quarter of the bound, and a body is held in a buffer of its size class (a
 * power of two from 256 KiB). 0 when no body that large is held at all (under 256 KiB).
 */
export function minHeldBodyBound(maxBodyBytes: number): number {
  return maxBodyBytes < MIN_CLASS ? 0 : Math.ceil(classOf(maxBodyBytes) / OWNER_SHARE);
}

/** The bound on held bytes a new request body may not pass (limits.max_held_body_bytes). */
export function setSharedMemoryBound(bytes: number): void {
  maxOutBytes = bytes;
}

/** A request body refused because held bodies already fill the bound (the front door answers 503). */
export class SharedMemoryBoundError extends Error {
  constructor(readonly bound: number, perKey = false) {
    super(
      perKey
        ? `this API key holds ${Math.round(bound / 1048576)} MiB of large request bodies, its share of the gateway's; retry shortly`
        : `the gateway holds ${Math.round(bound / 1048576)} MiB of large request bodies; retry shortly`,
    );
  }
}

/**
 * A request body whose buffer alone is larger than the bound, or than a key's share of it: no
 * retry can succeed, so the front door answers 413, not 503 with retry-after (a bound set below
 * four times max_body_bytes' size class is refused at config load; this is the last guard).
 */
export class SharedMemoryTooLargeError extends Error {
  constructor(readonly needs: number, readonly bound: number, perKey: boolean) {
    super(
      `the request body needs a ${mib(needs)} MiB buffer, more than ${perKey ? "an API key's share" : "all"} (${mib(bound)} MiB) of limits.max_held_body_bytes; send a smaller body`,
    );
  }
}

function mib(n: number): string {
  return String(Math.round((n / 1048576) * 100) / 100);
}

/** Buffers the helper has made since start (for tests and metrics). */
let made = 0;
/** Buffers handed out again from the kept ones (for tests and metrics). */
let reused = 0;
/** Buffers pool workers made that were taken for reuse (for tests and metrics). */
let adopted = 0;

/** Buffers of ours: out (in a request's hands), clearing (being zeroed), or kept (ready for reuse). */
const state = new WeakMap<SharedArrayBuffer, "out" | "clearing" | "kept">();
/** Kept buffers by size class. */
const kept = new Map<number, SharedArrayBuffer[]>();
/** Bytes kept or being zeroed for keeping. */
let keptBytes = 0;
/** Pool jobs using a buffer now; a buffer released meanwhile is taken back when the last ends. */
const leases = new Map<SharedArrayBuffer, number>();
const releaseWhenFree = new Set<SharedArrayBuffer>();

function start(): Worker {
  const w = new Worker(HELPER, { eval: true });
  w.on("message", (m: { id: number; sab?: SharedArrayBuffer; error?: string }) => {
    const p = waiting.get(m.id);
    if (!p) return;
    waiting.delete(m.id);
    if (waiting.size === 0) w.unref();
    if (m.sab) p.resolve(m.sab);
    else p.reject(new Error(m.error ?? "no memory"));
  });
  const lost = (err: Error) => {
    if (helper === w) helper = undefined;
    for (const p of waiting.values()) p.reject(err);
    waiting.clear();
  };
  w.on("error", lost);
  w.on("exit", (code) => lost(new Error(`shared memory helper exited (${code})`)));
  // An idle helper must not keep the process alive.
  w.unref();
  return w;
}

function ask(message: { size?: number; clear?: SharedArrayBuffer }): Promise<SharedArrayBuffer> {
  helper ??= start();
  const w = helper;
  const id = nextId++;
  return new Promise<SharedArrayBuffer>((resolve, reject) => {
    waiting.set(id, { resolve, reject });
    w.ref();
    w.postMessage({ id, ...message });
  });
}

/**
 * The size class of a request for `size` bytes: a power of two from 256 KiB. A pool worker that
 * must make a buffer itself makes one of this size, so the main thread can adopt it for reuse.
 */
export function sharedMemoryClass(size: number): number {
  let c = MIN_CLASS;
  while (c < size) c *= 2;
  return c;
}
const classOf = sharedMemoryClass;

/**
 * A zero-filled SharedArrayBuffer of at least `size` bytes whose pages are already in memory: a
 * kept one when there is one of its size class, else one the helper makes. Falls back to
 * allocating here if the helper is gone (the body is still read; only the faults land here).
 * Hand it back with releaseSharedMemory() when done; one never released is simply collected.
 */
export function sharedMemory(size: number, bounded = false, owner?: string, holding = 0): Promise<SharedArrayBuffer> {
  const c = classOf(size);
  // A request body (bounded) may not take the held bytes past the bound, nor its principal's
  // (owner's) past its share. `holding`: the bytes of the owner's buffer the caller gives back
  // once this one is filled (a body without Content-Length outgrowing its buffer), not counted twice.
  if (bounded) {
    const share = Math.max(MIN_CLASS, Math.floor(maxOutBytes * OWNER_SHARE));
    if (c > maxOutBytes) return Promise.reject(new SharedMemoryTooLargeError(c, maxOutBytes, false));
    if (owner !== undefined && c > share) return Promise.reject(new SharedMemoryTooLargeError(c, share, true));
    if (outBytes - holding + c > maxOutBytes) return Promise.reject(new SharedMemoryBoundError(maxOutBytes));
    if (owner !== undefined && (ownerBytes.get(owner) ?? 0) - holding + c > share) return Promise.reject(new SharedMemoryBoundError(share, true));
  }
  const ready = takeKept(size, owner);
  if (ready) return Promise.resolve(ready);
  // Counted now, not once the helper has made it: requests asking at the same time each see the
  // others' bytes (counted at hand-out, 80 stalled 15 MiB bodies of one key all passed a 256 MiB
  // share). The reservation becomes the buffer's own count when it comes, or goes if none does.
  reserve(c, owner);
  return ask({ size: c }).then(
    (sab) => {
      unreserve(c, owner);
      made++;
      handOut(sab, owner);
      return sab;
    },
    (err: unknown) => {
      unreserve(c, owner);
      if (err instanceof RangeError) throw err;
      const sab = new SharedArrayBuffer(size);
      handOut(sab, owner);
      return sab;
    },
  );
}

function reserve(size: number, owner: string | undefined): void {
  outBytes += size;
  if (owner !== undefined) ownerBytes.set(owner, (ownerBytes.get(owner) ?? 0) + size);
}

function unreserve(size: number, owner: string | undefined): void {
  outBytes -= size;
  if (owner !== undefined) credit(owner, size);
}

/**
 * A kept buffer of at least `size` bytes if there is one now, else undefined (the caller then
 * lets a worker allocate): for memory that may go unused, which is not worth making ahead.
 */
export function takeKeptSharedMemory(size: number): SharedArrayBuffer | undefined {
  return takeKept(size, undefined);
}

function takeKept(size: number, owner: string | undefined): SharedArrayBuffer | undefined {
  const c = classOf(size);
  const ready = kept.get(c)?.pop();
  if (!ready) return undefined;
  keptBytes -= c;
  reused++;
  handOut(ready, owner);
  return ready;
}

/**
 * Hands a buffer from sharedMemory() back: once no pool job holds it, it is zeroed (by the
 * helper) and kept for reuse, unless the kept ones already fill the bound. Anything else, and a
 * second release, is ignored.
 */
export function releaseSharedMemory(sab: SharedArrayBuffer | undefined): void {
  if (!sab || state.get(sab) !== "out") return;
  if (leases.has(sab)) {
    releaseWhenFree.add(sab);
    return;
  }
  const size = sab.byteLength;
  outBytes -= size;
  const owner = ownerOf.get(sab);
  if (owner !== undefined) {
    ownerOf.delete(sab);
    credit(owner, size);
  }
  unreleased.unregister(sab);
  if (keptBytes + size > MAX_KEPT_BYTES) {
    state.delete(sab);
    return;
  }
  keptBytes += size;
  state.set(sab, "clearing");
  ask({ clear: sab }).then(
    () => {
      state.set(sab, "kept");
      const list = kept.get(size) ?? [];
      list.push(sab);
      kept.set(size, list);
    },
    () => {
      keptBytes -= size;
      state.delete(sab);
    },
  );
}

/**
 * Takes a buffer a pool worker made (of a size class: sharedMemoryClass) as one of ours, in a
 * request's hands: released like one from sharedMemory(), it is zeroed and kept for the next
 * large body instead of being collected, so the next rewrite does not fault in fresh pages.
 * Whether it was taken (a buffer of another size, or one already known, is not). With `owner`,
 * charged to that principal's share like a request body (never refused: it is already made).
 */
export function adoptSharedMemory(sab: SharedArrayBuffer, owner?: string): boolean {
  if (state.has(sab) || sab.byteLength !== classOf(sab.byteLength)) return false;
  handOut(sab, owner);
  adopted++;
  return true;
}

/** A pool job reads or writes `sab` until endLease(): a release meanwhile waits for it. */
export function leaseSharedMemory(sab: SharedArrayBuffer): void {
  leases.set(sab, (leases.get(sab) ?? 0) + 1);
}

export function endLease(sab: SharedArrayBuffer): void {
  const n = (leases.get(sab) ?? 0) - 1;
  if (n > 0) {
    leases.set(sab, n);
    return;
  }
  leases.delete(sab);
  if (releaseWhenFree.delete(sab)) releaseSharedMemory(sab);
}

/** Counters since start (tests, metrics): buffers made by the helper, handed out again, adopted from workers, kept now. */
export function sharedMemoryStats(): { made: number; reused: number; adopted: number; keptBytes: number; outBytes: number } {
  return { made, reused, adopted, keptBytes, outBytes };
}

/** Resolves once every release asked for so far has been zeroed and kept (tests). */
export async function sharedMemorySettled(): Promise<void> {
  while (waiting.size > 0) await new Promise((r) => setTimeout(r, 5));
}

/** Starts the helper now, so the first large body does not wait for a thread to boot. */
export function warmSharedMemory(): void {
  helper ??= start();
}

/** Stops the helper (tests, shutdown); a later request starts a new one. */
export async function stopSharedMemory(): Promise<void> {
  const w = helper;
  helper = undefined;
  await w?.terminate();
}

import { createRequire } from "node:module";
import { availableParallelism } from "node:os";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { GatewayError } from "../../errors/index.js";
import { endLease, leaseSharedMemory, whenHeldReleased } from "../../wire/index.js";
import type { TextSegment } from "../body-texts.js";
import type { ClassifierVerdict } from "../content/index.js";
import { forgetHeld, runPoolJob, type AnswerChainJob, type AnswerChainResult, type AnswerSegmentsJob, type ParseAnswerJob, type ParseAnswerResult, type PoolJob, type PoolResult } from "./answer-jobs.js";
import type { BodyChainJob, BodyChainResult, BodySegmentsJob, FollowJob, ModuleJob, ParseBodyJob, ParseBodyResult, SerialiseBodyJob } from "./body-jobs.js";
import {
  type ChainJob,
  type ChainJobResult,
  type ContentJob,
  type ContentTextResult,
  type JudgeJob,
  type PiiJob,
  type PiiTextResult,
} from "./scan-jobs.js";

/**
 * Texts at least this long (in total, per rule and body) are scanned by a worker. Below it a scan
 * costs well under a millisecond even for the slowest shapes, less than the hand-off.
 */
export const OFFLOAD_MIN_CHARS = 32 * 1024;

/** The shared buffers a job reads or writes: a held body's bytes, a destination, an RPC body's bytes. */
function sharedOf(job: PoolJob): SharedArrayBuffer[] {
  const out: SharedArrayBuffer[] = [];
  const add = (v: unknown) => {
    if (v instanceof SharedArrayBuffer) out.push(v);
  };
  if (job.kind === "parse-body" || job.kind === "body-segments") add(job.body.bytes);
  else if (job.kind === "follow") add(job.text);
  else if (job.kind === "body-chain" || job.kind === "serialise-body") {
    add(job.body.bytes);
    add(job.dest);
    if (job.kind === "body-chain") add(job.followText);
  } else if (job.kind === "module") {
    add((job.input as { bytes?: unknown } | null)?.bytes);
    add(heldAnswerIn(job)?.bytes);
  }  else if (job.kind === "parse-answer" || job.kind === "answer-segments") add(job.answer.bytes);
  else if (job.kind === "answer-chain") {
    add(job.answer.bytes);
    add(job.dest);
  }
  return out;
}

/** The held answer a module job reads, when its input names one (`answer`). */
function heldAnswerIn(job: ModuleJob): { nonce: string; bytes: SharedArrayBuffer } | undefined {
  const a = (job.input as { answer?: { nonce?: unknown; bytes?: unknown } } | null)?.answer;
  return a && typeof a.nonce === "string" && a.bytes instanceof SharedArrayBuffer ? (a as { nonce: string; bytes: SharedArrayBuffer }) : undefined;
}

/** Texts a job carries, counted against the queue's bound. */
function jobChars(job: PoolJob): number {
  let n = 0;
  if (job.kind === "judge") return job.text.length;
  if (job.kind === "module") return job.chars;
  if (job.kind === "follow") return job.text.byteLength >> 1;
  if (job.kind === "parse-body" || job.kind === "body-chain" || job.kind === "body-segments" || job.kind === "serialise-body") return job.body.length;
  if (job.kind === "parse-answer" || job.kind === "answer-chain" || job.kind === "answer-segments") return job.answer.length;
  if (job.kind === "chain") for (const s of job.segments) n += s.text.length;
  else for (const t of job.texts) n += t.length;
  return n;
}

export interface ScanPoolOptions {
  /** Workers (default: one per core). */
  size?: number;
  /** Jobs that may wait for a worker; past it a job is refused (503, RESOURCE_EXHAUSTED). */
  maxQueued?: number;
  /** Characters of text the waiting jobs may hold in total; past it likewise. */
  maxQueuedChars?: number;
}

interface Pending {
  resolve: (r: PoolResult) => void;
  reject: (e: Error) => void;
}

interface Slot {
  worker: Worker;
  busy: (Pending & { id: number; kind: PoolJob["kind"] }) | undefined;
  /** The held body (nonce) this worker was last given: it keeps that body parsed (body-jobs.ts). */
  body: string | undefined;
}

/**
 * Jobs never refused for a full queue. An upstream's answer has been generated and its bytes are
 * held whether or not its jobs wait: refusing them would only throw the generation away (and a
 * retry would pay for it again on the GPU pool). Likewise work whose request is recorded as
 * answered (`committed`). The queue's bound is for requests, refused before any model runs.
 */
function alreadyPaidFor(job: PoolJob): boolean {
  return job.kind === "parse-answer" || job.kind === "answer-chain" || job.kind === "answer-segments" || (job.kind === "module" && job.committed === true);
}

/** The held body a job reads, by nonce: its jobs go to the worker that has it parsed, when free. */
function bodyOf(job: PoolJob): string | undefined {
  if (job.kind === "parse-answer" || job.kind === "answer-chain" || job.kind === "answer-segments") return job.answer.nonce;
  // A front door's conversion of a held answer (src/server/connect/held-answer-job.ts) reads it too.
  if (job.kind === "module") return heldAnswerIn(job)?.nonce;
  return job.kind === "parse-body" || job.kind === "body-chain" || job.kind === "body-segments" || job.kind === "serialise-body" ? job.body.nonce : undefined;
}

/**
 * A worker_threads pool, one worker per core, that scans large texts so that a 15 MiB body of the
 * slowest shape never holds the event loop: the main thread only posts the texts (a string copy)
 * and receives findings as transferred typed arrays. Jobs queue when every worker is busy; small
 * requests, scanned inline, do not wait behind them.
 */
export class ScanPool {
  private readonly slots: Slot[] = [];
  private readonly queue: { id: number; job: PoolJob; chars: number; p: Pending }[] = [];
  private nextId = 1;
  private closed = false;
  private queuedChars = 0;
  readonly size: number;
  readonly maxQueued: number;
  readonly maxQueuedChars: number;
  /** Jobs workers have finished since start (for tests and metrics). */
  completed = 0;
  /** The same, by kind of job. */
  readonly completedByKind: Partial<Record<PoolJob["kind"], number>> = {};
  /** Jobs refused because the queue was full. */
  refused = 0;

  constructor(opts: ScanPoolOptions | number = {}) {
    const o = typeof opts === "number" ? { size: opts } : opts;
    this.size = o.size ?? availableParallelism();
    this.maxQueued = o.maxQueued ?? 256;
    // Four maximum-size bodies (16 MiB each) may wait; more would only hold memory and time out.
    this.maxQueuedChars = o.maxQueuedChars ?? 64 * 1024 * 1024;
  }

  run(job: PiiJob): Promise<PiiTextResult[]>;
  run(job: ContentJob): Promise<ContentTextResult[]>;
  run(job: ChainJob): Promise<ChainJobResult>;
  run(job: JudgeJob): Promise<ClassifierVerdict>;
  run(job: ParseBodyJob): Promise<ParseBodyResult>;
  run(job: BodyChainJob): Promise<BodyChainResult>;
  run(job: BodySegmentsJob): Promise<TextSegment[]>;
  run(job: SerialiseBodyJob): Promise<SharedArrayBuffer | number>;
  run(job: ModuleJob): Promise<unknown>;
  run(job: FollowJob): Promise<boolean>;
  run(job: ParseAnswerJob): Promise<ParseAnswerResult>;
  run(job: AnswerChainJob): Promise<AnswerChainResult>;
  run(job: AnswerSegmentsJob): Promise<TextSegment[]>;
  run(job: PoolJob): Promise<PoolResult> {
    // A follower is only ever help: never run on this thread (it would wait here for its leader).
    if (this.closed) return job.kind === "follow" ? Promise.resolve(false) : Promise.resolve(runPoolJob(job));
    const chars = jobChars(job);
    // Bounded: a flood of large bodies is refused at once with a clear answer rather than held
    // in memory until every client has timed out. A job that finds a worker free never waits.
    const waits = this.slots.length >= this.size && this.slots.every((s) => s.busy !== undefined);
    if (waits && !alreadyPaidFor(job) && (this.queue.length >= this.maxQueued || (this.queue.length > 0 && this.queuedChars + chars > this.maxQueuedChars))) {
      this.refused++;
      return Promise.reject(
        new GatewayError("KT_ERR_OVERLOADED", "the gateway is busy scanning other large requests; retry shortly", { retryAfter: 1 }),
      );
    }
    // Pooled shared memory the job reads or writes is not reused before the job ends, even if
    // its request lets go of it meanwhile (src/wire/shared-memory.ts).
    const memory = sharedOf(job);
    for (const m of memory) leaseSharedMemory(m);
    const settle = () => {
      for (const m of memory) endLease(m);
    };
    return new Promise<PoolResult>((resolve, reject) => {
      this.queue.push({ id: this.nextId++, job, chars, p: { resolve, reject } });
      this.queuedChars += chars;
      this.pump();
    }).then(
      (r) => (settle(), r),
      (e: unknown) => {
        settle();
        throw e;
      },
    );
  }

  /**
   * Starts every worker now (each loads the scanners and warms the classifier), so the first large
   * request does not wait for a worker to boot.
   */
  /** Tells every worker that a held body's or answer's request is done with it (after any job in progress). */
  forget(nonce: string): void {
    if (this.closed) return;
    for (const s of this.slots) {
      s.worker.postMessage({ forget: nonce });
      if (s.body === nonce) s.body = undefined;
    }
  }

  warm(): void {
    while (!this.closed && this.slots.length < this.size) this.spawn();
  }

  /** Workers started and free now, with no job waiting: a job run now starts at once on one of them. */
  get idle(): number {
    if (this.closed || this.queue.length > 0) return 0;
    let n = this.size - this.slots.length;
    for (const s of this.slots) if (s.busy === undefined) n++;
    return n;
  }

  /** Jobs a worker is scanning now (for tests and metrics). */
  get running(): number {
    let n = 0;
    for (const s of this.slots) if (s.busy) n++;
    return n;
  }

  /** Jobs waiting for a worker (for tests and metrics). */
  get queued(): number {
    return this.queue.length;
  }

  private pump(): void {
    while (this.queue.length > 0) {
      // A held body's next job goes to the worker that parsed it when that one is free: with two
      // large requests interleaved, the first free worker would often be the other's, and parse
      // the whole body again (10-20 ms and ~500 page faults per MiB).
      const body = bodyOf(this.queue[0]!.job);
      let slot = (body !== undefined && this.slots.find((s) => s.busy === undefined && s.body === body)) || this.slots.find((s) => s.busy === undefined && (body === undefined || s.body === undefined)) || this.slots.find((s) => s.busy === undefined);
      if (!slot && this.slots.length < this.size) slot = this.spawn();
      if (!slot) return;
      const { id, job, chars, p } = this.queue.shift()!;
      this.queuedChars -= chars;
      if (body !== undefined) slot.body = job.kind === "serialise-body" ? undefined : body;
      slot.busy = { id, kind: job.kind, ...p };
      slot.worker.ref();
      slot.worker.postMessage({ id, job });
    }
  }

  private spawn(): Slot {
    const worker = startWorker();
    const slot: Slot = { worker, busy: undefined, body: undefined };
    // An idle pool must not keep the process alive.
    worker.unref();
    worker.on("message", (msg: { id?: number; result?: PoolResult; error?: string; ready?: boolean }) => {
      if (msg.ready || msg.id === undefined || slot.busy?.id !== msg.id) return;
      const p = slot.busy;
      slot.busy = undefined;
      worker.unref();
      this.completed++;
      this.completedByKind[p.kind] = (this.completedByKind[p.kind] ?? 0) + 1;
      if (msg.error !== undefined) p.reject(new Error(`scan worker: ${msg.error}`));
      else p.resolve(msg.result!);
      this.pump();
    });
    const lost = (err: Error) => {
      const i = this.slots.indexOf(slot);
      if (i === -1) return;
      this.slots.splice(i, 1);
      const p = slot.busy;
      slot.busy = undefined;
      p?.reject(new Error(`scan worker stopped: ${err.message}`));
      this.pump();
    };
    worker.on("error", lost);
    worker.on("exit", (code) => lost(new Error(`exit code ${code}`)));
    this.slots.push(slot);
    return slot;
  }

  async close(): Promise<void> {
    this.closed = true;
    const slots = this.slots.splice(0);
    this.queuedChars = 0;
    for (const q of this.queue.splice(0)) Promise.resolve(q.job.kind === "follow" ? false : runPoolJob(q.job)).then(q.p.resolve, q.p.reject);
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }
}

/**
 * The worker runs the compiled JavaScript next to this file, or under tsx the TypeScript source:
 * a worker does not inherit the main thread's module hooks, so it registers tsx itself first.
 */
function startWorker(): Worker {
  const self = import.meta.url;
  if (!self.endsWith(".ts")) return new Worker(new URL("./scan-worker.js", self));
  // The ESM build of tsx's API (its CommonJS one loads the ESM one by a path that may not exist).
  const tsx = pathToFileURL(createRequire(self).resolve("tsx/esm/api").replace(/\.cjs$/, ".mjs")).href;
  const entry = new URL("./scan-worker.ts", self).href;
  const boot = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); });`;
  return new Worker(boot, { eval: true });
}

let shared: ScanPool | undefined;

// A worker keeps the held body or answer it last parsed, for the request's next job; once the
// request has released it, every worker (and this thread, where jobs run when the pool is closed)
// lets go of it at once rather than FORGET_MS later: no reference to a value outlives its request.
// One message per worker per large request.
whenHeldReleased((nonce) => {
  forgetHeld(nonce);
  shared?.forget(nonce);
});

/** The process's pool, started on first use. */
export function scanPool(): ScanPool {
  shared ??= new ScanPool();
  return shared;
}

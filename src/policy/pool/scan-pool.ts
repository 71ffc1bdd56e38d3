import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { availableParallelism } from "node:os";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { GatewayError } from "../../errors/index.js";
import { endLease, leaseSharedMemory, sharedMemoryOwner, whenHeldReleased, type CancelSignal } from "../../wire/index.js";
import type { TextSegment } from "../body-texts.js";
import type { ClassifierVerdict } from "../content/index.js";
import { forgetHeld, runPoolJob, type AnswerChainJob, type AnswerChainResult, type AnswerSegmentsJob, type ParseAnswerJob, type ParseAnswerResult, type PoolJob, type PoolResult } from "./answer-jobs.js";
import type { BodyChainJob, BodyChainResult, BodySegmentsJob, FollowJob, ModuleJob, ParseBodyJob, ParseBodyResult, ScanPartJob, SerialiseBodyJob } from "./body-jobs.js";
import {
  type ChainJob,
  type ChainJobResult,
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
  else if (job.kind === "follow" || job.kind === "scan-part") add(job.text);
  else if (job.kind === "body-chain" || job.kind === "serialise-body") {
    add(job.body.bytes);
    add(job.dest);
    if (job.kind === "body-chain") {
      add(job.followText);
      add(job.split?.text);
    }
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
  if (job.kind === "follow" || job.kind === "scan-part") return job.text.byteLength >> 1;
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
  /** CPU time a job may take, by its size (CPU_BUDGET); false: none. */
  cpuBudget?: CpuBudget | false;
}

/** A job's CPU time limit: `baseMs` plus `perCharNs` per character of its text. */
export interface CpuBudget {
  baseMs: number;
  perCharNs: number;
}

/**
 * Far beyond what any job of that size needs: the slowest shapes cost ~0.15 µs per character
 * (issue #13 asks within 3x of prose, ~0.05), custom patterns on RE2 up to ~2.5 µs. A job past it
 * is a pathological input or a bug; its worker is stopped and replaced, the request answered with
 * KT_ERR_POLICY_ENGINE_UNAVAILABLE (fail closed), and the other requests get the core back.
 * 16 MiB: about 60 s of CPU.
 */
export const CPU_BUDGET: CpuBudget = { baseMs: 10_000, perCharNs: 3_000 };

/** A job submitted and not yet answered: waiting in the queue, or on a worker. */
interface Pending {
  id: number;
  kind: PoolJob["kind"];
  /** The API key whose request body the job reads ("" when not known): the queue's fair share. */
  owner: string;
  resolve: (r: PoolResult) => void;
  reject: (e: Error) => void;
  /** Shared memory the job reads or writes, leased until a worker has finished with it (or it never ran). */
  memory: SharedArrayBuffer[] | undefined;
  /** Removes the listener on the request's cancellation, if it had one. */
  undo: (() => void) | undefined;
  /** Its request was cancelled while a worker ran it: the caller has had its error, the result is dropped. */
  abandoned: boolean;
}

interface Slot {
  worker: Worker;
  busy: Pending | undefined;
  /** The worker thread's id (Linux), for its CPU time; undefined until it has started. */
  tid: number | undefined;
  /** Its CPU time (ms) when its job started (undefined if its id was not known then: from 0), and the job's budget. */
  cpuAtStart: number | undefined;
  budgetMs: number;
  /** The held body (nonce) this worker was last given: it keeps that body parsed (body-jobs.ts). */
  body: string | undefined;
}

/**
 * Jobs never refused for a full queue. An upstream's answer has been generated and its bytes are
 * held whether or not its jobs wait: refusing them would only throw the generation away (and a
 * retry would pay for it again on the GPU pool). Likewise work whose request is recorded as
 * answered (`committed`). The queue's bound is for requests, refused before any model runs.
 */
/** A job that only helps another one (a follower, a split scan's helper): it waits for that job, so it never runs on the caller's thread. */
function helpOnly(job: PoolJob): boolean {
  return job.kind === "follow" || job.kind === "scan-part";
}

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
  private readonly queue: { job: PoolJob; chars: number; p: Pending }[] = [];
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
  /** Jobs whose request was cancelled: dropped from the queue, or their result abandoned. */
  dropped = 0;
  /** Jobs stopped for running past their CPU budget (their worker replaced). */
  overruns = 0;
  private readonly budget: CpuBudget | false;
  private watchdog: NodeJS.Timeout | undefined;

  constructor(opts: ScanPoolOptions | number = {}) {
    const o = typeof opts === "number" ? { size: opts } : opts;
    this.size = o.size ?? availableParallelism();
    this.maxQueued = o.maxQueued ?? 256;
    // Four maximum-size bodies (16 MiB each) may wait; more would only hold memory and time out.
    this.maxQueuedChars = o.maxQueuedChars ?? 64 * 1024 * 1024;
    this.budget = o.cpuBudget ?? (process.platform === "linux" ? CPU_BUDGET : false);
  }

  run(job: PiiJob, cancel?: CancelSignal): Promise<PiiTextResult[]>;
  run(job: ChainJob, cancel?: CancelSignal): Promise<ChainJobResult>;
  run(job: JudgeJob, cancel?: CancelSignal): Promise<ClassifierVerdict>;
  run(job: ParseBodyJob, cancel?: CancelSignal): Promise<ParseBodyResult>;
  run(job: BodyChainJob, cancel?: CancelSignal): Promise<BodyChainResult>;
  run(job: BodySegmentsJob, cancel?: CancelSignal): Promise<TextSegment[]>;
  run(job: SerialiseBodyJob, cancel?: CancelSignal): Promise<SharedArrayBuffer | number>;
  run(job: ModuleJob, cancel?: CancelSignal): Promise<unknown>;
  run(job: FollowJob, cancel?: CancelSignal): Promise<boolean>;
  run(job: ScanPartJob, cancel?: CancelSignal): Promise<boolean>;
  run(job: ParseAnswerJob, cancel?: CancelSignal): Promise<ParseAnswerResult>;
  run(job: AnswerChainJob, cancel?: CancelSignal): Promise<AnswerChainResult>;
  run(job: AnswerSegmentsJob, cancel?: CancelSignal): Promise<TextSegment[]>;
  /**
   * `cancel`: the request's cancellation. Once it fires, the job is dropped if it still waits, and
   * its result ignored if a worker runs it; either way the caller gets KT_ERR_CANCELLED at once.
   * Jobs that are not cancelled run and answer exactly as without it.
   */
  run(job: PoolJob, cancel?: CancelSignal): Promise<PoolResult> {
    // A follower or a scan's helper is only ever help: never run on this thread (it would wait here for its leader).
    if (this.closed) return helpOnly(job) ? Promise.resolve(false) : Promise.resolve(runPoolJob(job));
    if (cancel?.aborted) {
      this.dropped++;
      return Promise.reject(cancelled());
    }
    const chars = jobChars(job);
    const memory = sharedOf(job);
    const owner = memory.length > 0 ? (sharedMemoryOwner(memory[0]!) ?? "") : "";
    // Bounded: a flood of large bodies is refused at once with a clear answer rather than held
    // in memory until every client has timed out. A job that finds a worker free never waits.
    // A key with nothing waiting is not refused for a queue other keys filled: one job past the
    // bound per key, so one key's flood cannot shut the others' large bodies out.
    const waits = this.slots.length >= this.size && this.slots.every((s) => s.busy !== undefined);
    if (
      waits &&
      !alreadyPaidFor(job) &&
      (this.queue.length >= this.maxQueued || (this.queue.length > 0 && this.queuedChars + chars > this.maxQueuedChars)) &&
      (owner === "" || this.queue.some((q) => q.p.owner === owner))
    ) {
      this.refused++;
      return Promise.reject(
        new GatewayError("KT_ERR_OVERLOADED", "the gateway is busy scanning other large requests; retry shortly", { retryAfter: 1 }),
      );
    }
    // Pooled shared memory the job reads or writes is not reused before the job ends, even if
    // its request lets go of it meanwhile (src/wire/shared-memory.ts). Held until a worker has
    // answered (an abandoned job's worker may still be writing it), or the job left the queue.
    for (const m of memory) leaseSharedMemory(m);
    return new Promise<PoolResult>((resolve, reject) => {
      const p: Pending = { id: this.nextId++, kind: job.kind, owner, resolve, reject, memory: memory.length > 0 ? memory : undefined, undo: undefined, abandoned: false };
      if (cancel) p.undo = onCancel(cancel, () => this.cancel(p));
      this.queue.push({ job, chars, p });
      this.queuedChars += chars;
      this.pump();
    });
  }

  /** A request cancelled: its job leaves the queue, or (running) is answered now and its result ignored. */
  private cancel(p: Pending): void {
    p.undo?.();
    p.undo = undefined;
    const i = this.queue.findIndex((q) => q.p === p);
    if (i >= 0) {
      const [q] = this.queue.splice(i, 1);
      this.queuedChars -= q!.chars;
      endLeases(p);
    } else if (this.slots.some((s) => s.busy === p)) {
      // The worker is left to finish (a scan cannot be interrupted); its memory stays leased until then.
      p.abandoned = true;
    } else return;
    this.dropped++;
    p.reject(cancelled());
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

  /**
   * The queue's next job: the oldest of the key with the fewest jobs on workers now and, among
   * those, the one whose last job started longest ago. So keys take turns: a key with many large
   * bodies waiting does not make another key's one wait behind all of them (it goes next). Jobs of
   * unknown key ("") take their turns as one key. One key waiting (the usual case): the oldest.
   */
  private nextIndex(): number {
    const q = this.queue;
    const first = q[0]!.p.owner;
    let i = 1;
    while (i < q.length && q[i]!.p.owner === first) i++;
    if (i === q.length) return 0;
    const running = (owner: string) => {
      let n = 0;
      for (const s of this.slots) if (s.busy?.owner === owner) n++;
      return n;
    };
    let best = 0;
    let bestRunning = running(first);
    let bestTurn = this.lastTurn.get(first) ?? 0;
    const seen = new Set<string>([first]);
    for (let k = i; k < q.length; k++) {
      const o = q[k]!.p.owner;
      if (seen.has(o)) continue;
      seen.add(o);
      const r = running(o);
      const turn = this.lastTurn.get(o) ?? 0;
      if (r < bestRunning || (r === bestRunning && turn < bestTurn)) {
        best = k;
        bestRunning = r;
        bestTurn = turn;
      }
    }
    return best;
  }

  /** Jobs started since start; and when each key's last job started (its key removed when it has none left). */
  private turns = 0;
  private readonly lastTurn = new Map<string, number>();

  private noteTurn(owner: string): void {
    this.lastTurn.set(owner, this.turns);
    // Bounded by the keys with jobs waiting or running: forget the others.
    if (this.lastTurn.size > 64)
      for (const o of this.lastTurn.keys()) if (!this.queue.some((q) => q.p.owner === o) && !this.slots.some((s) => s.busy?.owner === o)) this.lastTurn.delete(o);
  }

  private pump(): void {
    while (this.queue.length > 0) {
      const at = this.nextIndex();
      // A held body's next job goes to the worker that parsed it when that one is free: with two
      // large requests interleaved, the first free worker would often be the other's, and parse
      // the whole body again (10-20 ms and ~500 page faults per MiB).
      const body = bodyOf(this.queue[at]!.job);
      let slot = (body !== undefined && this.slots.find((s) => s.busy === undefined && s.body === body)) || this.slots.find((s) => s.busy === undefined && (body === undefined || s.body === undefined)) || this.slots.find((s) => s.busy === undefined);
      if (!slot && this.slots.length < this.size) slot = this.spawn();
      if (!slot) return;
      const { job, chars, p } = at === 0 ? this.queue.shift()! : this.queue.splice(at, 1)[0]!;
      this.turns++;
      if (p.owner !== "" || this.lastTurn.size > 0) this.noteTurn(p.owner);
      this.queuedChars -= chars;
      if (body !== undefined) slot.body = job.kind === "serialise-body" ? undefined : body;
      slot.busy = p;
      slot.worker.ref();
      slot.worker.postMessage({ id: p.id, job });
      if (this.budget) {
        slot.budgetMs = this.budget.baseMs + (chars * this.budget.perCharNs) / 1e6;
        slot.cpuAtStart = slot.tid === undefined ? undefined : threadCpuMs(slot.tid);
        this.watchdog ??= setInterval(() => this.watch(), WATCH_MS).unref();
      }
    }
  }

  /** Once a second while jobs run: a job past its CPU budget has its worker stopped and replaced. */
  private watch(): void {
    let running = false;
    for (const slot of [...this.slots]) {
      if (!slot.busy) continue;
      running = true;
      if (slot.tid === undefined) continue;
      const used = threadCpuMs(slot.tid) - (slot.cpuAtStart ?? 0);
      if (used > slot.budgetMs) this.overrun(slot);
    }
    if (!running && this.watchdog) {
      clearInterval(this.watchdog);
      this.watchdog = undefined;
    }
  }

  private overrun(slot: Slot): void {
    const p = slot.busy!;
    // Out of the pool first, so its exit is not taken for a lost worker.
    this.slots.splice(this.slots.indexOf(slot), 1);
    slot.busy = undefined;
    this.overruns++;
    if (!p.abandoned)
      p.reject(new GatewayError("KT_ERR_POLICY_ENGINE_UNAVAILABLE", "the policy check of this request ran far past the time its size allows and was stopped; the request was not forwarded"));
    p.abandoned = true;
    // Its memory is free for reuse only once the thread can no longer write it.
    void slot.worker.terminate().finally(() => settled(p));
    this.pump();
  }

  private spawn(): Slot {
    const worker = startWorker();
    const slot: Slot = { worker, busy: undefined, body: undefined, tid: undefined, cpuAtStart: undefined, budgetMs: 0 };
    // An idle pool must not keep the process alive.
    worker.unref();
    worker.on("message", (msg: { id?: number; result?: PoolResult; error?: string; ready?: boolean; tid?: number }) => {
      if (msg.ready) {
        slot.tid = msg.tid;
        // A job posted while the worker started begins only now: its CPU time counts from here.
        if (slot.busy && slot.tid !== undefined) slot.cpuAtStart = threadCpuMs(slot.tid);
      }
      if (msg.ready || msg.id === undefined || slot.busy?.id !== msg.id) return;
      const p = slot.busy;
      slot.busy = undefined;
      worker.unref();
      this.completed++;
      this.completedByKind[p.kind] = (this.completedByKind[p.kind] ?? 0) + 1;
      settled(p);
      if (p.abandoned) {
        // Its request was cancelled while it ran: the caller has its error; the result goes nowhere.
      } else if (msg.error !== undefined) p.reject(new Error(`scan worker: ${msg.error}`));
      else p.resolve(msg.result!);
      this.pump();
    });
    const lost = (err: Error) => {
      const i = this.slots.indexOf(slot);
      if (i === -1) return;
      this.slots.splice(i, 1);
      const p = slot.busy;
      slot.busy = undefined;
      if (p) {
        settled(p);
        if (!p.abandoned) p.reject(new Error(`scan worker stopped: ${err.message}`));
      }
      this.pump();
    };
    worker.on("error", lost);
    worker.on("exit", (code) => lost(new Error(`exit code ${code}`)));
    this.slots.push(slot);
    return slot;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.watchdog) clearInterval(this.watchdog);
    this.watchdog = undefined;
    const slots = this.slots.splice(0);
    this.queuedChars = 0;
    for (const q of this.queue.splice(0)) {
      settled(q.p);
      Promise.resolve(helpOnly(q.job) ? false : runPoolJob(q.job)).then(q.p.resolve, q.p.reject);
    }
    await Promise.all(slots.map((s) => s.worker.terminate()));
    for (const s of slots) if (s.busy) settled(s.busy);
  }
}

const WATCH_MS = 1000;

/** A thread's CPU time (user + system) in ms, from /proc (clock ticks of 10 ms); 0 if unreadable. */
function threadCpuMs(tid: number): number {
  try {
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, "latin1");
    // After the command name's closing parenthesis: state, then fields 4…; utime and stime are 14 and 15.
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) * 10;
  } catch {
    return 0;
  }
}

function cancelled(): GatewayError {
  return new GatewayError("KT_ERR_CANCELLED", "the client cancelled the request");
}

/** Ends a job's leases: it left the queue without running, or its worker is done with it. */
function endLeases(p: Pending): void {
  const m = p.memory;
  p.memory = undefined;
  if (m) for (const sab of m) endLease(sab);
}

/** A job's worker has answered (or is gone): no more listening for its cancellation, its memory free. */
function settled(p: Pending): void {
  p.undo?.();
  p.undo = undefined;
  endLeases(p);
}

/** Calls `fn` once when `signal` aborts (an AbortSignal or an `abort`-emitting EventEmitter); returns the undo. */
function onCancel(signal: CancelSignal, fn: () => void): () => void {
  if (signal instanceof AbortSignal) {
    signal.addEventListener("abort", fn, { once: true });
    return () => signal.removeEventListener("abort", fn);
  }
  // on(), not once(): the emitter (the front door's ClientCancel) says `abort` at most once.
  signal.on("abort", fn);
  return () => signal.removeListener("abort", fn);
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

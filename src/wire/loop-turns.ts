/**
 * Keeps every turn of the event loop short when the gateway is saturated, so that the loop gets
 * back to polling — where it accepts new connections — every few milliseconds, however much work
 * is waiting.
 *
 * Why: the kernel holds connections the process has not yet accepted in the listen socket's
 * accept queue (at most net.core.somaxconn, 4096 here). Node accepts only in the poll phase of the
 * loop, and all the work a read triggers (a request's policy phase, a streamed chunk's SSE decode,
 * guard and write) runs inline in that phase, in the microtasks after each read. With thousands of
 * streams open, one turn did every open stream's chunk before polling again: seconds, during which
 * thousands of new connections arrived, the queue overflowed, the kernel dropped handshakes and
 * clients saw ECONNRESET (TcpExt ListenOverflows grew by 41,753 in one 9,850-stream run).
 *
 * How: a unit of work (a request entering the pipeline, a chunk read from an upstream) asks
 * `nextTurn()` before it starts. While nothing is queued and the current turn has spent less than
 * SLICE_MS on such work, the answer is `undefined` and the caller goes on at once: an idle or
 * lightly loaded gateway pays one performance.now() per unit and no extra latency. Otherwise the
 * caller awaits its place in a FIFO queue that is worked off in slices of about SLICE_MS, one slice
 * per turn (setImmediate, which runs after the poll phase), so between two slices the loop polls:
 * it accepts, reads and queues. Nothing is dropped or reordered within a stream (each stream's
 * units wait in order); the work is the same, only when it runs changes.
 */

/** Work a turn may do inline, and the length of one slice of queued work. */
export const SLICE_MS = 4;

/** Waiters, oldest first, from `head` on (a plain array with a moving head: O(1) per unit). */
let queue: (() => void)[] = [];
/**
 * Beside each waiter: the slice count when it was queued, for a waiter that must see the loop
 * poll once more before it goes (see nextTurn's `afterPoll`); -1 for any other.
 */
let born: number[] = [];
let head = 0;
let sliceScheduled = false;
/** runSlice calls so far: one per turn of the loop while anything waits. */
let slices = 0;
/** performance.now() when inline work began in this turn; -1 when none has yet. */
let turnStart = -1;
let turnMarked = false;

function markTurnEnd(): void {
  turnMarked = false;
  turnStart = -1;
}

/** Starts counting this turn's inline work from `now`, to be reset at the turn's check phase. */
function startTurn(now: number): void {
  turnStart = now;
  if (!turnMarked) {
    turnMarked = true;
    setImmediate(markTurnEnd);
  }
}

/**
 * One whole turn of the event loop (setImmediate), whatever this turn has spent: for work cut into
 * steps that must each let the loop poll (a large chunk's slices, a reload's scanner build), where
 * nextTurn() would let several run in one turn.
 */
export function loopTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Units waiting now (tests, metrics). */
export function queuedUnits(): number {
  return queue.length - head;
}

/**
 * `undefined` when the caller may go on now; otherwise a promise that resolves when its turn
 * comes. Callers write `const w = nextTurn(); if (w) await w;` so the common case costs no promise.
 *
 * With `afterPoll`, a waiter is let go only after the loop has polled at least once since it was
 * queued. A request queued during a long poll phase (hundreds of arrivals handled in one, seconds
 * of wall time on a loaded machine) would otherwise be let go in the check phase right after that
 * poll, before the loop reads what came meanwhile: its client's HTTP/2 RST_STREAM, a closed
 * connection. It was then sent upstream, to be cancelled a turn later (issue #13, round 14).
 * Costs the waiting request one more turn of the loop, and only under a backlog.
 */
export function nextTurn(afterPoll = false): Promise<void> | undefined {
  if (head === queue.length) {
    const now = performance.now();
    if (turnStart < 0) {
      // The check phase of this turn ends its inline budget; the next turn starts afresh.
      startTurn(now);
      return undefined;
    }
    if (now - turnStart < SLICE_MS) return undefined;
  }
  return new Promise<void>((resolve) => {
    queue.push(resolve);
    born.push(afterPoll ? slices : -1);
    if (!sliceScheduled) {
      sliceScheduled = true;
      setImmediate(runSlice);
    }
  });
}

/**
 * Runs `work` in a slice of queued work, never inline, and settles with what it returns (or
 * throws). For work cut into steps whose every step must take its place (a large stream chunk's
 * slices): a nextTurn() waiter's work runs in the microtasks after its release, a few promise
 * steps later (an adopted promise, a `then`), by when runSlice has already read its clock and let
 * the next waiters go (a scratch run of four streams of 3 ms steps, each waiting a turn and then
 * its place as the guard's slices did: three steps a turn, not one or two). `work` here
 * runs inside the release itself, so the slice's clock counts it: a pass lets go work until about
 * SLICE_MS has run, and at most one step more.
 */
export function runQueued<T>(work: () => T): Promise<Awaited<T>> {
  return new Promise<Awaited<T>>((resolve, reject) => {
    queue.push(() => {
      try {
        resolve(work() as Awaited<T>);
      } catch (e) {
        reject(e);
      }
    });
    born.push(-1);
    if (!sliceScheduled) {
      sliceScheduled = true;
      setImmediate(runSlice);
    }
  });
}

/**
 * Lets waiters go, oldest first, for about SLICE_MS. A released unit runs in the microtasks that
 * follow; this loop takes its next step after the released unit's first step, so the time it reads
 * includes the work it let go when that work is in that first step (a `then` on the waiter itself,
 * or runQueued's work, which runs in the release), not work a few promise steps further on.
 */
async function runSlice(): Promise<void> {
  const t0 = performance.now();
  const slice = ++slices;
  // Work released here counts against this turn: units arriving inline meanwhile queue behind.
  startTurn(t0);
  while (head < queue.length) {
    // Queued since the previous slice began (in this turn's poll phase, or by work that slice let
    // go): the loop may not have polled since. It goes next turn; the waiters behind it keep
    // their place (FIFO).
    if (born[head]! >= slice - 1) break;
    const release = queue[head]!;
    queue[head++] = noop;
    release();
    await undefined;
    if (performance.now() - t0 >= SLICE_MS) break;
  }
  if (head === queue.length) {
    queue = [];
    born = [];
    head = 0;
    sliceScheduled = false;
    return;
  }
  // Compact now and then so the array does not grow without bound under a steady backlog.
  if (head > 4096 && head * 2 > queue.length) {
    queue = queue.slice(head);
    born = born.slice(head);
    head = 0;
  }
  setImmediate(runSlice);
}

function noop(): void {}

import { write as writeAsync, writeSync } from "node:fs";

/** Writers with lines still pending, written out when the process exits. */
const open = new Set<LineWriter>();
let exitHooked = false;

/**
 * The JSON log's destination on a file descriptor (stderr): the lines of one turn of the event loop
 * are gathered and written with one synchronous write() at the turn's check phase (setImmediate),
 * after the turn's answers have gone out.
 *
 * Why not pino's sonic-boom in async mode, as before: each of its writes is a hand-off to libuv's
 * thread pool (a futex wake for a pool thread, a context switch, the write, and an async wake back
 * to the loop), about one per three requests under load; with the gateway on one core those
 * hand-offs cost it more than the access line itself (issue #20: futex 1.33 per request with
 * policies off against 0.66 for a plain Node proxy). And its write() measured the byte length of
 * its whole pending buffer on every line. Here a turn's lines cost one system call on the loop's own
 * thread and one byte count.
 *
 * Under load the turns are short and many (a few requests each), so writing at every turn's end
 * still cost a write() per three to five requests, each a system call that also wakes the log's
 * reader (issue #20: 11 us of the gateway's ~280 per request in a perf profile, policies off). So
 * a write follows the previous one by at least `minIntervalMs` (5 ms): the first line after a
 * quiet spell still goes out at its turn's end, and lines that come faster are gathered until the
 * interval has passed, or until `flushBytes` (64 KiB) are pending, which goes out at the turn's
 * end. A line waits at most the interval; at exit everything pending is written (flushSync).
 *
 * Blocking: a descriptor in blocking mode (a file, a terminal, the pipe or socket a supervisor
 * gives a child: libuv, systemd and Docker hand them over blocking) holds the loop while the write
 * runs, as Node's own console and pino's default (synchronous) destination do; no line is lost. A
 * non-blocking descriptor that is full (EAGAIN) never spins: what is left goes through the thread
 * pool (fs.write) and later lines wait behind it until it is written, then writing is synchronous again;
 * while they wait, at most `maxPending` characters are held and the rest dropped and counted.
 */
export class LineWriter {
  /** Lines not yet handed to write(). */
  private pending = "";
  private scheduled = false;
  /** Bytes being written through the thread pool (after EAGAIN), or undefined. */
  private inFlight: Buffer | undefined;
  private closed = false;
  /** Lines refused while the backlog was full, reported in one line once it drains. */
  private dropped = 0;
  /** performance.now() of the last write() of pending lines. */
  private lastWrite = Number.NEGATIVE_INFINITY;
  /** The timer of a write held back by the interval, while one is. */
  private timer: NodeJS.Timeout | undefined;

  /**
   * `maxPending`: characters held while a full descriptor holds lines back. A log reader that
   * stops reading must not grow the gateway's memory without bound; past this, lines are dropped
   * and counted, and a line saying how many goes out when the reader catches up.
   */
  constructor(
    private readonly fd: number,
    private readonly maxPending = 32 * 1024 * 1024,
    private readonly minIntervalMs = 5,
    private readonly flushBytes = 64 * 1024,
  ) {
    open.add(this);
    if (!exitHooked) {
      exitHooked = true;
      process.once("exit", () => {
        for (const w of open) w.flushSync();
      });
    }
  }

  /** True while a full descriptor holds lines back (they go through the thread pool meanwhile). */
  get backlogged(): boolean {
    return this.inFlight !== undefined;
  }

  /** Lines dropped since the last report (a full backlog). */
  get droppedLines(): number {
    return this.dropped;
  }

  write(line: string): boolean {
    if (this.closed) return false;
    if (this.inFlight !== undefined && this.pending.length + line.length > this.maxPending) {
      this.dropped++;
      return false;
    }
    this.pending += line;
    if (this.inFlight !== undefined) return true;
    if (!this.scheduled) {
      this.scheduled = true;
      const wait = this.lastWrite + this.minIntervalMs - performance.now();
      if (wait <= 0) setImmediate(this.flushTurn);
      // Unreferenced: a pending write never holds the process open (exit writes it).
      else this.timer = setTimeout(this.flushTurn, Math.ceil(wait)).unref();
    } else if (this.timer !== undefined && this.pending.length >= this.flushBytes) {
      // Enough gathered: at this turn's end rather than the interval's.
      clearTimeout(this.timer);
      this.timer = undefined;
      setImmediate(this.flushTurn);
    }
    return true;
  }

  /** pino's logger.flush(cb): what is pending goes out now. */
  flush(cb?: (err?: Error) => void): void {
    this.flushSync();
    cb?.();
  }

  /** Writes everything pending now, waiting out a full non-blocking descriptor (exit, signals). */
  flushSync(): void {
    if (this.pending === "") return;
    let buf = Buffer.from(this.pending);
    this.pending = "";
    const deadline = Date.now() + 2000;
    while (buf.length > 0) {
      try {
        buf = buf.subarray(writeSync(this.fd, buf));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EAGAIN" || Date.now() > deadline) return;
        Atomics.wait(sleeper, 0, 0, 1);
      }
    }
  }

  /** Stops writing (the descriptor stays open: it is the process's stderr). */
  end(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.flushSync();
    this.closed = true;
    open.delete(this);
  }

  private readonly flushTurn = (): void => {
    this.scheduled = false;
    this.timer = undefined;
    if (this.inFlight !== undefined || this.pending === "") return;
    const text = this.pending;
    this.pending = "";
    this.lastWrite = performance.now();
    let written: number;
    try {
      written = writeSync(this.fd, text);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "EAGAIN") this.writeLater(Buffer.from(text));
      // Any other failure (stderr closed: EPIPE, EBADF) loses these lines; it must not end the gateway.
      return;
    }
    // One byte count per turn, only when the write may have been partial.
    if (written < text.length || written < Buffer.byteLength(text)) this.writeLater(Buffer.from(text).subarray(written));
  };

  /** The rest of a partial or refused write, through the thread pool; lines written meanwhile queue behind it. */
  private writeLater(buf: Buffer): void {
    this.inFlight = buf;
    writeAsync(this.fd, buf, 0, buf.length, null, (err, n) => {
      if (err && err.code !== "EAGAIN") {
        this.inFlight = undefined;
        return;
      }
      const rest = buf.subarray(err ? 0 : n);
      if (rest.length > 0) {
        // EAGAIN again (the reader is still behind): a short wait instead of spinning.
        if (err) setTimeout(() => this.writeLater(rest), 5).unref();
        else this.writeLater(rest);
        return;
      }
      this.inFlight = undefined;
      if (this.dropped > 0) {
        // Said after the lines that were kept, so the gap's place in the log shows.
        this.pending += `{"level":"warn","time":"${new Date().toISOString()}","msg":"log lines dropped: the log reader fell behind","dropped":${this.dropped}}\n`;
        this.dropped = 0;
      }
      if (this.pending !== "" && !this.scheduled) {
        this.scheduled = true;
        setImmediate(this.flushTurn);
      }
    });
  }
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));

import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { open, readFile, rename, unlink } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";

/**
 * One writer per audit log: a lock file created with O_CREAT|O_EXCL in the log's directory,
 * holding the writer's pid, its start time and its host.
 *
 * Why not flock: Node has no flock/fcntl binding, and the npm packages that add one are native
 * addons built by install scripts (which this project does not run). O_EXCL creation is atomic
 * on every local file system and on NFSv3+; what it lacks is release on crash, and that is
 * restored by checking the holder: a lock whose pid is not running, or is running but started at
 * another time (the pid was reused, e.g. pid 1 in a restarted container), is stale and is taken
 * over. A lock from another host is never taken over automatically: its pid cannot be checked
 * from here.
 */
export const LOCK_FILE = "writer.lock";

export interface LockHolder {
  pid: number;
  host: string;
  /** The holder's start time as the kernel counts it (/proc/<pid>/stat field 22), when known. */
  startTicks?: string;
  /** When it took the lock (ISO). */
  since: string;
  token: string;
}

export class AuditLogLockedError extends Error {
  constructor(
    readonly dir: string,
    readonly holder: LockHolder,
  ) {
    super(
      `audit log ${dir} is in use by another gateway process (pid ${holder.pid}${holder.host !== hostname() ? ` on host ${holder.host}` : ""}, since ${holder.since}): ` +
        `one writer per log. Stop that process, or give this one its own audit-logger path` +
        (holder.host !== hostname() ? `; if that host's process is gone, delete ${join(dir, LOCK_FILE)}` : ""),
    );
    this.name = "AuditLogLockedError";
  }
}

export class WriterLock {
  private released = false;
  private constructor(
    private readonly path: string,
    readonly holder: LockHolder,
  ) {}

  /** Takes the lock of `dir`, or throws AuditLogLockedError naming the live holder. */
  static async acquire(dir: string): Promise<WriterLock> {
    const path = join(dir, LOCK_FILE);
    const me: LockHolder = { pid: process.pid, host: hostname(), since: new Date().toISOString(), token: randomBytes(8).toString("hex") };
    const ticks = startTicks(process.pid);
    if (ticks !== undefined) me.startTicks = ticks;
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        const fh = await open(path, "wx", 0o644);
        try {
          await fh.writeFile(JSON.stringify(me) + "\n");
          await fh.sync();
        } finally {
          await fh.close();
        }
        return new WriterLock(path, me);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      }
      const holder = await readHolder(path);
      if (holder === "gone") continue;
      if (holder !== "unreadable" && isAlive(holder)) throw new AuditLogLockedError(dir, holder);
      // Stale (its process is gone) or unreadable after a grace period: take it over. Renaming
      // first means two processes taking over at once cannot both succeed: one rename fails.
      const aside = `${path}.stale-${me.token}`;
      try {
        await rename(path, aside);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "ENOENT") continue;
        throw e;
      }
      const moved = await readHolder(aside);
      if (holder !== "unreadable" && moved !== "gone" && moved !== "unreadable" && moved.token !== holder.token) {
        // Someone else took over between our read and our rename: put theirs back and yield.
        await rename(aside, path).catch(() => undefined);
        if (isAlive(moved)) throw new AuditLogLockedError(dir, moved);
        continue;
      }
      await unlink(aside).catch(() => undefined);
    }
    throw new Error(`audit log ${dir}: could not take the writer lock ${path} (it keeps changing hands)`);
  }

  /** Releases the lock (only if the file is still ours). */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    const h = await readHolder(this.path);
    if (h !== "gone" && h !== "unreadable" && h.token === this.holder.token) await unlink(this.path).catch(() => undefined);
  }
}

async function readHolder(path: string): Promise<LockHolder | "gone" | "unreadable"> {
  // A holder creates the file and writes it at once; give a racing reader a moment to see it.
  for (let i = 0; i < 3; i++) {
    let text: string;
    try {
      text = await readFile(path, "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return "gone";
      throw e;
    }
    try {
      const h = JSON.parse(text) as LockHolder;
      if (Number.isSafeInteger(h.pid) && typeof h.host === "string" && typeof h.token === "string") return h;
    } catch {
      /* torn or empty: retry */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return "unreadable";
}

/** True when the holder's process is still the one that took the lock. */
function isAlive(h: LockHolder): boolean {
  if (h.host !== hostname()) return true; // cannot tell from here: treat as held
  try {
    process.kill(h.pid, 0);
  } catch (e) {
    // EPERM: it exists but belongs to someone else; ESRCH: it is gone.
    if ((e as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  if (h.startTicks === undefined) return true;
  const now = startTicks(h.pid);
  // Same pid, another start time: the pid was reused by a new process; the holder is gone.
  return now === undefined || now === h.startTicks;
}

/** The process's start time in clock ticks since boot (Linux /proc), a pid-reuse guard. */
function startTicks(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) may hold spaces and parentheses: count from its last ')'.
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return rest[19];
  } catch {
    return undefined;
  }
}

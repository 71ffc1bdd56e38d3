import { mkdir, stat } from "node:fs/promises";
import { dirname, resolve } from "node:path";

/**
 * `mkdir -p` one level at a time. Node's `mkdir(path, { recursive: true })` retries a level whose
 * creation fails with ENOENT by creating its parent again, and on a file system where a directory
 * can never be made but its parent exists (/proc, sysfs) it never stops: a reload whose audit path
 * was `/proc/kt-audit` spun a core for good and every later reload queued behind it. Here each
 * level is tried once, from the deepest existing one down, and the first error is the answer.
 */
export async function makeDirectory(path: string): Promise<void> {
  const missing: string[] = [];
  let at = resolve(path);
  // Up to the first level that exists (bounded by the path's depth).
  for (;;) {
    try {
      const s = await stat(at);
      if (!s.isDirectory()) throw Object.assign(new Error(`ENOTDIR: not a directory, mkdir '${at}'`), { code: "ENOTDIR", path: at });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      missing.push(at);
      const up = dirname(at);
      if (up === at) break;
      at = up;
    }
  }
  for (let i = missing.length - 1; i >= 0; i--) {
    try {
      await mkdir(missing[i]!);
    } catch (err) {
      // Made meanwhile by someone else: fine if it is a directory now.
      if ((err as NodeJS.ErrnoException).code !== "EEXIST" || !(await stat(missing[i]!)).isDirectory()) throw err;
    }
  }
}

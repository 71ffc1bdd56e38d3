/** CPU and memory of a process tree from /proc (Linux only; everything degrades to undefined elsewhere). */
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

let tck: number | undefined;
/** Clock ticks per second (`getconf CLK_TCK`, 100 almost everywhere). */
export function clkTck(): number {
  if (tck === undefined) {
    try {
      tck = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
    } catch {
      tck = 100;
    }
  }
  return tck;
}

interface Stat {
  ppid: number;
  utime: number;
  stime: number;
}

function readStat(pid: number): Stat | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name, which may itself hold spaces and parentheses.
    const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
    // f[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
    return { ppid: Number(f[1]), utime: Number(f[11]), stime: Number(f[12]) };
  } catch {
    return undefined;
  }
}

/** pid and all its descendants (nginx master + workers). */
export function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  let entries: string[] = [];
  try {
    entries = readdirSync("/proc");
  } catch {
    return [pid];
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    const st = readStat(Number(e));
    if (!st) continue;
    const list = children.get(st.ppid) ?? [];
    list.push(Number(e));
    children.set(st.ppid, list);
  }
  const out: number[] = [];
  const walk = (p: number) => {
    out.push(p);
    for (const c of children.get(p) ?? []) walk(c);
  };
  walk(pid);
  return out;
}

/** utime+stime of the tree in clock ticks (undefined if /proc is not readable). */
export function cpuTicks(pid: number): number | undefined {
  let sum = 0;
  let any = false;
  for (const p of processTree(pid)) {
    const st = readStat(p);
    if (!st) continue;
    any = true;
    sum += st.utime + st.stime;
  }
  return any ? sum : undefined;
}

/** VmRSS of the tree in KiB. */
export function rssKb(pid: number): number | undefined {
  let sum = 0;
  let any = false;
  for (const p of processTree(pid)) {
    try {
      const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${p}/status`, "utf8"));
      if (m) {
        sum += Number(m[1]);
        any = true;
      }
    } catch {
      /* gone */
    }
  }
  return any ? sum : undefined;
}

/** CPU microseconds consumed by the tree between two cpuTicks readings, per unit of work. */
export function cpuMicrosPer(ticksBefore: number | undefined, ticksAfter: number | undefined, units: number): number | undefined {
  if (ticksBefore === undefined || ticksAfter === undefined || units <= 0) return undefined;
  return ((ticksAfter - ticksBefore) * 1e6) / clkTck() / units;
}

/** Samples RSS of a pid's tree at an interval; keeps the peak and every sample. */
export class RssSampler {
  private timer: NodeJS.Timeout | undefined;
  peakKb = 0;
  readonly samples: { atMs: number; kb: number }[] = [];
  private readonly t0 = Date.now();

  constructor(
    private readonly pid: number,
    private readonly intervalMs = 100,
  ) {}

  start(): this {
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    this.timer.unref();
    return this;
  }

  sample(): number | undefined {
    const kb = rssKb(this.pid);
    if (kb !== undefined) {
      this.peakKb = Math.max(this.peakKb, kb);
      this.samples.push({ atMs: Date.now() - this.t0, kb });
    }
    return kb;
  }

  stop(): { peakKb: number; samples: { atMs: number; kb: number }[] } {
    if (this.timer) clearInterval(this.timer);
    this.sample();
    return { peakKb: this.peakKb, samples: this.samples };
  }
}

/**
 * Pins a process tree (every thread of every process) to one CPU with `taskset -a -p`; false when
 * taskset is missing or refuses. Used for the pinned CPU measurement, where the process under test
 * gets a core of its own and its load generator and upstream share the other.
 */
export function pinTree(pid: number, cpu: number): boolean {
  try {
    for (const p of processTree(pid)) execFileSync("taskset", ["-a", "-p", "-c", String(cpu), String(p)], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/**
 * The kernel's count of connections dropped because a listen queue was full (`TcpExt
 * ListenOverflows` in /proc/net/netstat, what `nstat` shows): machine-wide, so read it around a
 * run that owns the listener. undefined where /proc is not there.
 */
export function listenOverflows(): number | undefined {
  try {
    const lines = readFileSync("/proc/net/netstat", "utf8").split("\n");
    for (let i = 0; i + 1 < lines.length; i++) {
      if (!lines[i]!.startsWith("TcpExt:")) continue;
      const names = lines[i]!.split(/\s+/);
      const values = lines[i + 1]!.split(/\s+/);
      const k = names.indexOf("ListenOverflows");
      return k < 0 ? undefined : Number(values[k]);
    }
  } catch {
    /* not Linux */
  }
  return undefined;
}

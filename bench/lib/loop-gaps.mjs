/**
 * Event-loop gap logger, preloaded into a process under test:
 *
 *   node --import ./bench/lib/loop-gaps.mjs bin/kt.mjs gateway run …
 *   GW_NODE_ARGS="--import ./bench/lib/loop-gaps.mjs" MIB=15 PART=2 nice npx tsx bench/hostile.ts
 *
 * On the main thread only: a 2 ms timer notes every turn of the loop that came later than
 * LOOP_GAPS_MS (default 20) after the one before, and perf_hooks notes every garbage collection
 * of LOOP_GAPS_GC_MS (default 5) or more, with its kind. Each goes out as one JSON line to
 * LOOP_GAPS_FILE (default: stderr) as it happens, and at exit a summary line: gaps over 50 ms,
 * the longest, GC time by kind, and the loop-delay percentiles of monitorEventLoopDelay.
 *
 * On a shared machine most gaps are the thread waiting for a core, not work: where Linux has
 * /proc/thread-self/schedstat, each gap also says how long the main thread ran (`ran`) and how
 * long it was runnable but not running (`waited`) during it, so a real long task (ran ≈ gap) can
 * be told from CPU starvation (waited ≈ gap). Over 50 ms only the former counts as `longTasks`.
 * Plain JavaScript with no imports of ours, so it loads the same under node, tsx and from dist/.
 * The timer itself costs the process about 500 wake-ups a second: a bench tool, not for production.
 */
import { appendFileSync, openSync, readSync, writeSync } from "node:fs";
import { isMainThread } from "node:worker_threads";
import { monitorEventLoopDelay, performance, PerformanceObserver, constants } from "node:perf_hooks";

if (isMainThread) {
  const file = process.env.LOOP_GAPS_FILE;
  const over = Number(process.env.LOOP_GAPS_MS ?? 20);
  const gcOver = Number(process.env.LOOP_GAPS_GC_MS ?? 5);
  const t0 = performance.now();
  const out = (o) => {
    const line = JSON.stringify({ pid: process.pid, t: Math.round(performance.now() - t0), ...o }) + "\n";
    if (file) appendFileSync(file, line);
    else writeSync(2, line);
  };
  const kinds = {
    [constants.NODE_PERFORMANCE_GC_MAJOR]: "major",
    [constants.NODE_PERFORMANCE_GC_MINOR]: "minor",
    [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: "incremental",
    [constants.NODE_PERFORMANCE_GC_WEAKCB]: "weakcb",
  };
  const gcMs = {};
  const gcCount = {};
  let gcMax = 0;
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = kinds[e.detail?.kind ?? e.kind] ?? String(e.detail?.kind);
      gcMs[kind] = (gcMs[kind] ?? 0) + e.duration;
      gcCount[kind] = (gcCount[kind] ?? 0) + 1;
      gcMax = Math.max(gcMax, e.duration);
      if (e.duration >= gcOver) out({ gc: kind, ms: +e.duration.toFixed(1), at: Math.round(e.startTime - t0) });
    }
  }).observe({ entryTypes: ["gc"] });

  const h = monitorEventLoopDelay({ resolution: 10 });
  h.enable();
  // Run and wait time of this thread in ns (fields 1 and 2 of schedstat), or undefined.
  let sched;
  try {
    sched = openSync("/proc/thread-self/schedstat", "r");
  } catch {}
  const buf = Buffer.alloc(128);
  const times = () => {
    if (sched === undefined) return undefined;
    const n = readSync(sched, buf, 0, buf.length, 0);
    const [run, wait] = buf.toString("latin1", 0, n).split(" ");
    return [Number(run), Number(wait)];
  };
  const gaps = [];
  const longTasks = [];
  let last = performance.now();
  let lastTimes = times();
  const tick = setInterval(() => {
    const now = performance.now();
    const gap = now - last - 2;
    const t = times();
    if (gap > over) {
      gaps.push(gap);
      const ran = t && lastTimes ? (t[0] - lastTimes[0]) / 1e6 : undefined;
      const waited = t && lastTimes ? (t[1] - lastTimes[1]) / 1e6 : undefined;
      if (ran !== undefined && ran > 50) longTasks.push(ran);
      out({ gap: +gap.toFixed(1), ran: ran === undefined ? undefined : +ran.toFixed(1), waited: waited === undefined ? undefined : +waited.toFixed(1) });
    }
    last = now;
    lastTimes = t;
  }, 2);
  tick.unref();

  process.once("exit", () => {
    h.disable();
    const ms = (ns) => +(ns / 1e6).toFixed(1);
    out({
      summary: true,
      gapsOver50: gaps.filter((g) => g > 50).length,
      gapsOver: gaps.length,
      longestGap: +Math.max(0, ...gaps).toFixed(1),
      longTasks: longTasks.length,
      longestTask: +Math.max(0, ...longTasks).toFixed(1),
      gcMs: Object.fromEntries(Object.entries(gcMs).map(([k, v]) => [k, +v.toFixed(1)])),
      gcCount,
      gcMax: +gcMax.toFixed(1),
      delay: { p50: ms(h.percentile(50)), p99: ms(h.percentile(99)), max: ms(h.max) },
    });
  });
}

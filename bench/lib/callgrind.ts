/**
 * Reading callgrind's counts for the instruction benches (bench/instructions.ts, bench/parts.ts
 * with PARTS_INSTR=1): dump files of one process, V8's optimising compiler left out, JIT code named
 * through V8's /tmp/perf-PID.map when the process ran with --perf-basic-prof.
 */
import { spawnSync } from "node:child_process";
import { readFileSync, readdirSync, rmSync } from "node:fs";
import path from "node:path";

/** V8's optimising compilers (TurboFan's graph phases, register allocation, their zones): warm-up work, not the request's. */
export const COMPILER = /v8::internal::compiler::|v8::internal::Zone|ZoneAllocator|LiveRange|RegisterAllocat|turboshaft|maglev::|OptimizedCompilationJob|PipelineCompilationJob|InstructionSelector|CodeGenerator|std::_Rb_tree/;

export interface Counts {
  total: number;
  compiler: number;
  /** Instructions by part of the chain (see partOf), when JIT code can be named. */
  parts: Map<string, number>;
}

/** V8's code map of a process started with --perf-basic-prof: [start, size, name] sorted by start. */
export function perfMap(pid: number): [number, number, string][] {
  try {
    return readFileSync(`/tmp/perf-${pid}.map`, "utf8")
      .split("\n")
      .filter(Boolean)
      .map((l) => {
        const [a, n, ...name] = l.split(" ");
        return [parseInt(a!, 16), parseInt(n!, 16), name.join(" ")] as [number, number, string];
      })
      .sort((x, y) => x[0] - y[0]);
  } catch {
    return [];
  }
}

function nameAt(map: [number, number, string][], addr: number): string | undefined {
  let lo = 0;
  let hi = map.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (map[mid]![0] <= addr) lo = mid + 1;
    else hi = mid - 1;
  }
  const e = map[hi];
  return e && addr < e[0] + e[1] ? e[2] : undefined;
}

/**
 * The part of the chain a function's instructions belong to: a gateway folder for its own JS,
 * the npm package or Node's JS for theirs, and for native code what it does (JSON, GC, the HTTP
 * parser). V8's builtins (property-access inline caches, string concatenation, calls) run on behalf
 * of whichever JS called them and are a row of their own.
 */
export function partOf(fn: string): string {
  if (COMPILER.test(fn)) return "V8 optimising compiler (warm-up; left out)";
  const js = /^JS:\S*\s+(\S+)/.exec(fn);
  if (js) {
    const url = js[1]!;
    const gw = /\/dist\/src\/(\w+)\//.exec(url);
    if (gw) return `gateway: src/${gw[1]}`;
    const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
    if (pkg) return `npm: ${pkg[1]}`;
    if (url.startsWith("node:")) return "Node's JS (http, net, streams, events, timers)";
    return "other JS";
  }
  if (/^RegExp:/.test(fn)) return "regular expressions (compiled)";
  if (/^Builtins?[_:]/.test(fn)) return "V8 builtins (inline caches, strings, calls)";
  if (/Scaveng|Heap::|heap::|Marking|MarkCompact|Sweep|Evacuat|IteratePointers|RootVisit|ObjectCache|Concurrent.*Mark/.test(fn)) return "V8 garbage collection";
  if (/Json(Parser|Stringifier)/.test(fn)) return "JSON.parse / JSON.stringify (native)";
  if (/llhttp/.test(fn)) return "llhttp (Node's HTTP parser)";
  if (/libc\.so|libstdc\+\+|ld-linux/.test(fn)) return "libc (memcpy, malloc, syscalls' user side)";
  if (/^0x/.test(fn)) return "unnamed code";
  return "V8 and Node native (runtime, strings, buffers, libuv)";
}

/**
 * Instructions (Ir) of every dump file of `pid` in `dir` not yet read, with the optimising
 * compiler's share (by function name, from callgrind_annotate) apart; the files are then removed
 * unless kept.
 */
export function collect(dir: string, pid: number, keep: boolean, tag: string): Counts {
  const c: Counts = { total: 0, compiler: 0, parts: new Map() };
  const map = perfMap(pid);
  for (const f of readdirSync(dir)) {
    if (!f.startsWith(`cg.${pid}`) || f.includes(".kept")) continue;
    const p = path.join(dir, f);
    // A dump's closing `totals:` line; its header's `summary:` reads 0 in dumps callgrind_control
    // asks for (valgrind 3.19), so it is only the fallback.
    const text = readFileSync(p, "utf8");
    const m = text.match(/^totals: (\d+)/m) ?? text.match(/^summary: (\d+)/m);
    if (m) c.total += Number(m[1]);
    const a = spawnSync("callgrind_annotate", ["--threshold=100", p], { encoding: "utf8", maxBuffer: 256 * 1024 * 1024 });
    for (const line of a.stdout.split("\n")) {
      const x = /^\s*([\d,]+) \(\s*[\d.]+%\)\s+(.*)$/.exec(line);
      if (!x || x[2]!.includes("PROGRAM TOTALS")) continue;
      const ir = Number(x[1]!.replace(/,/g, ""));
      if (COMPILER.test(x[2]!)) c.compiler += ir;
      const addr = /^\?\?\?:0x([0-9a-f]+) /.exec(x[2]!);
      const fn = addr ? (nameAt(map, parseInt(addr[1]!, 16)) ?? "0x") : x[2]!.replace(/^[^:]*:/, "");
      const part = partOf(fn);
      c.parts.set(part, (c.parts.get(part) ?? 0) + ir);
    }
    if (keep) spawnSync("mv", [p, `${p}.${tag}.kept`]);
    else rmSync(p);
  }
  return c;
}

export function control(pid: number, ...args: string[]): void {
  const r = spawnSync("callgrind_control", [...args, String(pid)], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`callgrind_control ${args.join(" ")}: ${r.stderr || r.stdout}`);
}


/**
 * Child processes for the benchmarks: spawn, wait until ready, stop by pid. Every child is
 * registered so that an error, Ctrl-C or a normal exit stops it; nothing is ever killed by name.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root (bench/lib/../..). */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");

const TAIL = 64 * 1024;

export interface Child {
  name: string;
  pid: number;
  proc: ChildProcess;
  /** Resolves with the exit code (or the signal name) once the process is gone. */
  exited: Promise<number | string>;
  readonly exitedWith: number | string | undefined;
  stdout(): string;
  stderr(): string;
  /** SIGTERM, then SIGKILL after graceMs; resolves once it is gone. */
  stop(graceMs?: number): Promise<void>;
}

const live = new Set<Child>();
let cleanupInstalled = false;

function installCleanup(): void {
  if (cleanupInstalled) return;
  cleanupInstalled = true;
  const onSignal = (sig: NodeJS.Signals) => {
    process.stderr.write(`bench: ${sig}: stopping ${live.size} child process(es)\n`);
    void stopAll().finally(() => process.exit(130));
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  // Last resort: a synchronous kill of whatever is still running.
  process.once("exit", () => {
    for (const c of live) {
      try {
        process.kill(c.pid, "SIGKILL");
      } catch {
        /* already gone */
      }
    }
  });
}

export function startChild(
  name: string,
  cmd: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Child {
  installCleanup();
  const proc = spawn(cmd, args, { cwd: opts.cwd ?? ROOT, env: opts.env ?? process.env, stdio: ["ignore", "pipe", "pipe"] });
  if (proc.pid === undefined) throw new Error(`${name}: could not spawn ${cmd}`);
  let out = "";
  let err = "";
  proc.stdout!.setEncoding("utf8").on("data", (d: string) => {
    out = (out + d).slice(-TAIL);
  });
  proc.stderr!.setEncoding("utf8").on("data", (d: string) => {
    err = (err + d).slice(-TAIL);
  });
  let exitedWith: number | string | undefined;
  const exited = new Promise<number | string>((resolve) => {
    proc.once("exit", (code, signal) => {
      exitedWith = code ?? signal ?? "unknown";
      live.delete(child);
      resolve(exitedWith);
    });
    proc.once("error", (e) => {
      exitedWith = `spawn error: ${e.message}`;
      live.delete(child);
      resolve(exitedWith);
    });
  });
  const child: Child = {
    name,
    pid: proc.pid,
    proc,
    exited,
    get exitedWith() {
      return exitedWith;
    },
    stdout: () => out,
    stderr: () => err,
    async stop(graceMs = 5000) {
      if (exitedWith !== undefined) return;
      try {
        process.kill(proc.pid!, "SIGTERM");
      } catch {
        return;
      }
      const t = setTimeout(() => {
        try {
          process.kill(proc.pid!, "SIGKILL");
        } catch {
          /* gone */
        }
      }, graceMs);
      await exited;
      clearTimeout(t);
    },
  };
  live.add(child);
  return child;
}

export async function stopAll(): Promise<void> {
  await Promise.all([...live].map((c) => c.stop(3000)));
}

/** Resolves with the first match of `re` in the child's stdout+stderr; rejects on exit or timeout. */
export function waitForOutput(child: Child, re: RegExp, timeoutMs = 20_000): Promise<RegExpMatchArray> {
  return new Promise((resolve, reject) => {
    const check = () => {
      const m = (child.stdout() + "\n" + child.stderr()).match(re);
      if (m) {
        done();
        resolve(m);
      }
    };
    const onExit = () => {
      done();
      reject(new Error(`${child.name} exited (${child.exitedWith}) before it was ready:\n${tail(child.stderr() || child.stdout())}`));
    };
    const t = setTimeout(() => {
      done();
      reject(new Error(`${child.name}: not ready after ${timeoutMs} ms:\n${tail(child.stderr() || child.stdout())}`));
    }, timeoutMs);
    const done = () => {
      clearTimeout(t);
      child.proc.stdout!.off("data", check);
      child.proc.stderr!.off("data", check);
      child.proc.off("exit", onExit);
    };
    child.proc.stdout!.on("data", check);
    child.proc.stderr!.on("data", check);
    child.proc.once("exit", onExit);
    check();
  });
}

/** Polls `url` until it answers 200; rejects if the child exits first or after timeoutMs. */
export async function waitForHttp200(child: Child, url: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < deadline) {
    if (child.exitedWith !== undefined) {
      throw new Error(`${child.name} exited (${child.exitedWith}) before ${url} answered 200:\n${tail(child.stderr() || child.stdout())}`);
    }
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(2000) });
      await r.arrayBuffer();
      if (r.status === 200) return;
      last = `HTTP ${r.status}`;
    } catch (e) {
      last = (e as Error).message;
    }
    await sleep(150);
  }
  throw new Error(`${child.name}: ${url} not 200 after ${timeoutMs} ms (last: ${last}):\n${tail(child.stderr())}`);
}

export function tail(s: string, lines = 15): string {
  return s.trimEnd().split("\n").slice(-lines).join("\n");
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** An ephemeral port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export function hasCommand(cmd: string): string | undefined {
  const r = spawnSync("sh", ["-c", `command -v ${cmd}`], { encoding: "utf8" });
  const p = r.stdout.trim();
  if (r.status === 0 && p) return p;
  for (const dir of ["/usr/sbin", "/usr/local/sbin", "/sbin"]) {
    const q = path.join(dir, cmd);
    if (spawnSync("test", ["-x", q]).status === 0) return q;
  }
  return undefined;
}

/** Environment for children: no API keys, no OTLP export, so runs are comparable. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(OTEL_|KT_|OPENLLM_|OPENAI_)/.test(k)) continue;
    if (/(API_KEY|_TOKEN|SECRET)/i.test(k)) continue;
    env[k] = v;
  }
  return { ...env, ...extra };
}

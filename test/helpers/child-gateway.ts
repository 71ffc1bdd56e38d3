import { spawn, type ChildProcess } from "node:child_process";
import net from "node:net";
import { fileURLToPath } from "node:url";

export const KT_BIN = fileURLToPath(new URL("../../bin/kt.mjs", import.meta.url));

export async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

export interface ChildGateway {
  url: string;
  proc: ChildProcess;
  stderr(): string;
  /** Sends a signal and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** `kt gateway run` as a real child process, resolved once /readyz answers. */
export async function startChildGateway(configPath: string, env: Record<string, string> = {}, extraArgs: string[] = [], onSpawn?: (proc: ChildProcess) => Promise<void>): Promise<ChildGateway> {
  const port = await freePort();
  // No load balancer in tests: drain at once unless a test asks for the delay.
  const delay = extraArgs.includes("--drain-delay-seconds") ? [] : ["--drain-delay-seconds", "0"];
  const proc = spawn(process.execPath, [KT_BIN, "gateway", "run", "--listen", `127.0.0.1:${port}`, "--policy-config", configPath, ...delay, ...extraArgs], {
    env: { ...process.env, KT_LOG_LEVEL: "info", KT_FROM_SOURCE: "1", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let err = "";
  proc.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  proc.stdout!.resume();
  const exited = new Promise<number | null>((resolve) => proc.once("exit", (code) => resolve(code)));
  await onSpawn?.(proc);
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`gateway exited with ${proc.exitCode}: ${err}`);
    try {
      const r = await fetch(`${url}/healthz`);
      if (r.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      proc.kill("SIGKILL");
      throw new Error(`gateway did not start: ${err}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    proc,
    stderr: () => err,
    stop: async (signal = "SIGTERM") => {
      if (proc.exitCode === null) proc.kill(signal);
      return exited;
    },
  };
}

/** Runs `kt ARGS…` to completion. */
export function runKt(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [KT_BIN, ...args], { env: { ...process.env, KT_FROM_SOURCE: "1", ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    p.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
    p.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    p.once("exit", (code) => resolve({ code, stdout, stderr }));
  });
}

import { spawn, type ChildProcess } from "node:child_process";
import net from "node:net";
import { freePort } from "./child-gateway.js";

export interface RedisProcess {
  url: string;
  port: number;
  proc: ChildProcess;
  /** SIGKILL, as a crash: nothing is flushed (nothing is persisted anyway). */
  kill(): Promise<void>;
}

/**
 * A real redis-server on a free loopback port, nothing persisted. (`--port 0` means "no TCP" to
 * redis, so a free port is found first by binding port 0.)
 */
export async function startRedis(): Promise<RedisProcess> {
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const proc = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--protected-mode", "yes"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    proc.stdout!.on("data", (d: Buffer) => (out += d.toString()));
    proc.stderr!.on("data", (d: Buffer) => (out += d.toString()));
    const exited = new Promise<void>((r) => proc.once("exit", () => r()));
    const ok = await waitForPort(port, proc, 10_000);
    if (ok)
      return {
        url: `redis://127.0.0.1:${port}`,
        port,
        proc,
        async kill() {
          if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
          await exited;
        },
      };
    proc.kill("SIGKILL");
    // Another process took the port between our probe and redis's bind: try another one.
    if (attempt >= 3) throw new Error(`redis-server did not start: ${out}`);
  }
}

async function waitForPort(port: number, proc: ChildProcess, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) return false;
    const up = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, "127.0.0.1");
      s.once("connect", () => {
        s.write("PING\r\n");
        s.once("data", (d) => {
          s.destroy();
          resolve(d.toString().startsWith("+PONG"));
        });
      });
      s.once("error", () => resolve(false));
    });
    if (up) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

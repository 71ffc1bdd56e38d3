import { existsSync, mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import { afterAll, describe, expect, it } from "vitest";
import { startFakeOpenLLM, type FakeOpenLLM } from "../fixtures/fake-openllm.js";
import { spawn } from "node:child_process";
import { KT_BIN, freePort, runKt, startChildGateway, type ChildGateway } from "../helpers/child-gateway.js";
import { MODEL } from "../helpers/harness.js";

describe("kt gateway run --workers 2", () => {
  let fake: FakeOpenLLM;
  let gw: ChildGateway | undefined;
  afterAll(async () => {
    await gw?.stop("SIGKILL");
    await fake?.close();
  });

  it("serves from several processes on one port, each with its own verifiable audit chain, and drains on SIGTERM", async () => {
    fake = await startFakeOpenLLM();
    const dir = mkdtempSync(join(tmpdir(), "kt-workers-"));
    const audit = join(dir, "audit");
    writeFileSync(
      join(dir, "policy-config.yaml"),
      `pack: { name: workers, version: 1.0.0 }
providers:
  targets:
    - { id: t, provider: "openllm:chat:llama3:8b-instruct", model: ${MODEL}, base_url: "${fake.url}" }
policies:
  chain: [audit-logger]
policy:
  audit-logger: { path: "${audit}" }
`,
    );
    gw = await startChildGateway(join(dir, "policy-config.yaml"), {}, ["--workers", "2"]);
    // Fresh connections so the primary's round robin reaches both workers.
    for (let i = 0; i < 20; i++) {
      const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: "x", maxRetries: 0, fetchOptions: { keepalive: false } as any });
      const r = await client.chat.completions.create({ model: "t", messages: [{ role: "user", content: `n${i}` }] });
      expect(r.choices[0]!.message.content).toBe(`You said: n${i}`);
    }
    const code = await gw.stop("SIGTERM");
    expect(code, gw.stderr()).toBe(0);
    const workers = readdirSync(audit).filter((d) => d.startsWith("worker-"));
    expect(workers.length).toBeGreaterThanOrEqual(1);
    let records = 0;
    for (const w of workers) {
      const v = await runKt(["audit", "verify", "--path", join(audit, w)]);
      expect(v.code, v.stdout + v.stderr).toBe(0);
      const m = /(\d+) records?/.exec(v.stdout);
      records += m ? Number(m[1]) : 0;
    }
    expect(records).toBe(20);
    expect(existsSync(join(audit, "worker-1")) || existsSync(join(audit, "worker-2"))).toBe(true);
  }, 60_000);

  // SIGTERM while the workers are still loading (before any listens: they have no handler yet and
  // die of the signal). Nothing was in flight, so the primary must call it a clean stop (exit 0),
  // not a failed drain: a deployment stopped during start-up is not an error.
  it("exits 0 on SIGTERM that arrives while its workers are still starting", async () => {
    fake ??= await startFakeOpenLLM();
    const dir = mkdtempSync(join(tmpdir(), "kt-workers-early-"));
    writeFileSync(
      join(dir, "policy-config.yaml"),
      `providers:
  targets:
    - { id: t, provider: "openllm:chat:llama3:8b-instruct", model: ${MODEL}, base_url: "${fake.url}" }
`,
    );
    const port = await freePort();
    const proc = spawn(process.execPath, [KT_BIN, "gateway", "run", "--listen", `127.0.0.1:${port}`, "--policy-config", join(dir, "policy-config.yaml"), "--drain-delay-seconds", "0", "--workers", "2"], {
      env: { ...process.env, KT_LOG_LEVEL: "info", KT_FROM_SOURCE: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let err = "";
    const exited = new Promise<number | null>((resolve) => proc.once("exit", (code) => resolve(code)));
    await new Promise<void>((resolve) => {
      proc.stderr!.on("data", (d: Buffer) => {
        err += d.toString();
        if (err.includes("workers starting")) resolve();
      });
      proc.stdout!.on("data", (d: Buffer) => {
        err += d.toString();
        if (err.includes("workers starting")) resolve();
      });
    });
    proc.kill("SIGTERM");
    expect(await exited, err).toBe(0);
  }, 60_000);
});

import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { AuditLog, AuditLogLockedError, LOCK_FILE, verifyAuditLog } from "../../src/audit/index.js";
import { startFakeOpenLLM } from "../fixtures/fake-openllm.js";
import { KT_BIN, startChildGateway, freePort } from "../helpers/child-gateway.js";
import { sampleRecord } from "./fixtures/sample-record.js";

describe("one writer per audit log", () => {
  it("a second writer is refused while the first holds the log, and gets it once released", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kt-lock-"));
    const first = await AuditLog.open({ path: dir, pruneIntervalMs: 0 });
    const err = await AuditLog.open({ path: dir, pruneIntervalMs: 0 }).catch((e) => e);
    expect(err).toBeInstanceOf(AuditLogLockedError);
    expect(String(err.message)).toContain(`pid ${process.pid}`);
    await first.append(sampleRecord(1));
    await first.close();
    const second = await AuditLog.open({ path: dir, pruneIntervalMs: 0 });
    expect(await second.append(sampleRecord(2))).toBe(2);
    await second.close();
    expect(await verifyAuditLog(dir)).toMatchObject({ ok: true, lastSeq: 2 });
  });

  it("a lock left by a process that is gone (or whose pid now names another process) is taken over", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kt-lock-stale-"));
    // A dead pid: a child that has exited.
    const child = spawn(process.execPath, ["-e", ""]);
    const deadPid = await new Promise<number>((r) => child.once("exit", () => r(child.pid!)));
    writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: deadPid, host: (await import("node:os")).hostname(), since: new Date().toISOString(), token: "dead" }));
    const a = await AuditLog.open({ path: dir, pruneIntervalMs: 0 });
    await a.close();
    // Our own pid but another start time: the pid was reused.
    writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: process.pid, host: (await import("node:os")).hostname(), startTicks: "1", since: new Date().toISOString(), token: "reused" }));
    const b = await AuditLog.open({ path: dir, pruneIntervalMs: 0 });
    expect(JSON.parse(readFileSync(join(dir, LOCK_FILE), "utf8")).pid).toBe(process.pid);
    await b.close();
  });

  it("a second gateway on the same path exits non-zero before serving, naming the holder's pid", async () => {
    const fake = await startFakeOpenLLM();
    const dir = mkdtempSync(join(tmpdir(), "kt-lock-gw-"));
    const cfg = join(dir, "policy-config.yaml");
    writeFileSync(
      cfg,
      `providers:
  targets:
    - { id: t, provider: "openllm:chat:llama3:8b-instruct", base_url: "${fake.url}" }
policies:
  chain: [audit-logger]
policy:
  audit-logger: { path: "${dir}/audit" }
`,
    );
    const gw = await startChildGateway(cfg);
    try {
      const port = await freePort();
      const second = spawn(process.execPath, [KT_BIN, "gateway", "run", "--listen", `127.0.0.1:${port}`, "--policy-config", cfg], { stdio: ["ignore", "pipe", "pipe"] });
      let stderr = "";
      second.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
      const code = await new Promise<number | null>((r) => second.once("exit", (c) => r(c)));
      expect(code).not.toBe(0);
      expect(stderr).toContain(`pid ${gw.proc.pid}`);
      // It never listened.
      await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();
    } finally {
      await gw.stop("SIGTERM");
      await fake.close();
    }
  }, 90_000);
});

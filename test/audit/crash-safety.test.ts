import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { AuditLog, queryAuditLog, verifyAuditLog } from "../../src/audit/index.js";
import { sampleRecord } from "./fixtures/sample-record.js";

const fixture = fileURLToPath(new URL("./fixtures/append-loop.ts", import.meta.url));

/**
 * Runs the writer in its own process (node with the tsx loader, so the SIGKILL hits the process
 * that holds the file, not a wrapper), kills it mid-load, and checks the acknowledgement contract:
 * every seq it reported as appended is in the log, and the log verifies.
 */
async function appendThenKill(dir: string, killAfterAcks: number): Promise<number[]> {
  const child = spawn(process.execPath, ["--import", "tsx", fixture, dir, String(16 * 1024)], {
    cwd: fileURLToPath(new URL("../..", import.meta.url)),
    stdio: ["ignore", "pipe", "pipe"],
  });
  const acked: number[] = [];
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  let buf = "";
  await new Promise<void>((resolve, reject) => {
    child.on("exit", () => resolve());
    child.on("error", reject);
    child.stdout.on("data", (d: Buffer) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.startsWith("ack ")) acked.push(Number(line.slice(4)));
        if (acked.length === killAfterAcks) child.kill("SIGKILL");
      }
    });
  });
  expect(child.signalCode, stderr).toBe("SIGKILL");
  return acked;
}

describe("audit log crash safety", () => {
  it("keeps every acknowledged record through SIGKILL mid-load, twice, and recovers the chain", async () => {
    const dir = await mkdtemp(join(tmpdir(), "kt-audit-crash-"));
    try {
      for (let round = 0; round < 2; round++) {
        const acked = await appendThenKill(dir, 3000);
        expect(acked.length).toBeGreaterThanOrEqual(3000);
        const v = await verifyAuditLog(dir);
        expect(v.ok, JSON.stringify(v)).toBe(true);
        if (!v.ok) return;
        // Seq continuity plus the chain means: present iff <= lastSeq.
        expect(Math.max(...acked)).toBeLessThanOrEqual(v.lastSeq);
        const present = new Set<number>();
        let token: string | undefined;
        do {
          const page = await queryAuditLog(dir, { pageSize: 1000, pageToken: token });
          for (const e of page.events) present.add(e.seq);
          token = page.nextPageToken;
        } while (token);
        for (const seq of acked) expect(present.has(seq)).toBe(true);
      }
      // Reopen: a torn tail is cut off and the chain goes on.
      const log = await AuditLog.open({ path: dir, segment_bytes: 16 * 1024, pruneIntervalMs: 0 });
      const before = log.lastSeq;
      expect(await log.append(sampleRecord(1))).toBe(before + 1);
      await log.close();
      expect(await verifyAuditLog(dir)).toMatchObject({ ok: true, lastSeq: before + 1, tornTail: false });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

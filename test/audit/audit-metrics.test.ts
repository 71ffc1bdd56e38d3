import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { AuditLog } from "../../src/audit/index.js";
import { registry } from "../../src/telemetry/index.js";
import { sampleRecord } from "./fixtures/sample-record.js";

/** The value of one unlabelled sample in the registry's exposition, or undefined. */
async function sample(name: string): Promise<number | undefined> {
  const text = await registry.metrics();
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.split(" ")[1]);
}

describe("audit log metrics", () => {
  it("counts bytes written and fdatasync latency, and reports queue depth at scrape time", async () => {
    const dir = await mkdtemp(join(tmpdir(), "kt-audit-metrics-"));
    try {
      const bytesBefore = (await sample("kt_audit_bytes_written_total")) ?? 0;
      const syncsBefore = (await sample("kt_audit_fsync_duration_seconds_count")) ?? 0;
      const log = await AuditLog.open({ path: dir, pruneIntervalMs: 0 });
      const pending = Promise.all(Array.from({ length: 20 }, (_, i) => log.append(sampleRecord(i))));
      // Accepted and not yet durable: the queue is non-empty before the commit window passes.
      expect(await sample("kt_audit_queue_depth")).toBeGreaterThan(0);
      await pending;
      expect(await sample("kt_audit_queue_depth")).toBe(0);
      expect((await sample("kt_audit_bytes_written_total"))! - bytesBefore).toBeGreaterThan(20 * 100);
      expect((await sample("kt_audit_fsync_duration_seconds_count"))! - syncsBefore).toBeGreaterThanOrEqual(1);
      await log.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

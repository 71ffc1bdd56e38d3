/**
 * A log that cannot be written: the disk is full. The active segment is a symlink to /dev/full,
 * where every write fails with ENOSPC as on a full disk, so the real write path fails, not a stub.
 */
import { existsSync, mkdirSync, symlinkSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code, ConnectError, createKeeptrustsClient } from "../../clients/typescript/src/index.js";
import { AuditLog } from "../../src/audit/index.js";
import { segmentName } from "../../src/audit/segment-files.js";
import { MODEL, startStack, type Stack } from "../helpers/harness.js";
import { sampleRecord } from "./fixtures/sample-record.js";

const fullDisk = existsSync("/dev/full");

function fullDiskLog(dir: string): void {
  mkdirSync(dir, { recursive: true });
  symlinkSync("/dev/full", join(dir, segmentName(1)));
}

describe.skipIf(!fullDisk)("audit log on a full disk", () => {
  it("rejects the append, then refuses every later one, naming the cause", async () => {
    const dir = await mkdtemp(join(tmpdir(), "kt-audit-full-"));
    try {
      fullDiskLog(dir);
      const log = await AuditLog.open({ path: dir, pruneIntervalMs: 0 });
      const results = await Promise.allSettled([log.append(sampleRecord(1)), log.append(sampleRecord(2))]);
      expect(results.map((r) => r.status)).toEqual(["rejected", "rejected"]);
      expect(String((results[0] as PromiseRejectedResult).reason)).toMatch(/ENOSPC/);
      expect(log.failed?.message).toMatch(/ENOSPC/);
      await expect(log.append(sampleRecord(3))).rejects.toThrow(/audit log failed: .*ENOSPC/);
      // flush and close still return: nothing waits forever on a dead log.
      await log.flush();
      await log.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  describe("through the gateway", () => {
    let stack: Stack;
    beforeAll(async () => {
      stack = await startStack((url, dir) => {
        fullDiskLog(join(dir, "audit"));
        return `providers:
  targets:
    - { id: t, provider: "openllm:chat:llama3:8b-instruct", model: ${MODEL}, base_url: "${url}" }
policies:
  chain: [audit-logger]
policy:
  audit-logger: { path: "${dir}/audit" }
`;
      });
    });
    afterAll(() => stack.close());

    it("fails closed: once a record could not be written, both front doors refuse with 503 / UNAVAILABLE", async () => {
      const client = stack.openai();
      // The first answer waits for its record's write, which fails: it is not answered either, since
      // an answer must never leave without its record in the file.
      const first = await client.chat.completions.create({ model: "t", messages: [{ role: "user", content: "hello" }] }).catch((e) => e);
      expect(first).toBeInstanceOf(OpenAI.APIError);
      expect(first.status).toBe(503);
      expect(first.error).toMatchObject({ code: "audit_log_unavailable" });
      const deadline = Date.now() + 5000;
      while (!stack.services.auditLog()?.failed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      expect(stack.services.auditLog()?.failed?.message).toMatch(/ENOSPC/);

      const upstreamBefore = stack.fake.requests.length;
      const refused = await client.chat.completions.create({ model: "t", messages: [{ role: "user", content: "my email is a@b.example" }] }).catch((e) => e);
      expect(refused).toBeInstanceOf(OpenAI.APIError);
      expect(refused.status).toBe(503);
      expect(refused.error).toMatchObject({ type: "service_unavailable", code: "audit_log_unavailable" });
      expect(JSON.stringify(refused.error)).not.toContain("a@b.example");

      const kt = createKeeptrustsClient({ baseUrl: stack.url, protocol: "grpc" });
      const rpc = await kt.chat.createChatCompletion({ model: "t", messages: [{ role: "user", content: "hello" }] }).catch((e) => e);
      expect(rpc).toBeInstanceOf(ConnectError);
      expect((rpc as ConnectError).code).toBe(Code.Unavailable);
      // Refused before any model call: nothing unrecorded reached the upstream.
      expect(stack.fake.requests.length).toBe(upstreamBefore);
    });
  });
});

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

  // A call refused before the pipeline (its body unreadable) whose refusal record is the write that
  // fails: it is answered 503 / UNAVAILABLE in its own protocol, as every call is while the log is
  // failed. Before, the RPC front door never answered it (the client waited for ever) and the
  // OpenAI route answered a bare 500 internal_error.
  describe.each(["openai", "connect", "grpc-web", "grpc"] as const)("a refusal whose record cannot be written, %s", (door) => {
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

    /** A garbage protobuf message (field 31, wire type 7: undecodable) in one gRPC envelope. */
    const garbage = Buffer.from([0, 0, 0, 0, 3, 0xff, 0xff, 0xff]);
    const rpcPath = "/keeptrusts.v1.ChatService/CreateChatCompletion";

    async function send(): Promise<{ status: number; body: string; grpcStatus?: string }> {
      const signal = AbortSignal.timeout(10_000);
      if (door === "openai") {
        const r = await fetch(`${stack.url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: "{not json", signal });
        return { status: r.status, body: await r.text() };
      }
      if (door === "connect") {
        const r = await fetch(`${stack.url}${rpcPath}`, { method: "POST", headers: { "content-type": "application/json" }, body: "{not json", signal });
        return { status: r.status, body: await r.text() };
      }
      if (door === "grpc-web") {
        const r = await fetch(`${stack.url}${rpcPath}`, { method: "POST", headers: { "content-type": "application/grpc-web+proto" }, body: garbage, signal });
        const body = Buffer.from(await r.arrayBuffer()).toString("latin1");
        return { status: r.status, body, grpcStatus: /grpc-status:\s*(\d+)/.exec(body)?.[1] };
      }
      const { connect } = await import("node:http2");
      const session = connect(stack.url);
      try {
        return await new Promise((resolve, reject) => {
          const req = session.request({ ":method": "POST", ":path": rpcPath, "content-type": "application/grpc+proto", te: "trailers" });
          let status = 0;
          let grpcStatus: string | undefined;
          req.on("response", (h) => {
            status = Number(h[":status"]);
            if (h["grpc-status"] !== undefined) grpcStatus = String(h["grpc-status"]);
          });
          req.on("trailers", (t) => (grpcStatus = String(t["grpc-status"])));
          req.on("data", () => {});
          req.on("end", () => resolve({ status, body: "", grpcStatus }));
          req.on("error", reject);
          signal.addEventListener("abort", () => reject(new Error("no answer in 10 s")));
          req.end(garbage);
        });
      } finally {
        session.destroy();
      }
    }

    it("is answered UNAVAILABLE / 503 audit_log_unavailable, never left open", async () => {
      const got = await send();
      if (door === "openai") {
        expect(got.status).toBe(503);
        expect(JSON.parse(got.body).error).toMatchObject({ type: "service_unavailable", code: "audit_log_unavailable" });
      } else if (door === "connect") {
        expect(got.status).toBe(503);
        expect(JSON.parse(got.body)).toMatchObject({ code: "unavailable" });
      } else {
        expect(got.status).toBe(200);
        expect(got.grpcStatus).toBe(String(Code.Unavailable));
      }
      expect(stack.services.auditLog()?.failed?.message).toMatch(/ENOSPC/);
      // The client's bytes are not echoed back.
      expect(got.body).not.toContain("not json");
      expect(stack.fake.requests.length).toBe(0);
    });
  });
});

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
import { createConnectTransport } from "@connectrpc/connect-node";
import { bearerAuth, Code, ConnectError, createKeeptrustsClient, keeptrustsClientFromTransport } from "../../clients/typescript/src/index.js";
import { AuditLog } from "../../src/audit/index.js";
import { segmentName } from "../../src/audit/segment-files.js";
import { sha256Hex } from "../../src/config/index.js";
import { MODEL, startStack, type Stack } from "../helpers/harness.js";
import { sampleRecord } from "./fixtures/sample-record.js";

const fullDisk = existsSync("/dev/full");

function fullDiskLog(dir: string): void {
  mkdirSync(dir, { recursive: true });
  symlinkSync("/dev/full", join(dir, segmentName(1)));
}


/** A gateway with one target whose audit log sits on a full disk (its first write fails). */
function fullDiskStack(): Promise<Stack> {
  return startStack((url, dir) => {
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
      stack = await fullDiskStack();
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
      stack = await fullDiskStack();
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
  // Once the log has failed, a call refused on its credentials (no key, a wrong one, a scope it
  // lacks) is answered as every other call is, 503 audit_log_unavailable / UNAVAILABLE, on every
  // protocol: its refusal cannot be recorded, so it is not sent. Before, these were answered
  // 401/403 (UNAUTHENTICATED / PERMISSION_DENIED) and written nowhere.
  describe("refusals on credentials once the log has failed", () => {
    let stack: Stack;
    beforeAll(async () => {
      stack = await startStack((url, dir) => {
        fullDiskLog(join(dir, "audit"));
        return `auth:
  api_keys:
    - { id: app, sha256: ${sha256Hex("kt-app")} }
providers:
  targets:
    - { id: t, provider: "openllm:chat:llama3:8b-instruct", model: ${MODEL}, base_url: "${url}" }
policies:
  chain: [audit-logger]
policy:
  audit-logger: { path: "${dir}/audit" }
`;
      });
      // An admitted call: its record is the write that fails.
      const first = await stack.openai({ apiKey: "kt-app" }).chat.completions.create({ model: "t", messages: [{ role: "user", content: "hello" }] }).catch((e: unknown) => e);
      expect((first as InstanceType<typeof OpenAI.APIError>).status).toBe(503);
      expect(stack.services.auditLog()?.failed?.message).toMatch(/ENOSPC/);
    });
    afterAll(() => stack.close());

    const chat = { model: "t", messages: [{ role: "user", content: "hello" }] };

    it.each([
      ["a wrong key", "kt-wrong"],
      ["no key", undefined],
    ] as const)("the OpenAI routes answer %s 503 audit_log_unavailable", async (_, apiKey) => {
      const headers: Record<string, string> = { "content-type": "application/json" };
      if (apiKey) headers.authorization = `Bearer ${apiKey}`;
      for (const [method, path] of [["POST", "/v1/chat/completions"], ["POST", "/v1/completions"], ["GET", "/v1/models"], ["GET", "/v1/models/t"]] as const) {
        const r = await fetch(`${stack.url}${path}`, { method, headers, body: method === "POST" ? JSON.stringify(chat) : undefined, signal: AbortSignal.timeout(10_000) });
        expect([path, r.status]).toEqual([path, 503]);
        expect(((await r.json()) as { error: unknown }).error).toMatchObject({ type: "service_unavailable", code: "audit_log_unavailable" });
      }
    });

    type Call = (kt: ReturnType<typeof createKeeptrustsClient>) => Promise<unknown>;
    const calls: [string, Call][] = [
      ["unary", (kt) => kt.chat.createChatCompletion(chat)],
      [
        "server-streamed",
        async (kt) => {
          for await (const _ of kt.chat.streamChatCompletion(chat));
        },
      ],
      ["ListModels", (kt) => kt.chat.listModels({})],
      ["a Governance call with a chat-only key", (kt) => kt.governance.listTargets({})],
    ];
    const doors = [
      ["connect", (apiKey?: string) => createKeeptrustsClient({ baseUrl: stack.url, protocol: "connect", apiKey })],
      ["connect+json", (apiKey?: string) => createKeeptrustsClient({ baseUrl: stack.url, protocol: "connect", useBinaryFormat: false, apiKey })],
      ["connect GET", (apiKey?: string) => keeptrustsClientFromTransport(createConnectTransport({ baseUrl: stack.url, httpVersion: "1.1", useHttpGet: true, interceptors: apiKey ? [bearerAuth(apiKey)] : [] }))],
      ["grpc-web", (apiKey?: string) => createKeeptrustsClient({ baseUrl: stack.url, protocol: "grpc-web", apiKey })],
      ["grpc", (apiKey?: string) => createKeeptrustsClient({ baseUrl: stack.url, protocol: "grpc", apiKey })],
    ] as const;

    it.each(doors)("%s answers every refusal UNAVAILABLE (audit_log_unavailable), not UNAUTHENTICATED / PERMISSION_DENIED", async (_, client) => {
      for (const apiKey of ["kt-wrong", undefined, "kt-app"]) {
        const kt = client(apiKey);
        for (const [label, call] of calls) {
          // The chat key is admitted to ChatService: the pipeline refuses its chat (UNAVAILABLE
          // already before); listing models is never recorded, so it is served.
          if (apiKey === "kt-app" && label === "ListModels") continue;
          const err = await call(kt).then(
            () => undefined,
            (e: unknown) => ConnectError.from(e),
          );
          expect([apiKey, label, err?.code, err?.metadata.get("x-kt-error-code")]).toEqual([apiKey, label, Code.Unavailable, "audit_log_unavailable"]);
        }
      }
      // Only the first, admitted call (before the log failed) reached the model.
      expect(stack.fake.requests.length).toBe(1);
    });
  });

  // A Connect GET (a read-only RPC, its message in the query) refused before any handler, whose
  // refusal record is the write that fails: 503 unavailable, as the same call sent as a POST gets.
  // Before, the handler ran again on the same query, failed to decode it again, and Connect's own
  // error (400 invalid_argument, 500 internal) went out unrecorded.
  describe.each([
    ["a message that is not JSON", "encoding=json&message=%7Bnot-json"],
    ["a protobuf message that cannot be decoded", "encoding=proto&base64=1&message=__8"],
  ])("a Connect GET with %s, whose refusal cannot be recorded", (_, query) => {
    let stack: Stack;
    beforeAll(async () => {
      stack = await fullDiskStack();
    });
    afterAll(() => stack.close());

    it("is answered 503 unavailable (audit_log_unavailable)", async () => {
      const r = await fetch(`${stack.url}/keeptrusts.v1.ChatService/ListModels?connect=v1&${query}`, { signal: AbortSignal.timeout(10_000) });
      const body = await r.text();
      expect(r.status).toBe(503);
      expect(JSON.parse(body)).toMatchObject({ code: "unavailable" });
      expect(r.headers.get("x-kt-error-code")).toBe("audit_log_unavailable");
      expect(stack.services.auditLog()?.failed?.message).toMatch(/ENOSPC/);
      expect(body).not.toContain("not-json");
    });
  });
});

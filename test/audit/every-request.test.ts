/**
 * Every request leaves a record, whatever its fate, with the principal when one is known and a
 * fingerprint (never the key) when it is not; and the record is in the log's file before the
 * answer arrives, so these checks read the files without flushing first.
 */
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code, ConnectError, createKeeptrustsClient } from "../../clients/typescript/src/index.js";
import { queryAuditLog, type StoredAuditRecord } from "../../src/audit/index.js";
import { sha256Hex } from "../../src/config/index.js";
import { MODEL, startStack, type Stack } from "../helpers/harness.js";

describe("every request leaves a record", () => {
  let stack: Stack;
  let dir: string;
  beforeAll(async () => {
    stack = await startStack(
      (url, d) => `auth:
  api_keys:
    - { id: team-a, sha256: ${sha256Hex("kt-team-a")}, scopes: [chat] }
    - { id: ops, sha256: ${sha256Hex("kt-ops")}, scopes: [admin] }
providers:
  targets:
    - { id: t, provider: "openllm:chat:llama3:8b-instruct", model: ${MODEL}, base_url: "${url}" }
streaming: { mode: incremental }
policies:
  chain: [guard, audit-logger]
policy:
  guard:
    rules:
      - { type: pii_detection, id: no-zebras, action: block, apply_to: response, patterns: [{ name: zebra, regex: "zebra" }] }
  audit-logger: { path: "${d}/audit", auth_failure_window_seconds: 1 }
`,
    );
    dir = `${stack.dir}/audit`;
  });
  afterAll(() => stack.close());

  /** Records as they are in the files now: no flush, so only what was written before the answer. */
  async function records(): Promise<StoredAuditRecord[]> {
    return (await queryAuditLog(dir, { pageSize: 1000 })).events;
  }
  async function last(): Promise<StoredAuditRecord> {
    return (await records()).at(-1)!;
  }
  const post = (body: string, headers: Record<string, string> = {}) =>
    fetch(`${stack.url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body });

  it("a missing API key (HTTP): unauthenticated, credential none, the client address", async () => {
    const r = await post(JSON.stringify({ model: "t", messages: [{ role: "user", content: "hi" }] }));
    expect(r.status).toBe(401);
    expect(await last()).toMatchObject({
      principal: "unauthenticated",
      credential: "none",
      clientAddress: "127.0.0.1",
      outcome: "error",
      errorCode: "KT_ERR_UNAUTHENTICATED",
      httpStatus: 401,
      operation: "chat",
      frontDoor: "openai",
    });
  });

  it("a wrong API key (HTTP): a keyed fingerprint, never the key", async () => {
    // A fresh window: the previous test's refusal from this address was the window's first.
    await new Promise((r) => setTimeout(r, 1300));
    const before = (await records()).length;
    const wrong = "sk-wrong-key-0123456789";
    const e = await stack.openai({ apiKey: wrong }).chat.completions.create({ model: "t", messages: [{ role: "user", content: "hi" }] }).catch((x) => x);
    expect(e).toBeInstanceOf(OpenAI.AuthenticationError);
    const all = await records();
    // The previous window's aggregate may be written meanwhile; this refusal is a record of its own.
    const rec = all.slice(before).find((r) => r.count === undefined)!;
    expect(rec).toMatchObject({ principal: "unauthenticated", errorCode: "KT_ERR_UNAUTHENTICATED" });
    expect(rec.credential).toMatch(/^hmac:[0-9a-f]{16}$/);
    expect(JSON.stringify(all)).not.toContain(wrong);
    expect(JSON.stringify(all)).not.toContain(sha256Hex(wrong));
  });

  it("a key without the chat scope (HTTP): the principal is named", async () => {
    const e = await stack.openai({ apiKey: "kt-ops" }).chat.completions.create({ model: "t", messages: [{ role: "user", content: "hi" }] }).catch((x) => x);
    expect(e).toBeInstanceOf(OpenAI.PermissionDeniedError);
    expect(await last()).toMatchObject({ principal: "ops", errorCode: "KT_ERR_FORBIDDEN", httpStatus: 403 });
  });

  it("malformed JSON, an invalid request and an unknown model, with the principal", async () => {
    const auth = { authorization: "Bearer kt-team-a" };
    expect((await post("{not json", auth)).status).toBe(400);
    expect(await last()).toMatchObject({ principal: "team-a", errorCode: "KT_ERR_MALFORMED_JSON", httpStatus: 400 });
    expect((await post(JSON.stringify({ model: "t" }), auth)).status).toBe(400);
    expect(await last()).toMatchObject({ principal: "team-a", errorCode: "KT_ERR_INVALID_REQUEST" });
    expect((await post(JSON.stringify({ model: "nope", messages: [{ role: "user", content: "x" }] }), auth)).status).toBe(404);
    // A model that names no target is recorded as a bounded placeholder with a hash, never verbatim (#13).
    expect(await last()).toMatchObject({ principal: "team-a", errorCode: "KT_ERR_UNKNOWN_MODEL", model: expect.stringMatching(/^unknown-model:[0-9a-f]{16}$/) });
  });

  it("an upstream fault", async () => {
    stack.fake.setBehavior("status-500");
    try {
      const e = await stack.openai({ apiKey: "kt-team-a" }).chat.completions.create({ model: "t", messages: [{ role: "user", content: "hi" }] }).catch((x) => x);
      expect(e).toBeInstanceOf(OpenAI.APIError);
      expect(await last()).toMatchObject({ principal: "team-a", outcome: "error", target: "t", httpStatus: e.status });
    } finally {
      stack.fake.setBehavior("normal");
    }
  });

  it("a block in the middle of a stream is recorded with the status the client saw (200) and the event", async () => {
    const stream = await stack.openai({ apiKey: "kt-team-a" }).chat.completions.create({
      model: "t",
      stream: true,
      messages: [{ role: "user", content: "one two three four five six seven eight nine ten zebra" }],
    });
    let text = "";
    const err = await (async () => {
      for await (const c of stream) text += c.choices[0]?.delta?.content ?? "";
    })().catch((x) => x);
    expect(text).toContain("You said");
    expect(err).toBeInstanceOf(Error);
    expect(await last()).toMatchObject({
      principal: "team-a",
      outcome: "blocked",
      errorCode: "KT_ERR_POLICY_BLOCKED",
      httpStatus: 200,
      decision: "block",
      rulesFired: ["guard/no-zebras"],
      stream: true,
    });
  });

  it("an upstream break in the middle of a stream: 200 and the error", async () => {
    stack.fake.setBehavior("reset-mid-stream");
    try {
      const stream = await stack.openai({ apiKey: "kt-team-a" }).chat.completions.create({ model: "t", stream: true, messages: [{ role: "user", content: "hello there" }] });
      await (async () => {
        for await (const _ of stream);
      })().catch(() => undefined);
      expect(await last()).toMatchObject({ outcome: "error", httpStatus: 200, stream: true });
      expect((await last()).errorCode).toMatch(/^KT_ERR_UPSTREAM/);
    } finally {
      stack.fake.setBehavior("normal");
    }
  });

  it("gRPC: a missing key, a bad message, and a chat key calling Governance", async () => {
    const anon = createKeeptrustsClient({ baseUrl: stack.url, protocol: "grpc" });
    const e1 = await anon.chat.createChatCompletion({ model: "t", messages: [{ role: "user", content: "hi" }] }).catch((x) => x);
    expect((e1 as ConnectError).code).toBe(Code.Unauthenticated);
    await new Promise((r) => setTimeout(r, 1300)); // the record of a refusal may be the window's aggregate otherwise
    const e1b = await anon.chat.createChatCompletion({ model: "t", messages: [{ role: "user", content: "hi" }] }).catch((x) => x);
    expect((e1b as ConnectError).code).toBe(Code.Unauthenticated);
    expect((await records()).filter((r) => r.frontDoor === "grpc" && r.errorCode === "KT_ERR_UNAUTHENTICATED").at(-1)).toMatchObject({
      principal: "unauthenticated",
      credential: "none",
      grpcStatus: Code.Unauthenticated,
      operation: "chat",
      // Refused on its headers, its body (and the model in it) is never read, as on the OpenAI
      // route: test/hostile/preauth-body.test.ts.
      model: "",
    });

    const team = createKeeptrustsClient({ baseUrl: stack.url, apiKey: "kt-team-a", protocol: "grpc" });
    const e2 = await team.chat.createChatCompletion({ model: "t", temperature: Number.NaN, messages: [{ role: "user", content: "hi" }] }).catch((x) => x);
    expect((e2 as ConnectError).code).toBe(Code.InvalidArgument);
    expect(await last()).toMatchObject({ principal: "team-a", errorCode: "KT_ERR_INVALID_REQUEST", frontDoor: "grpc", grpcStatus: Code.InvalidArgument });

    const e3 = await team.governance.listTargets({}).catch((x) => x);
    expect((e3 as ConnectError).code).toBe(Code.PermissionDenied);
    expect(await last()).toMatchObject({ kind: "access", principal: "team-a", operation: "GovernanceService/ListTargets", errorCode: "KT_ERR_FORBIDDEN" });
  });

  it("a flood of failed authentications from one address is one record plus one aggregate per window", async () => {
    await new Promise((r) => setTimeout(r, 1300));
    const before = (await records()).length;
    const guesses = Array.from({ length: 40 }, (_, i) => `sk-guess-${i}`);
    for (const g of guesses) expect((await post("{}", { authorization: `Bearer ${g}` })).status).toBe(401);
    // The first is recorded at once; the window closes a second later with the other 39 counted.
    const deadline = Date.now() + 5000;
    let added: StoredAuditRecord[] = [];
    while (Date.now() < deadline) {
      added = (await records()).slice(before);
      if (added.some((r) => r.count !== undefined)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(added).toHaveLength(2);
    expect(added[0]).toMatchObject({ principal: "unauthenticated", errorCode: "KT_ERR_UNAUTHENTICATED" });
    expect(added[0]!.count).toBeUndefined();
    expect(added[1]).toMatchObject({ operation: "auth_failures", count: 39, credential: "various", clientAddress: "127.0.0.1", principal: "unauthenticated" });
    for (const g of guesses) expect(JSON.stringify(added)).not.toContain(g);
  });

  it("leaves a log that verifies", async () => {
    await stack.services.auditLog()!.flush();
    const { verifyAuditLog } = await import("../../src/audit/index.js");
    expect(await verifyAuditLog(dir)).toMatchObject({ ok: true });
  });
});

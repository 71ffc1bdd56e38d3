/**
 * Failover before the first byte: a group of two targets for one model, the faulty one carrying
 * nearly all the weight. Every pre-first-byte fault of the faulty one (refused/reset connection,
 * 5xx, no answer within timeout_seconds) must be invisible to the client — the OpenAI SDK (JSON
 * and SSE) and the gRPC client all get the healthy target's answer, and the audit log records the
 * request as ok, served by the healthy target. An upstream 4xx judged the request: it is not retried.
 */
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code, ConnectError } from "../../clients/typescript/src/index.js";
import type { Behavior } from "../fixtures/fake-openllm.js";
import { ktStreamText, MODEL, packConfig, sdkStreamText, settle, startRig, within, type Rig } from "./rig.js";

const HEALTHY_REPLY = "the healthy target answers";
const GROUP = "llama3:8b-instruct";

function groupConfig([bad, good]: string[], auditDir: string): string {
  return packConfig(auditDir, [
    // weight 1e6 : 1 — the faulty target is picked first on every request (p(healthy first) = 1e-6).
    `{ id: faulty, provider: "openllm:chat:llama3:8b-instruct", model: "${MODEL}", base_url: "${bad}", weight: 1000000, timeout_seconds: 0.5 }`,
    `{ id: healthy, provider: "openllm:chat:llama3:8b-instruct", model: "${MODEL}", base_url: "${good}", weight: 1 }`,
  ]);
}

const faults: Behavior[] = ["refuse", "status-500", "status-503", "hang"];

describe.each(faults)("failover when the heavier target's fault is %s", (fault) => {
  let rig: Rig;
  beforeAll(async () => {
    rig = await startRig(groupConfig, { fakes: [{}, {}] });
    rig.fakes[0]!.setBehavior(fault);
    rig.fakes[1]!.setReply(HEALTHY_REPLY);
  });
  afterAll(() => rig.close());

  const posts = (i: number) => rig.fakes[i]!.requests.filter((r) => r.method === "POST").length;
  const faulty = () => rig.services.gateway.runtime().registry.get("faulty")!;

  it("the OpenAI SDK gets the healthy answer, non-streamed and streamed, and the audit says ok/healthy", async () => {
    const client = rig.openai();
    const t0 = Date.now();
    const r = await within(5000, client.chat.completions.create({ model: GROUP, messages: [{ role: "user", content: "hello" }] }), "non-streamed call");
    expect(r.choices[0]!.message.content).toBe(HEALTHY_REPLY);
    const text = await within(5000, sdkStreamText(client, { model: GROUP, content: "hello" }), "streamed call");
    expect(text).toBe(HEALTHY_REPLY);
    // A hang costs one timeout_seconds (0.5 s) per call, no more.
    expect(Date.now() - t0).toBeLessThan(fault === "hang" ? 3000 : 2000);

    // Both calls went to the faulty target first (its circuit counted them) and were then served by the healthy one.
    expect(faulty().circuit.totalFailures).toBe(2);
    expect(faulty().circuit.state).toBe("closed");
    if (fault !== "refuse") expect(posts(0)).toBe(2);
    expect(posts(1)).toBe(2);

    const records = await rig.audit();
    expect(records).toHaveLength(2);
    for (const rec of records) {
      expect(rec).toMatchObject({ outcome: "ok", target: "healthy", model: GROUP, frontDoor: "openai" });
      expect(rec.errorCode).toBeUndefined();
    }
    expect(records.map((x) => x.stream)).toEqual([false, true]);
  });

  it("the gRPC client gets the healthy answer, unary and streamed, audited as ok/healthy", async () => {
    const kt = rig.kt("grpc");
    const r = await within(5000, kt.chat.createChatCompletion({ model: GROUP, messages: [{ role: "user", content: "hello" }] }), "unary rpc");
    expect(r.choices[0]!.message!.content).toBe(HEALTHY_REPLY);
    expect(await within(5000, ktStreamText(kt, GROUP, "hello"), "streaming rpc")).toBe(HEALTHY_REPLY);
    expect(faulty().circuit.totalFailures).toBe(4);
    const records = (await rig.audit()).slice(2);
    expect(records).toHaveLength(2);
    for (const rec of records) expect(rec).toMatchObject({ outcome: "ok", target: "healthy", frontDoor: "grpc" });
  });
});

describe("an upstream 4xx is the request's fault, not the target's", () => {
  let rig: Rig;
  beforeAll(async () => {
    rig = await startRig(groupConfig, { fakes: [{}, {}] });
    rig.fakes[0]!.setBehavior("status-422");
    rig.fakes[1]!.setReply(HEALTHY_REPLY);
  });
  afterAll(() => rig.close());

  it("is passed to the client as 400 (SDK BadRequestError, gRPC InvalidArgument) and never retried on the other target", async () => {
    const client = rig.openai();
    const json = await settle(client.chat.completions.create({ model: GROUP, messages: [{ role: "user", content: "hello" }] }));
    expect(json.ok).toBe(false);
    const e1 = (json as { error: any }).error;
    expect(e1).toBeInstanceOf(OpenAI.BadRequestError);
    expect(e1.status).toBe(400);
    expect(e1.code).toBe("upstream_rejected");

    const streamed = await settle(sdkStreamText(client, { model: GROUP, content: "hello" }));
    expect((streamed as { error: any }).error).toBeInstanceOf(OpenAI.BadRequestError);

    const grpc = await settle(rig.kt("grpc").chat.createChatCompletion({ model: GROUP, messages: [{ role: "user", content: "hello" }] }));
    const ge = (grpc as { error: any }).error;
    expect(ge).toBeInstanceOf(ConnectError);
    expect(ge.code).toBe(Code.InvalidArgument);
    const grpcStream = await settle(ktStreamText(rig.kt("grpc"), GROUP, "hello"));
    expect((grpcStream as { error: any }).error.code).toBe(Code.InvalidArgument);

    expect(rig.fakes[0]!.requests.filter((r) => r.method === "POST")).toHaveLength(4);
    expect(rig.fakes[1]!.requests.filter((r) => r.method === "POST")).toHaveLength(0);
    // The target answered: its circuit counts no failure.
    const faulty = rig.services.gateway.runtime().registry.get("faulty")!;
    expect(faulty.circuit.totalFailures).toBe(0);

    const records = await rig.audit();
    expect(records).toHaveLength(4);
    for (const rec of records) expect(rec).toMatchObject({ outcome: "error", errorCode: "KT_ERR_UPSTREAM_REJECTED", httpStatus: 400, target: "faulty" });
  });
});

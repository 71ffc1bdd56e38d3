import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MODEL, startStack, type Stack } from "../helpers/harness.js";

describe("the audit record of a blocked request", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack(
      (url, dir) => `pack: { name: blocks, version: 1.0.0 }
providers:
  targets:
    - { id: t, provider: "openllm:chat:llama3:8b-instruct", model: ${MODEL}, base_url: "${url}" }
policies:
  chain: [guard, audit-logger]
policy:
  guard:
    rules:
      - { type: pii_detection, id: no-cards, action: block, patterns: [credit_card] }
      - { type: content_filter, id: no-violence, action: block, categories: [violence] }
  audit-logger: { path: "${dir}/audit" }
`,
    );
  });
  afterAll(() => stack.close());

  it("says which rule blocked it and what it found, without the value", async () => {
    const client = stack.openai();
    const card = await client.chat.completions.create({ model: "t", messages: [{ role: "user", content: "card 4111 1111 1111 1111" }] }).catch((e) => e);
    expect(card).toBeInstanceOf(OpenAI.BadRequestError);
    const violent = await client.chat.completions.create({ model: "t", messages: [{ role: "user", content: "I want to hurt someone really badly." }] }).catch((e) => e);
    expect(violent).toBeInstanceOf(OpenAI.BadRequestError);
    const log = stack.services.auditLog()!;
    await log.flush();
    const { events } = await log.query({});
    expect(events).toHaveLength(2);
    expect(events[0]).toMatchObject({ outcome: "blocked", decision: "block", errorCode: "KT_ERR_POLICY_BLOCKED", rulesFired: ["guard/no-cards"] });
    expect(events[0]!.events[0]).toMatchObject({ policy: "guard", rule: "no-cards", action: "block", phase: "request", counts: { credit_card: 1 } });
    expect(events[1]).toMatchObject({ outcome: "blocked", decision: "block", rulesFired: ["guard/no-violence"] });
    expect(JSON.stringify(events)).not.toContain("4111");
    expect(JSON.stringify(events)).not.toContain("hurt someone");
    expect(stack.fake.requests.filter((r) => r.method === "POST")).toHaveLength(0);
  });
});

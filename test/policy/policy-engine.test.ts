import { describe, expect, it } from "vitest";
import { compilePolicyEngine, PolicyError } from "../../src/policy/index.js";
import { configWith } from "./helpers.js";

const pii = (extra: Record<string, unknown> = {}) => ({ type: "pii_detection", patterns: ["ssn", "credit_card", "email"], ...extra });
const engineWith = (rules: unknown[], deps = {}) => compilePolicyEngine(configWith([{ id: "gov", rules }]), deps);

describe("request phase", () => {
  it("redacts every text of a chat body without mutating the input", async () => {
    const engine = engineWith([pii()]);
    const body = {
      model: "m",
      seed: 7,
      messages: [
        { role: "system", content: "Support bot. Escalate to ops@example.com." },
        { role: "user", content: [{ type: "text", text: "My card is 4111 1111 1111 1111" }, { type: "image_url", image_url: { url: "http://x/y.png" } }] },
        { role: "assistant", content: null, tool_calls: [{ id: "c1", type: "function", function: { name: "f", arguments: '{"ssn":"123-45-6789"}' } }] },
        { role: "tool", tool_call_id: "c1", content: "found jane@corp.io" },
      ],
    };
    const before = JSON.stringify(body);
    const { body: out, events } = await engine.checkRequest(body, "chat");
    expect(JSON.stringify(body)).toBe(before);
    const m = out.messages as any[];
    expect(m[0].content).toBe("Support bot. Escalate to [REDACTED:EMAIL].");
    expect(m[1].content[0].text).toBe("My card is [REDACTED:CREDIT_CARD]");
    expect(m[1].content[1]).toBe(body.messages[1]!.content![1]);
    expect(JSON.parse(m[2].tool_calls[0].function.arguments)).toEqual({ ssn: "[REDACTED:SSN]" });
    expect(m[3].content).toBe("found [REDACTED:EMAIL]");
    expect(out.seed).toBe(7);
    expect(events).toEqual([
      { policy: "gov", rule: "pii_detection#0", ruleType: "pii_detection", action: "redact", phase: "request", counts: { email: 2, credit_card: 1, ssn: 1 } },
    ]);
    expect(JSON.stringify(events)).not.toMatch(/4111|6789|example\.com/);
  });

  it("covers legacy prompts (string and list); refuses token-id prompts unless a rule allows them (then records them)", async () => {
    const engine = engineWith([pii()]);
    expect((await engine.checkRequest({ prompt: "mail a@b.io" }, "completion")).body.prompt).toBe("mail [REDACTED:EMAIL]");
    expect((await engine.checkRequest({ prompt: ["x", "ssn 123-45-6789"] }, "completion")).body.prompt).toEqual(["x", "ssn [REDACTED:SSN]"]);
    for (const prompt of [[1, 2, 3], [[1, 2], [3]]]) {
      const err = await engine.checkRequest({ prompt }, "completion").catch((e: unknown) => e);
      expect(err).toMatchObject({ code: "KT_ERR_INVALID_REQUEST", status: 400 });
      expect(String((err as Error).message)).toMatch(/token-id prompts/);
    }
    const allowing = engineWith([pii({ allow_token_prompts: true })]);
    const tokens = { prompt: [1, 2, 3] };
    const r = await allowing.checkRequest(tokens, "completion");
    expect(r.body).toBe(tokens);
    expect(r.events).toEqual([{ policy: "gov", rule: "pii_detection#0", ruleType: "pii_detection", action: "log", phase: "request", counts: { token_prompt: 1 } }]);
  });

  it("supports mask, custom replacements and custom patterns", async () => {
    const masked = await engineWith([pii({ action: "mask" })]).evaluateText("card 4111-1111-1111-1111 ok", "request");
    expect(masked.redactedText).toBe("card ****-****-****-1111 ok");
    const custom = await engineWith([pii({ replacement: "<{type}>" })]).evaluateText("to a@b.io", "request");
    expect(custom.redactedText).toBe("to <email>");
    const emp = await engineWith([{ type: "pii_detection", patterns: [{ name: "employee_id", regex: "EMP-\\d{6}" }] }]).evaluateText(
      "id EMP-123456.",
      "request",
    );
    expect(emp.redactedText).toBe("id [REDACTED:EMPLOYEE_ID].");
    expect(emp.findings).toEqual([{ policy: "gov", rule: "pii_detection#0", type: "employee_id", start: 3, end: 13 }]);
  });

  it("blocks with a message naming policy and rule but not the value", async () => {
    const engine = engineWith([pii({ id: "no-pii", action: "block" })]);
    const err = await engine.checkRequest({ messages: [{ role: "user", content: "ssn 123-45-6789" }] }, "chat").catch((e) => e);
    expect(err).toBeInstanceOf(PolicyError);
    expect(err.code).toBe("KT_ERR_POLICY_BLOCKED");
    expect(err.message).toContain("gov");
    expect(err.message).toContain("no-pii");
    expect(err.message).not.toContain("123-45-6789");
    expect(err.toOpenAI().error).toMatchObject({ type: "policy_violation", code: "content_blocked" });
    expect(err.events).toEqual([{ policy: "gov", rule: "no-pii", ruleType: "pii_detection", action: "block", phase: "request", counts: { ssn: 1 } }]);
  });

  it("runs rules in chain order and honours apply_to", async () => {
    const engine = compilePolicyEngine(
      configWith([
        { id: "first", rules: [{ type: "pii_detection", patterns: ["email"], action: "log" }] },
        { id: "second", rules: [{ type: "pii_detection", patterns: ["email"], apply_to: "response" }] },
      ]),
    );
    const req = await engine.checkRequest({ messages: [{ role: "user", content: "x@y.io" }] }, "chat");
    expect((req.body.messages as any)[0].content).toBe("x@y.io");
    expect(req.events.map((e) => [e.policy, e.action])).toEqual([["first", "log"]]);
    const res = await engine.checkResponse({ choices: [{ index: 0, message: { role: "assistant", content: "x@y.io" } }] }, "chat");
    expect((res.body.choices as any)[0].message.content).toBe("[REDACTED:EMAIL]");
    expect(res.events.map((e) => [e.policy, e.action])).toEqual([["first", "log"], ["second", "redact"]]);
  });

  it("is disabled without rules or with pack.enabled false", () => {
    expect(compilePolicyEngine(configWith([])).enabled).toBe(false);
    const off = compilePolicyEngine(configWith([{ id: "p", rules: [pii()] }], false));
    expect(off.enabled).toBe(false);
    expect(off.hasResponseRules).toBe(false);
    expect(engineWith([pii({ apply_to: "request" })]).hasResponseRules).toBe(false);
  });

  it("rejects an unknown built-in pattern name at compile time, even past the config schema", () => {
    expect(() => engineWith([{ type: "pii_detection", patterns: ["social"] }])).toThrow(/unknown pattern: use one of ssn/);
    const unchecked = configWith([]);
    unchecked.policies = [{ id: "p", description: undefined, rules: [{ type: "pii_detection", action: "redact", apply_to: "both", patterns: ["social"] }] }];
    expect(() => compilePolicyEngine(unchecked)).toThrow(/unknown PII pattern 'social'/);
  });
});

describe("response phase and evaluateText", () => {
  it("redacts completions text and reports findings at original offsets", async () => {
    const engine = engineWith([pii(), { type: "pii_detection", patterns: ["phone"], action: "log" }]);
    const res = await engine.checkResponse({ choices: [{ index: 0, text: " a@b.io", finish_reason: "stop" }] }, "completion");
    expect((res.body.choices as any)[0].text).toBe(" [REDACTED:EMAIL]");
    const text = "mail a@b.io or call (415) 555-2671";
    const r = await engine.evaluateText(text, "response");
    expect(r.decision).toBe("redact");
    expect(r.findings.map((f) => [f.type, text.slice(f.start, f.end)])).toEqual([["email", "a@b.io"], ["phone", "(415) 555-2671"]]);
  });

  it("blocks harmful content with the built-in filter and reports the decision", async () => {
    const engine = engineWith([{ type: "content_filter", id: "safety", categories: ["violence", "self_harm"] }]);
    const ok = await engine.evaluateText("How do I kill a stuck process?", "request");
    expect(ok.decision).toBe("allow");
    const bad = await engine.evaluateText("how do I kill myself", "request");
    expect(bad.decision).toBe("block");
    expect(bad.events[0]).toMatchObject({ rule: "safety", ruleType: "content_filter", action: "block", engine: "builtin", counts: { self_harm: 1 } });
    const err = await engine.checkRequest({ messages: [{ role: "user", content: "I want to make a bomb" }] }, "chat").catch((e) => e);
    expect(err.code).toBe("KT_ERR_POLICY_BLOCKED");
    expect(err.message).toContain("violence");
    expect(err.message).not.toContain("bomb");
  });

  it("respects the rule's categories and threshold", async () => {
    const onlyHate = engineWith([{ type: "content_filter", categories: ["hate"] }]);
    expect((await onlyHate.evaluateText("how do I kill myself", "request")).decision).toBe("allow");
    // Thresholds are classifier scores in (0, 1]: at 1 only a certain verdict blocks, and this one is not certain.
    const lenient = engineWith([{ type: "content_filter", categories: ["self_harm"], threshold: 1 }]);
    expect((await lenient.evaluateText("how do I kill myself", "request")).decision).toBe("allow");
    const usual = engineWith([{ type: "content_filter", categories: ["self_harm"] }]);
    expect((await usual.evaluateText("how do I kill myself", "request")).decision).toBe("block");
  });
});

describe("llama guard engine", () => {
  const rule = (extra = {}) => ({ type: "content_filter", id: "lg", engine: "llama_guard", target: "guard", categories: ["violence", "hate", "self_harm"], ...extra });

  it("sends the conversation as alternating turns and parses verdicts", async () => {
    const seen: unknown[] = [];
    const replies = ["safe", "  UNSAFE \n S10 ", "unsafe\nS2", "unsafe\nS1,S11", "unsafe"];
    // The same request asked five times: without the verdict cache each gets the next reply.
    const engine = engineWith([rule({ verdict_cache: 0 })], {
      askGuard: async (target: string, messages: unknown) => {
        seen.push({ target, messages });
        return replies.shift()!;
      },
    });
    const body = { messages: [{ role: "system", content: "be nice" }, { role: "user", content: "hi" }, { role: "user", content: "there" }] };
    expect((await engine.checkRequest(body, "chat")).events).toEqual([]);
    expect(seen[0]).toEqual({ target: "guard", messages: [{ role: "user", content: "hi\n\nthere" }] });
    const hate = await engine.checkRequest(body, "chat").catch((e) => e);
    expect(hate.code).toBe("KT_ERR_POLICY_BLOCKED");
    expect(hate.events[0]).toMatchObject({ engine: "llama_guard", counts: { hate: 1 } });
    // S2 maps to illicit, which this rule does not cover.
    expect((await engine.checkRequest(body, "chat")).events).toEqual([]);
    const multi = await engine.checkRequest(body, "chat").catch((e) => e);
    expect(multi.events[0].counts).toEqual({ violence: 1, self_harm: 1 });
    // unsafe without codes counts against every category asked about.
    expect((await engine.checkRequest(body, "chat").catch((e) => e)).code).toBe("KT_ERR_POLICY_BLOCKED");
  });

  it("fails closed on throw or unparseable reply, open when configured", async () => {
    const throwing = engineWith([rule()], { askGuard: async () => Promise.reject(new Error("connect ECONNREFUSED")) });
    const e1 = await throwing.checkRequest({ messages: [{ role: "user", content: "hi" }] }, "chat").catch((e) => e);
    expect(e1.code).toBe("KT_ERR_POLICY_ENGINE_UNAVAILABLE");
    expect(e1.status).toBe(503);
    expect(e1.events[0]).toMatchObject({ engine: "llama_guard", action: "block", failedOpen: false });

    const garbage = engineWith([rule()], { askGuard: async () => "I think this is fine!" });
    expect((await garbage.checkRequest({ messages: [{ role: "user", content: "hi" }] }, "chat").catch((e) => e)).code).toBe(
      "KT_ERR_POLICY_ENGINE_UNAVAILABLE",
    );

    const open = engineWith([rule({ fail_open: true })], { askGuard: async () => Promise.reject(new Error("timeout")) });
    const r = await open.checkRequest({ messages: [{ role: "user", content: "hi" }] }, "chat");
    expect(r.events).toEqual([
      { policy: "gov", rule: "lg", ruleType: "content_filter", action: "block", phase: "request", counts: {}, engine: "llama_guard", failedOpen: true },
    ]);
  });

  it("judges a response as the assistant's turn", async () => {
    const seen: any[] = [];
    const engine = engineWith([rule()], { askGuard: async (_t: string, m: any) => (seen.push(m), "safe") });
    await engine.checkResponse({ choices: [{ index: 0, message: { role: "assistant", content: "Hello!" } }] }, "chat");
    expect(seen[0]).toEqual([{ role: "user", content: "" }, { role: "assistant", content: "Hello!" }]);
  });
});

describe("scrubText (an upstream's error text)", () => {
  // The text is capped at 2048 characters for the client, the record and ListTargets, but the
  // scan reads past the cap: a value the cap cuts was not recognised any more, and its first part
  // went out in clear (found by the round-12 review).
  const engine = engineWith([pii({ action: "redact", patterns: ["email", "secret", "credit_card", "ssn"], apply_to: "response" })]);
  const key = "sk-proj-" + "Ab3De6Gh9Jk2Mn5Pq8St1Vw4Yz7".repeat(2);
  it.each([
    ["a secret", key],
    ["a card", "4111 1111 1111 1111"],
    ["an email", "victim.person@example.com"],
  ])("%s cut by the cap is redacted, not sent in part", (_name, value) => {
    for (const keep of [1, 4, Math.floor(value.length / 2), value.length - 1]) {
      const lead = "upstream said: " + "x ".repeat(1200);
      // A space before the value: "x" + value would not be one (no word boundary), cut or not.
      const text = lead.slice(0, 2048 - keep - 1) + " " + value + " and the rest of the error " + "y".repeat(500);
      expect(engine.scrubText(`${value} alone`)).not.toContain(value.slice(0, 4));
      const out = engine.scrubText(text);
      expect(out.length).toBeLessThanOrEqual(2049);
      expect(out.endsWith("…")).toBe(true);
      // Not even the part before the cap.
      expect(out).not.toContain(value.slice(0, keep + 1 > value.length ? value.length : Math.max(keep, 4)));
    }
  });

  it("a short text is scanned whole and not capped", () => {
    expect(engine.scrubText("bad request from victim.person@example.com")).toBe("bad request from [REDACTED:EMAIL]");
  });
});

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Chunk } from "../../src/chat/types.js";
import { compilePolicyEngine, PolicyError, type GovernanceEvent } from "../../src/policy/index.js";
import { configWith } from "./helpers.js";

const base = { id: "chatcmpl-X", object: "chat.completion.chunk", created: 1, model: "M" };
const roleChunk = (): Chunk => ({ ...base, choices: [{ index: 0, delta: { role: "assistant", content: "" }, logprobs: null, finish_reason: null }] });
const textChunk = (content: string): Chunk => ({ ...base, choices: [{ index: 0, delta: { content }, logprobs: null, finish_reason: null }] });
const stopChunk = (): Chunk => ({ ...base, choices: [{ index: 0, delta: { content: "" }, logprobs: null, finish_reason: "stop", stop_reason: null }] });
const usageChunk = (): Chunk => ({ ...base, choices: [], usage: { prompt_tokens: 12, total_tokens: 20, completion_tokens: 8 } });

/** A vLLM-shaped chat stream for the given pieces of text. */
function vllmStream(pieces: string[]): Chunk[] {
  return [roleChunk(), ...pieces.map(textChunk), stopChunk(), usageChunk()];
}

async function* from<T>(items: T[], pulled?: { n: number }): AsyncIterable<T> {
  for (const it of items) {
    if (pulled) pulled.n++;
    yield it;
  }
}

async function collect(it: AsyncIterable<Chunk>): Promise<Chunk[]> {
  const out: Chunk[] = [];
  for await (const c of it) out.push(c);
  return out;
}

const contentOf = (chunks: Chunk[]) =>
  chunks.map((c) => ((c.choices as any[])[0]?.delta?.content as string | undefined) ?? "").join("");

const rules = [
  { type: "pii_detection", patterns: ["email", "ssn", "credit_card", "phone", "iban", "ip_address", "secret"] },
  { type: "pii_detection", action: "mask", patterns: ["crypto_wallet", "uk_nhs", { name: "ticket", regex: "TCK-[0-9]{4,8}" }] },
  { type: "content_filter", categories: ["violence", "self_harm"] },
];
const engine = compilePolicyEngine(configWith([{ id: "gov", rules }]));

function cut(text: string, cuts: number[]): string[] {
  const points = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
  const out: string[] = [];
  let at = 0;
  for (const p of points) {
    out.push(text.slice(at, p));
    at = p;
  }
  out.push(text.slice(at));
  return out;
}

const fragments = [
  "alice@example.com", "123-45-6789", "4111 1111 1111 1111", "5500-0000-0000-0004", "(415) 555-2671", "+44 20 7946 0958",
  "GB82 WEST 1234 5698 7654 32", "192.168.0.1", "2001:db8::1", "sk-proj-abcdefghijklmnopqrstuvwx", "AKIAIOSFODNN7EXAMPLE",
  "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", "943 476 5919", "TCK-123456", "Bearer abcdefghijklmnop0123",
  " ", "\n", ". ", ", ", "order #123456789", "2024-01-15", "version 1.2.3", "$1,234.56", "hello", "the quick brown fox",
  "a", "@", "1", "-", "+", "kill the process", "shoot a photo",
];

describe("stream guard", () => {
  it("preserves vLLM chunk shapes: role delta, ids, finish_reason, usage chunk", async () => {
    for (const mode of ["buffered", "incremental"] as const) {
      const out = await collect(engine.guardStream(from(vllmStream(["Hi ", "bob@", "corp.io", " bye"])), "chat", mode, () => {}));
      expect(out[0]).toEqual(roleChunk());
      expect(out.at(-1)).toEqual(usageChunk());
      const stop = out.at(-2)!;
      expect((stop.choices as any[])[0]).toMatchObject({ index: 0, finish_reason: "stop", stop_reason: null, logprobs: null });
      for (const c of out) expect(c).toMatchObject(base);
      expect(contentOf(out)).toBe("Hi [REDACTED:EMAIL] bye");
    }
  });

  it("buffered: reads everything before emitting anything", async () => {
    const pulled = { n: 0 };
    const input = vllmStream(["My SSN is 123-", "45-6789 thanks"]);
    const it = engine.guardStream(from(input, pulled), "chat", "buffered", () => {})[Symbol.asyncIterator]();
    const first = await it.next();
    expect(pulled.n).toBe(input.length);
    expect(first.value).toEqual(roleChunk());
  });

  it("incremental: concat(guard(any chunking of T)) == guard(T)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.constantFrom(...fragments), { minLength: 1, maxLength: 40 }),
        fc.array(fc.nat(2000), { maxLength: 30 }),
        fc.constantFrom("buffered" as const, "incremental" as const),
        async (parts, cuts, mode) => {
          const text = parts.join("");
          const whole = await engine.evaluateText(text, "response");
          const out = await collect(engine.guardStream(from(vllmStream(cut(text, cuts))), "chat", mode, () => {}));
          expect(contentOf(out)).toBe(whole.redactedText);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("incremental: emits early for long texts", async () => {
    const text = "Plain words without anything sensitive in them. ".repeat(200) + "Reach me at carol@example.org.";
    const pieces = cut(text, Array.from({ length: text.length / 7 }, (_, i) => i * 7));
    const input = vllmStream(pieces);
    const pulled = { n: 0 };
    let pulledAtFirstText = -1;
    const out: Chunk[] = [];
    for await (const c of engine.guardStream(from(input, pulled), "chat", "incremental", () => {})) {
      if (pulledAtFirstText === -1 && contentOf([c]) !== "") pulledAtFirstText = pulled.n;
      out.push(c);
    }
    expect(pulledAtFirstText).toBeGreaterThan(0);
    expect(pulledAtFirstText).toBeLessThan(input.length / 2);
    expect(contentOf(out)).toBe(text.replace("carol@example.org", "[REDACTED:EMAIL]"));
    expect(out.length).toBe(input.length);
  });

  it("blocks mid-stream: events first, then a PolicyError; the matched value never goes out", async () => {
    const blocking = compilePolicyEngine(configWith([{ id: "gov", rules: [{ type: "pii_detection", id: "no-ssn", action: "block", patterns: ["ssn"] }] }]));
    for (const mode of ["buffered", "incremental"] as const) {
      const events: GovernanceEvent[] = [];
      const out: Chunk[] = [];
      const filler = "All good so far. ".repeat(30);
      const err = await (async () => {
        for await (const c of blocking.guardStream(from(vllmStream([filler, "my ssn is 123-4", "5-6789", " ok"])), "chat", mode, (e) => events.push(e)))
          out.push(c);
      })().catch((e) => e);
      expect(err).toBeInstanceOf(PolicyError);
      expect(err.code).toBe("KT_ERR_POLICY_BLOCKED");
      expect(err.message).not.toContain("6789");
      expect(events).toEqual([{ policy: "gov", rule: "no-ssn", ruleType: "pii_detection", action: "block", phase: "response", counts: { ssn: 1 } }]);
      expect(JSON.stringify(out)).not.toContain("6789");
      if (mode === "buffered") expect(out).toEqual([]);
      else expect(contentOf(out).length).toBeGreaterThan(0);
    }
  });

  it("redacts streamed tool-call arguments and completion text", async () => {
    const tc = (args: string, extra = {}): Chunk => ({
      ...base,
      choices: [{ index: 0, delta: { tool_calls: [{ index: 0, ...extra, function: { arguments: args } }] }, logprobs: null, finish_reason: null }],
    });
    const chunks = [tc('{"to":"a@', { id: "call_1", type: "function", function: { name: "send" } }), tc('b.io"}'), { ...stopChunk(), choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: "tool_calls" }] }];
    chunks[0] = { ...base, choices: [{ index: 0, delta: { tool_calls: [{ index: 0, id: "call_1", type: "function", function: { name: "send", arguments: '{"to":"a@' } }] }, logprobs: null, finish_reason: null }] };
    const out = await collect(engine.guardStream(from(chunks), "chat", "incremental", () => {}));
    const args = out.flatMap((c) => ((c.choices as any[])[0]?.delta?.tool_calls ?? []).map((t: any) => t.function.arguments)).join("");
    expect(JSON.parse(args)).toEqual({ to: "[REDACTED:EMAIL]" });
    expect((out[0]!.choices as any[])[0].delta.tool_calls[0]).toMatchObject({ id: "call_1", type: "function", function: { name: "send" } });

    const cmpl = (text: string, finish: string | null = null): Chunk => ({
      id: "cmpl-1", object: "text_completion", created: 1, model: "M", choices: [{ index: 0, text, logprobs: null, finish_reason: finish, stop_reason: null }], usage: null,
    });
    const out2 = await collect(engine.guardStream(from([cmpl(" call (415) 55"), cmpl("5-2671 now"), cmpl("", "length")]), "completion", "incremental", () => {}));
    expect(out2.map((c) => (c.choices as any[])[0].text).join("")).toBe(" call [REDACTED:PHONE] now");
    expect((out2.at(-1)!.choices as any[])[0].finish_reason).toBe("length");
  });

  it("reports redaction counts once the stream ends", async () => {
    const events: GovernanceEvent[] = [];
    await collect(engine.guardStream(from(vllmStream(["a@b.io and ", "c@d.io"])), "chat", "incremental", (e) => events.push(e)));
    expect(events).toEqual([{ policy: "gov", rule: "pii_detection#0", ruleType: "pii_detection", action: "redact", phase: "response", counts: { email: 2 } }]);
  });

  it("llama guard on a stream: holds text until the verdict; fails closed or open", async () => {
    const lg = (reply: () => Promise<string>, failOpen = false) =>
      compilePolicyEngine(
        configWith([{ id: "gov", rules: [{ type: "content_filter", id: "lg", engine: "llama_guard", target: "g", categories: ["violence"], fail_open: failOpen }] }]),
        { askGuard: reply },
      );
    const out: Chunk[] = [];
    const err = await (async () => {
      for await (const c of lg(async () => "unsafe\nS1").guardStream(from(vllmStream(["some ", "text"])), "chat", "incremental", () => {})) out.push(c);
    })().catch((e) => e);
    expect(err.code).toBe("KT_ERR_POLICY_BLOCKED");
    expect(contentOf(out)).toBe("");

    const events: GovernanceEvent[] = [];
    const ok = await collect(lg(async () => Promise.reject(new Error("down")), true).guardStream(from(vllmStream(["some ", "text"])), "chat", "incremental", (e) => events.push(e)));
    expect(contentOf(ok)).toBe("some text");
    expect(events[0]).toMatchObject({ engine: "llama_guard", failedOpen: true });

    const closed = await collect(lg(async () => "maybe?").guardStream(from(vllmStream(["x"])), "chat", "buffered", () => {})).catch((e) => e);
    expect(closed.code).toBe("KT_ERR_POLICY_ENGINE_UNAVAILABLE");
  });

  it("passes the stream through untouched without response rules", async () => {
    const none = compilePolicyEngine(configWith([{ id: "gov", rules: [{ type: "pii_detection", apply_to: "request", patterns: ["email"] }] }]));
    const input = from(vllmStream(["a@b.io"]));
    expect(none.guardStream(input, "chat", "incremental", () => {})).toBe(input);
  });
});

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Chunk } from "../../src/wire/index.js";
import { builtinPiiTypes, compilePolicyEngine, PolicyError, type GovernanceEvent } from "../../src/policy/index.js";
import { configWith } from "./helpers.js";
import { cutText } from "../helpers/cut-text.js";

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

const cut = cutText;

const fragments = [
  "alice@example.com", "123-45-6789", "4111 1111 1111 1111", "5500-0000-0000-0004", "(415) 555-2671", "+44 20 7946 0958",
  "GB82 WEST 1234 5698 7654 32", "192.168.0.1", "2001:db8::1", "sk-proj-abcdefghijklmnopqrstuvwx", "AKIAIOSFODNN7EXAMPLE",
  "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", "943 476 5919", "TCK-123456", "Bearer abcdefghijklmnop0123",
  " ", "\n", ". ", ", ", "order #123456789", "2024-01-15", "version 1.2.3", "$1,234.56", "hello", "the quick brown fox",
  "a", "@", "1", "-", "+", "kill the process", "shoot a photo",
  // Forms the normalised view reads (full-width, invisible, Unicode spaces and dashes, URL escapes)
  // and their pieces: a chunk may end inside a surrogate pair or a %XX run.
  "\uff14\uff11\uff11\uff11 1111 1111 1111", "\uff14", "\uff20", "jane\uff20example.com", "ja\u200bne@exa\u00admple.com", "\u200b", "\u00ad",
  "\u00a0", "\u2011", "\u2014", "\u3000", "\u202e", "\ufe0f", "4111\u00a01111\u00a01111\u00a01111", "123\u201145\u20116789",
  "?email=jane.doe%40example.com&x=1", "%40", "%4", "%", "%C3%A4", "%E2%80%8B", "?q=call+me+%2B44+20+7946+0958", "=", "?", "&",
  "\ud83d", "\ude00", "\ud83d\ude00", "\u0301", "\u2028",
];

// The bench's full chain: every built-in PII pattern redacted, the content filter blocking on every category.
const ALL_PII = ["ssn", "credit_card", "email", "phone", "iban", "ip_address", "us_passport", "uk_nhs", "crypto_wallet", "secret"];
const ALL_CATEGORIES = ["violence", "self_harm", "hate", "sexual", "harassment", "illicit"];
const benchChain = compilePolicyEngine(
  configWith([
    { id: "pii", rules: [{ type: "pii_detection", action: "redact", patterns: ALL_PII, apply_to: "both" }] },
    { id: "content", rules: [{ type: "content_filter", action: "block", categories: ALL_CATEGORIES, apply_to: "both" }] },
  ]),
);
// The same plus two custom patterns (run on RE2, held back by their 1 KiB window) in two rules,
// and a masking rule after the redacting one. (The second one used a backreference, which RE2
// refuses at validation since custom patterns run in linear time; it is spelt out instead.)
const fullChain = compilePolicyEngine(
  configWith([
    {
      id: "pii",
      rules: [
        { type: "pii_detection", action: "redact", patterns: [...ALL_PII, { name: "ticket", regex: "TCK-[0-9]{4,8}" }] },
        { type: "pii_detection", action: "mask", patterns: [{ name: "twin", regex: "Q[A-Z]Q[A-Z]-[0-9]{3}" }, "uk_nhs"] },
      ],
    },
    { id: "content", rules: [{ type: "content_filter", action: "block", categories: ALL_CATEGORIES }] },
  ]),
);

const jwt = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";
const pem =
  "-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu\nKUpRKfFLfRYC9AIKjbJTWit+CqvjWYzvQwECAwEAAQ==\n-----END RSA PRIVATE KEY-----";
/** Every built-in type (secrets of each kind, PEM, JWT, wallets), custom patterns, harmful and benign phrases, and their beginnings. */
const fullFragments = [
  ...fragments,
  jwt, pem, "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIIrYSSNQFaA2Hwf1duRSxKtLYX5CB04fSeQ6tF1aY/PuoAoGCCqGSM49", "-----BEGIN ", "-----", "eyJ", "eyJhbGciOiJIUzI1NiJ9.e30.",
  "ghp_" + "a1B2c3D4".repeat(5).slice(0, 36), "xoxb-1234567890-abcdefghij", "AIza" + "Sy0123456789abcdefghijKLMNOPQRSTUVW", "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc",
  "Authorization: Bearer eyJ0eXAiOiJKV1QiLCJhbGc", "bearer ", "sk-", "ghp_", "xox", "AKIA",
  "0x52908400098527886E0F7030069857D2E4169EE7", "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy",
  "passport 340020013", "NHS 4010232137", "DE89 3704 0044 0532 0130 00", "fe80::1ff:fe23:4567:890a", "10.0.0.255",
  "TCK-98765", "QZQZ-123", "QZ", "QZQZ-1",
  "how to ", "I want to ", "how to build a web server", "kill the process", "shoot a photo of it", "I want to kill my neighbor", "how do I make a pipe bomb",
  "the ", "explicit ", "you are a worthless ", "piece of trash", "\u2019", "é", "\ud83d\ude00",
];

/** A stream's outcome: its text, or the code of the error that ended it. */
async function outcome(engine: typeof fullChain, pieces: string[], mode: "buffered" | "incremental"): Promise<string> {
  try {
    return contentOf(await collect(engine.guardStream(from(vllmStream(pieces)), "chat", mode, () => {})));
  } catch (e) {
    if (e instanceof PolicyError) return `error:${e.code}`;
    throw e;
  }
}

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

  it("incremental, full chain: concat(guard(any chunking of T)) == guard(T), blocks included", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.constantFrom(...fullFragments), { minLength: 1, maxLength: 30 }),
        fc.array(fc.nat(4000), { maxLength: 40 }),
        fc.constantFrom("buffered" as const, "incremental" as const),
        async (parts, cuts, mode) => {
          const text = parts.join("");
          const whole = await fullChain.evaluateText(text, "response");
          const expected = whole.decision === "block" ? "error:KT_ERR_POLICY_BLOCKED" : whole.redactedText;
          expect(await outcome(fullChain, cut(text, cuts), mode)).toBe(expected);
          // One character per chunk: the hardest chunking for the hold-back.
          if (text.length <= 400) expect(await outcome(fullChain, [...text], mode)).toBe(expected);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("a phone's extension that later text refuses is not redacted early (a validator reads past the match)", async () => {
    // Found by the property above (seed -1618302895): "+943 476 59190x529084" is a phone with an
    // extension while the text ends there, and not one once more digits follow; the email that the
    // whole text holds went out raw when the phone had been redacted from a prefix.
    const text = "+943 476 59190x52908400098527886E0F7030069857D2E4169EE7alice@example.com";
    const whole = await fullChain.evaluateText(text, "response");
    expect(whole.redactedText).toBe("+943 476 [REDACTED:EMAIL]");
    for (const mode of ["buffered", "incremental"] as const) {
      expect(await outcome(fullChain, [...text], mode)).toBe(whole.redactedText);
      for (let k = 1; k < text.length; k++) expect(await outcome(fullChain, [text.slice(0, k), text.slice(k)], mode)).toBe(whole.redactedText);
    }
  });

  it("incremental, full chain: ordinary prose goes out within a word or two of arriving", async () => {
    const answer =
      "Sure! To set up the project, first clone the repository and install the dependencies with npm. Then copy the example " +
      "configuration file, adjust the database URL and the port, and start the development server. If the build fails, check " +
      "that you are running Node 20 or later, clear the cache, and try again. Let me know if you need anything else, and I will help.";
    // vLLM streams one token per chunk, the space in front of the word.
    const pieces = answer.match(/\s*\S+/g)!;
    expect(pieces.length).toBeGreaterThanOrEqual(60);
    let sent = 0;
    let emitted = 0;
    let maxHeld = 0;
    let i = 0;
    for await (const c of benchChain.guardStream(from(vllmStream(pieces)), "chat", "incremental", () => {})) {
      emitted += contentOf([c]).length;
      // Output chunk i answers input chunk i: the role chunk, then one per piece.
      if (i >= 1 && i <= pieces.length) {
        sent += pieces[i - 1]!.length;
        maxHeld = Math.max(maxHeld, sent - emitted);
        expect(sent - emitted, `after piece ${i} (${JSON.stringify(pieces[i - 1])})`).toBeLessThanOrEqual(40);
      }
      i++;
    }
    expect(emitted).toBe(answer.length);
    expect(maxHeld).toBeLessThanOrEqual(40);
  });

  it("incremental, every built-in recogniser (names included): a word streamed per chunk goes out one chunk later", async () => {
    // The chain the bench deploys. A capitalised word that can never begin a name (`You`, `Send`)
    // used to be held until 16 more characters had come, and the content filter then held the
    // piece once more: the first word of an answer left four chunks after it arrived.
    const deployed = compilePolicyEngine(
      configWith([
        { id: "pii", rules: [{ type: "pii_detection", action: "redact", patterns: [...builtinPiiTypes], apply_to: "both" }] },
        { id: "content", rules: [{ type: "content_filter", action: "block", categories: ALL_CATEGORIES, apply_to: "both" }] },
      ]),
    );
    const answer = "You said: Send the meeting notes to jane.doe@example.com before the team call, then summarise the open questions.";
    for (const pieces of [answer.match(/\s*\S+/g)!, answer.match(/\S+\s*/g)!]) {
      let i = 0;
      let firstAt = -1;
      const out: Chunk[] = [];
      for await (const c of deployed.guardStream(from(vllmStream(pieces)), "chat", "incremental", () => {})) {
        // Output chunk i answers input chunk i: the role chunk, then one per piece.
        if (firstAt === -1 && contentOf([c]) !== "") firstAt = i;
        out.push(c);
        i++;
      }
      expect(firstAt, JSON.stringify(pieces.slice(0, 3))).toBe(2);
      expect(contentOf(out)).toBe(answer.replace("jane.doe@example.com", "[REDACTED:EMAIL]"));
    }
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

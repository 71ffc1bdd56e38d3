import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Chunk } from "../../src/wire/index.js";
import { compilePolicyEngine } from "../../src/policy/index.js";
import { configWith } from "./helpers.js";
import { cutText } from "../helpers/cut-text.js";

/**
 * Issue #13's PII promise on streams: a value split across events under a delta key the guard did
 * not know (an upstream's new field: vLLM's `reasoning`, a vendor's `foo_text`, a nested object, an
 * array of objects) is held and scanned across the events, per choice and key path, as `content`
 * is. Before, such a string was scanned event by event: `"contact jane.do"` then
 * `"e@example.com now"` went out raw.
 */

const engine = compilePolicyEngine(
  configWith([{ id: "gov", rules: [{ type: "pii_detection", action: "redact", patterns: ["email", "phone", "credit_card", "ssn"], apply_to: "response" }] }]),
);

const base = { id: "chatcmpl-D", object: "chat.completion.chunk", created: 1, model: "M" };
const chat = (choice: Record<string, unknown>, index = 0): Chunk => ({ ...base, choices: [{ index, logprobs: null, finish_reason: null, ...choice }] });
const stop = (index = 0): Chunk => ({ ...base, choices: [{ index, delta: {}, logprobs: null, finish_reason: "stop", stop_reason: null }] });
const cmpl = (choice: Record<string, unknown>, finish: string | null = null): Chunk => ({
  id: "cmpl-D",
  object: "text_completion",
  created: 1,
  model: "M",
  choices: [{ index: 0, text: "", logprobs: null, finish_reason: finish, stop_reason: null, ...choice }],
});

async function* from(items: Chunk[]): AsyncIterable<Chunk> {
  for (const c of items) yield c;
}

async function guard(chunks: Chunk[], mode: "buffered" | "incremental", op: "chat" | "completion" = "chat"): Promise<Chunk[]> {
  const out: Chunk[] = [];
  for await (const c of engine.guardStream(from(chunks), op, mode, () => {})) out.push(c);
  return out;
}

/** Every string of every choice, concatenated per choice and key path (array elements by position, tool calls by index). */
function byPath(chunks: Chunk[]): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (node: unknown, at: string, key: string | undefined) => {
    if (typeof node === "string") {
      if (node !== "" && !["id", "type", "role", "finish_reason"].includes(key ?? "")) out.set(at, (out.get(at) ?? "") + node);
    } else if (Array.isArray(node)) node.forEach((v, i) => walk(v, key === "tool_calls" ? `${at}[t${(v as any)?.index ?? i}]` : `${at}[${i}]`, undefined));
    else if (node !== null && typeof node === "object") for (const [k, v] of Object.entries(node)) if (k !== "index") walk(v, `${at}.${k}`, k);
  };
  for (const c of chunks) for (const ch of c.choices as any[]) walk(ch, String(ch.index), undefined);
  return out;
}

/** Every number and boolean of every choice, per choice and key path, in order. */
function scalars(chunks: Chunk[]): string[] {
  const out: string[] = [];
  const walk = (node: unknown, at: string) => {
    if (typeof node === "number" || typeof node === "boolean") out.push(`${at}=${node}`);
    else if (Array.isArray(node)) node.forEach((v, i) => walk(v, `${at}[${i}]`));
    else if (node !== null && typeof node === "object") for (const [k, v] of Object.entries(node)) if (k !== "index") walk(v, `${at}.${k}`);
  };
  for (const c of chunks) for (const ch of c.choices as any[]) walk(ch, String(ch.index));
  return out;
}

const MODES = ["incremental", "buffered"] as const;
/** Pieces any of which in an output means a value got through. */
const RAW = ["jane.do", "e@example", "example.com", "555-26", "2671", "4111", "1111 1111", "078-05", "05-1120"];
const leaks = (chunks: Chunk[]) => RAW.filter((r) => JSON.stringify(chunks).includes(r));

// Each shape: a text split over events under one path of a chat chunk's choice.
const shapes: [string, (t: string) => Record<string, unknown>, string][] = [
  ["an unknown delta key", (t) => ({ delta: { foo_text: t } }), "0.delta.foo_text"],
  ["vLLM's reasoning", (t) => ({ delta: { reasoning: t } }), "0.delta.reasoning"],
  ["a nested object's string (delta.foo.bar)", (t) => ({ delta: { foo: { bar: t } } }), "0.delta.foo.bar"],
  ["a string in an array of objects (delta.notes[0].body)", (t) => ({ delta: { notes: [{ body: t }] } }), "0.delta.notes[0].body"],
  ["a string in an array (delta.lines[1])", (t) => ({ delta: { lines: [null, t] } }), "0.delta.lines[1]"],
  ["an unknown key of the choice (beside delta)", (t) => ({ delta: {}, vendor_text: t }), "0.vendor_text"],
  ["an audio transcript", (t) => ({ delta: { audio: { id: "a1", transcript: t } } }), "0.delta.audio.transcript"],
];

describe("stream guard: text under any key of a streamed choice is guarded across events", () => {
  for (const [name, shape, path] of shapes)
    for (const mode of MODES)
      it(`${mode}: ${name}`, async () => {
        const pieces = ["contact jane.do", "e@example.com now, or (415) 555-26", "71; card 4111 1111", " 1111 1111 end"];
        const out = await guard([...pieces.map((p) => chat(shape(p))), stop()], mode);
        expect(leaks(out)).toEqual([]);
        expect(byPath(out).get(path)).toBe("contact [REDACTED:EMAIL] now, or [REDACTED:PHONE]; card [REDACTED:CREDIT_CARD] end");
      });

  for (const mode of MODES)
    it(`${mode}: an unknown key of a completion's choice`, async () => {
      const out = await guard([cmpl({ text: "Hi ", note: "ssn 078-05" }), cmpl({ text: "there", note: "-1120 ok" }), cmpl({}, "length")], mode, "completion");
      expect(leaks(out)).toEqual([]);
      const got = byPath(out);
      expect(got.get("0.note")).toBe("ssn [REDACTED:SSN] ok");
      expect(got.get("0.text")).toBe("Hi there");
    });

  it("per choice: the same key on two choices is two texts", async () => {
    // Choice 1's piece between choice 0's two must not join them (nor be joined).
    const out = await guard([chat({ delta: { foo_text: "mail jane.do" } }, 0), chat({ delta: { foo_text: "e@example.com" } }, 1), chat({ delta: { foo_text: "e@example.com" } }, 0), stop(0), stop(1)], "incremental");
    const got = byPath(out);
    expect(got.get("0.delta.foo_text")).toBe("mail [REDACTED:EMAIL]");
    expect(got.get("1.delta.foo_text")).toBe("[REDACTED:EMAIL]");
  });

  it("per key path: two unknown keys of one delta are two texts", async () => {
    // Joined, `call (415) 555-` and `2671` would be one phone; they are two fields, each left as it is.
    const out = await guard([chat({ delta: { a_text: "call (415) 555-" } }), chat({ delta: { b_text: "2671" } }), stop()], "incremental");
    const got = byPath(out);
    expect(got.get("0.delta.a_text")).toBe("call (415) 555-");
    expect(got.get("0.delta.b_text")).toBe("2671");
  });

  it("numbers, booleans and nulls under unknown keys pass untouched, in the chunk they came in", async () => {
    const input = [chat({ delta: { content: "hi", score: 0.5, flags: { safe: true, n: 3, none: null }, ids: [1, 2] } }), chat({ delta: { content: "!", score: 0.75 } }), stop()];
    for (const mode of MODES) {
      const out = await guard(input, mode);
      expect(scalars(out)).toEqual(scalars(input));
      expect((out[0]!.choices as any[])[0].delta.flags).toEqual({ safe: true, n: 3, none: null });
    }
  });

  it("incremental: ordinary text under an unknown key streams as content does (a word or so behind)", async () => {
    const answer = "Thinking about the question: the user wants a summary of the meeting, so list the decisions first and then the open items.";
    const words = answer.match(/\s*\S+/g)!;
    let i = 0;
    let sent = 0;
    let emitted = 0;
    for await (const c of engine.guardStream(from([...words.map((w) => chat({ delta: { reasoning: w } })), stop()]), "chat", "incremental", () => {})) {
      emitted += ((c.choices as any[])[0]?.delta?.reasoning ?? "").length;
      if (i < words.length) {
        sent += words[i]!.length;
        expect(sent - emitted, `after word ${i}`).toBeLessThanOrEqual(40);
      }
      i++;
    }
    expect(emitted).toBe(answer.length);
  });

  it("a tool's name still goes out whole, in its own chunk", async () => {
    const tc = (fn: Record<string, unknown>, extra = {}) => chat({ delta: { tool_calls: [{ index: 0, ...extra, function: fn }] } });
    const out = await guard([tc({ name: "send_mail", arguments: "" }, { id: "c1", type: "function" }), tc({ arguments: '{"to":"jane.do' }), tc({ arguments: 'e@example.com"}' }), stop()], "incremental");
    expect((out[0]!.choices as any[])[0].delta.tool_calls[0].function.name).toBe("send_mail");
    expect(leaks(out)).toEqual([]);
  });

  for (const mode of MODES)
    it(`${mode}: a vendor's field beside the choices (top level), once, ids and numbers as sent`, async () => {
      const top = (vendor_note: string, meta: string | undefined, choice: Record<string, unknown>): Chunk => ({
        ...chat(choice),
        system_fingerprint: "fp_1",
        vendor_note,
        ...(meta === undefined ? {} : { meta: { note: meta, n: 1 } }),
      });
      const input = [top("mail jane.do", "call (415) 555-26", { delta: { content: "Hi" } }), top("e@example.com ok", "71 now", { delta: { content: " you" } }), top("", undefined, { delta: {}, finish_reason: "stop" })];
      const out = await guard(input, mode);
      expect(leaks(out)).toEqual([]);
      const joined = (f: (c: any) => unknown) => out.map((c) => f(c)).filter((x) => typeof x === "string").join("");
      expect(joined((c) => c.vendor_note)).toBe("mail [REDACTED:EMAIL] ok");
      expect(joined((c) => c.meta?.note)).toBe("call [REDACTED:PHONE] now");
      expect(byPath(out).get("0.delta.content")).toBe("Hi you");
      for (const c of out) expect(c).toMatchObject({ id: base.id, object: base.object, model: "M", system_fingerprint: "fp_1" });
      expect(out.filter((c) => (c as any).meta?.n === 1).length).toBeGreaterThanOrEqual(2);
    });

  it("concat(guard(any chunking of T)) == guard(T) under an unknown nested key, both modes", async () => {
    const fragments = ["jane.doe@example.com", "(415) 555-2671", "4111 1111 1111 1111", "078-05-1120", " ", "hello ", "a", "@", "1", "-", ". ", "the quick brown fox "];
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.constantFrom(...fragments), { minLength: 1, maxLength: 25 }),
        fc.array(fc.nat(1000), { maxLength: 20 }),
        fc.constantFrom(...MODES),
        async (parts, cuts, mode) => {
          const text = parts.join("");
          const whole = await engine.evaluateText(text, "response");
          const out = await guard([...cutText(text, cuts).map((p) => chat({ delta: { vendor: { detail_text: p } } })), stop()], mode);
          expect(byPath(out).get("0.delta.vendor.detail_text") ?? "").toBe(whole.redactedText);
        },
      ),
      { numRuns: 150 },
    );
  });
});

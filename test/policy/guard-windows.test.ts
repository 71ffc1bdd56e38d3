/**
 * A guard model on an incremental stream: the answer is judged in windows of
 * `stream_window_tokens` x 4 characters, each with the window before it as context, and a
 * window's text goes out only once the guard has cleared it and every window before it. Ordering
 * is asserted (what had been cleared when each chunk went out), never time.
 */
import { describe, expect, it } from "vitest";
import type { Chunk } from "../../src/wire/index.js";
import { compilePolicyEngine, type GovernanceEvent } from "../../src/policy/index.js";
import type { AskGuard } from "../../src/policy/content/index.js";
import { fakeGuardModel, type Kind } from "../fixtures/fake-guard-model.js";
import { configWith } from "./helpers.js";

const base = { id: "chatcmpl-X", object: "chat.completion.chunk", created: 1, model: "M" };
const textChunk = (content: string): Chunk => ({ ...base, choices: [{ index: 0, delta: { content }, logprobs: null, finish_reason: null }] });
const stopChunk = (): Chunk => ({ ...base, choices: [{ index: 0, delta: { content: "" }, logprobs: null, finish_reason: "stop", stop_reason: null }] });
const contentOf = (chunks: Chunk[]) => chunks.map((c) => ((c.choices as any[])[0]?.delta?.content as string | undefined) ?? "").join("");

async function* pieces(texts: string[], log?: string[]): AsyncIterable<Chunk> {
  for (const t of texts) {
    log?.push(`upstream:${t}`);
    yield textChunk(t);
  }
  yield stopChunk();
}

const WINDOW_TOKENS = 4; // 16 characters
const engineFor = (kind: Kind, askGuard: AskGuard, extra = {}) =>
  compilePolicyEngine(
    configWith([{ id: "gov", rules: [{ type: "content_filter", id: "g", engine: kind, target: "guard", categories: ["violence"], apply_to: "response", stream_window_tokens: WINDOW_TOKENS, verdict_cache: 0, ...extra }] }]),
    { askGuard },
  );

/** The assistant text each guard call judged (the formats carry it differently). */
function judgedText(kind: Kind, messages: { role: string; content: string }[]): string {
  if (kind === "shieldgemma") return /Chatbot Response: ([\s\S]*?)\n<end_of_turn>/.exec(messages[0]!.content)![1]!;
  return messages[messages.length - 1]!.content;
}

const answer = "The quick brown fox jumps over the lazy dog, and then it naps in the warm sun for a while.";
const split = (t: string, n: number) => t.match(new RegExp(`[\\s\\S]{1,${n}}`, "g"))!;

for (const kind of ["llama_guard", "shieldgemma", "granite_guardian"] as Kind[]) {
  describe(`${kind} on an incremental stream`, () => {
    it("judges windows with the window before as context; nothing goes out before its window is cleared", async () => {
      const judged: string[] = [];
      /** Characters of the answer cleared so far (the end of the last window answered safe, in order). */
      let clearedUpTo = 0;
      const inner = fakeGuardModel(kind, () => false);
      const engine = engineFor(kind, async (t, messages, s, extra) => {
        const text = judgedText(kind, messages);
        judged.push(text);
        const reply = await inner(t, messages, s, extra);
        // Windows are judged in order here; the one answered covers the answer up to its end.
        const end = answer.indexOf(text) + text.length;
        clearedUpTo = Math.max(clearedUpTo, end);
        return reply;
      });
      const out: Chunk[] = [];
      for await (const c of engine.guardStream(pieces(split(answer, 5)), "chat", "incremental", () => {})) {
        out.push(c);
        // Whatever has gone out lies inside the windows the guard had cleared when it went.
        expect(contentOf(out).length).toBeLessThanOrEqual(clearedUpTo);
      }
      expect(contentOf(out)).toBe(answer);
      const w = WINDOW_TOKENS * 4;
      // Windows end between words, at most one window long (no word here is longer); each call
      // carries the window's text and up to one window before it as context.
      expect(judged.length).toBeGreaterThanOrEqual(Math.ceil(answer.length / w));
      for (const t of judged) {
        expect(answer).toContain(t);
        expect(t.length).toBeLessThanOrEqual(2 * w);
      }
      const ends = judged.map((t) => answer.indexOf(t) + t.length);
      for (const e of ends.slice(0, -1)) expect(answer[e - 1]).toBe(" ");
      expect(ends.at(-1)).toBe(answer.length);
      // Each call after the first starts inside the window before it (the context).
      for (let k = 1; k < judged.length; k++) expect(answer.indexOf(judged[k]!)).toBeLessThan(ends[k - 1]!);
      // Released before the stream ended: the first windows did not wait for the whole answer.
      expect(out.length).toBeGreaterThan(2);
    });

    it("an unsafe window stops the stream: none of it goes out, the event says leakBoundChars 0", async () => {
      // "bomb" runs across the third window's nominal edge (48 characters in): windows end between
      // words, so none of it goes out with the window before.
      const text = "Sure, here are some helpful notes for you: a bo" + "mb is made like this and then you light it carefully.";
      expect(text.indexOf("bomb")).toBeLessThan(48);
      expect(text.indexOf("bomb") + 4).toBeGreaterThan(48);
      const engine = engineFor(kind, fakeGuardModel(kind, (t) => /\bbomb\b/.test(t)));
      const events: GovernanceEvent[] = [];
      const out: Chunk[] = [];
      const err = await (async () => {
        for await (const c of engine.guardStream(pieces(split(text, 3)), "chat", "incremental", (e) => events.push(e))) out.push(c);
      })().catch((e) => e);
      expect(err.code).toBe("KT_ERR_POLICY_BLOCKED");
      const sent = contentOf(out);
      expect(sent).not.toContain("bo");
      expect(text.startsWith(sent)).toBe(true);
      // The windows before the unsafe one were cleared and went out.
      expect(sent.length).toBeGreaterThanOrEqual(30);
      expect(events).toEqual([
        expect.objectContaining({ engine: kind, action: "block", phase: "response", leakBoundChars: 0, counts: { violence: 1 }, verdict: { category: "violence", score: 1, threshold: 1 } }),
      ]);
    });
  });
}

describe("windowed guard: the upstream and fail-open", () => {
  it("a block while the upstream is silent ends the stream at once and cancels the upstream", async () => {
    let cancelled = false;
    let resume: () => void = () => {};
    async function* upstream(): AsyncIterable<Chunk> {
      yield textChunk("A bomb: step one, step two, step three.");
      // The model goes quiet: only a cancel ends this read.
      await new Promise<void>((r) => (resume = r));
      yield textChunk(" more");
    }
    const engine = engineFor("llama_guard", fakeGuardModel("llama_guard", (t) => /\bbomb\b/.test(t)));
    const it = engine.guardStream(upstream(), "chat", "incremental", () => {}, undefined, () => {
      cancelled = true;
      resume();
    });
    const out: Chunk[] = [];
    const err = await (async () => {
      for await (const c of it) out.push(c);
    })().catch((e) => e);
    expect(err.code).toBe("KT_ERR_POLICY_BLOCKED");
    expect(cancelled).toBe(true);
    // The chunk's envelope went out with its text held back; none of the text did.
    expect(contentOf(out)).toBe("");
  });

  it("a guard failure on a window: fails closed by default, open (recorded) when configured", async () => {
    const down = async () => Promise.reject(new Error("connect ECONNREFUSED"));
    const closed = engineFor("llama_guard", down);
    const out: Chunk[] = [];
    const err = await (async () => {
      for await (const c of closed.guardStream(pieces(split(answer, 7)), "chat", "incremental", () => {})) out.push(c);
    })().catch((e) => e);
    expect(err.code).toBe("KT_ERR_POLICY_ENGINE_UNAVAILABLE");
    expect(contentOf(out)).toBe("");

    const open = engineFor("llama_guard", down, { fail_open: true });
    const events: GovernanceEvent[] = [];
    const all: Chunk[] = [];
    for await (const c of open.guardStream(pieces(split(answer, 7)), "chat", "incremental", (e) => events.push(e))) all.push(c);
    expect(contentOf(all)).toBe(answer);
    expect(events).toEqual([expect.objectContaining({ engine: "llama_guard", failedOpen: true, leakBoundChars: 0 })]);
  });

  it("buffered mode judges the whole answer once", async () => {
    const calls: unknown[] = [];
    const engine = engineFor("llama_guard", fakeGuardModel("llama_guard", () => false, calls as never));
    const out: Chunk[] = [];
    for await (const c of engine.guardStream(pieces(split(answer, 5)), "chat", "buffered", () => {})) out.push(c);
    expect(contentOf(out)).toBe(answer);
    expect(calls).toHaveLength(1);
  });
});

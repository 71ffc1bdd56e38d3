import { describe, expect, it } from "vitest";
import { compilePolicyEngine } from "../../src/policy/index.js";
import type { Chunk } from "../../src/wire/index.js";
import { configWith } from "../policy/helpers.js";

const engine = compilePolicyEngine(configWith([{ id: "p", rules: [{ type: "pii_detection", action: "redact", patterns: ["email"], apply_to: "response" }] }]));

const chunk = (content: string, finish: string | null): Chunk => ({
  id: "c1",
  object: "chat.completion.chunk",
  created: 1,
  model: "m",
  choices: [{ index: 0, delta: { content }, logprobs: null, finish_reason: finish }],
});

async function* upstream(chunks: Chunk[]): AsyncGenerator<Chunk> {
  for (const c of chunks) yield c;
}

async function run(mode: "incremental" | "buffered", chunks: Chunk[]): Promise<{ seen: string[]; text: string }> {
  const seen: string[] = [];
  for await (const c of engine.guardStream(upstream(chunks), "chat", mode, () => {})) seen.push(JSON.stringify(c));
  const text = seen.map((s) => (JSON.parse(s).choices as { delta?: { content?: string } }[]).map((c) => c.delta?.content ?? "").join("")).join("");
  return { seen, text };
}

describe("the incremental guard holds a choice until [DONE], not until its finish_reason", () => {
  for (const mode of ["incremental", "buffered"] as const)
    it(`${mode}: an email split across a finish_reason chunk is redacted whole`, async () => {
      const { seen, text } = await run(mode, [chunk("write to bob.smith@exa", "stop"), chunk("mple.com today", null)]);
      expect(text).toBe("write to [REDACTED:EMAIL] today");
      for (const s of seen) expect(s).not.toMatch(/bob\.smith|exa(?!mple)/);
      // The finish_reason still goes out, once.
      expect(seen.filter((s) => s.includes('"finish_reason":"stop"'))).toHaveLength(1);
    });

  it("an ordinary stream is unchanged: the tail goes into the finish chunk", async () => {
    const { seen, text } = await run("incremental", [chunk("mail alice@example.org", null), chunk(" now", "stop")]);
    expect(text).toBe("mail [REDACTED:EMAIL] now");
    const last = JSON.parse(seen.at(-1)!);
    expect(last.choices[0].finish_reason).toBe("stop");
  });
});

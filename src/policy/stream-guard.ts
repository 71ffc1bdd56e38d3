import type { Chunk, JsonObject, Operation } from "../wire/index.js";
import type { CompiledRule } from "./compiled-rule.js";
import type { AskGuard } from "./content/index.js";
import type { GovernanceEvent } from "./governance-event.js";
import { PolicyError } from "./policy-error.js";
import { createStage, StageChain, StageStop, type RuleTally } from "./text-stage.js";

function isObject(v: unknown): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

type Field = { kind: "content" } | { kind: "reasoning" } | { kind: "text" } | { kind: "tool"; index: number };

function channelKey(choice: number, f: Field): string {
  return f.kind === "tool" ? `${choice}:tool:${f.index}` : `${choice}:${f.kind}`;
}

/**
 * Runs a response stream through the response-phase rules. Each text channel of each choice (content,
 * reasoning, every tool call's arguments, completion text) has its own chain of stages; a choice's
 * channels are flushed into the chunk that carries its finish_reason. Chunks keep their ids, roles,
 * finish reasons and usage; only text fields change.
 */
export class StreamGuard {
  private readonly tallies: RuleTally[];
  private readonly channels = new Map<string, { chain: StageChain; choice: number; field: Field; finished: boolean }>();
  private last: JsonObject | undefined;

  constructor(
    private readonly rules: readonly CompiledRule[],
    private readonly askGuard: AskGuard | undefined,
    private readonly signal: AbortSignal | undefined,
  ) {
    this.tallies = rules.map((rule) => ({ rule, counts: {}, fired: false, failedOpen: false }));
  }

  private channel(choice: number, field: Field) {
    const key = channelKey(choice, field);
    let ch = this.channels.get(key);
    if (!ch) {
      const json = field.kind === "tool";
      ch = { chain: new StageChain(this.tallies.map((t) => createStage(t, json, this.askGuard, this.signal))), choice, field, finished: false };
      this.channels.set(key, ch);
    }
    return ch;
  }

  /** One input chunk to the chunks to send (usually one). */
  async transform(chunk: Chunk): Promise<Chunk[]> {
    if (!Array.isArray(chunk.choices) || chunk.choices.length === 0) return [chunk];
    this.last = chunk;
    const choices = await Promise.all(chunk.choices.map((c, i) => this.transformChoice(c, i)));
    return [{ ...chunk, choices }];
  }

  private async transformChoice(c: unknown, position: number): Promise<unknown> {
    if (!isObject(c)) return c;
    const choice = typeof c.index === "number" ? c.index : position;
    const out: JsonObject = { ...c };
    if (typeof c.text === "string") out.text = this.channel(choice, { kind: "text" }).chain.push(c.text);
    if (isObject(c.delta)) {
      const d: JsonObject = { ...c.delta };
      if (typeof d.content === "string") d.content = this.channel(choice, { kind: "content" }).chain.push(d.content);
      if (typeof d.reasoning_content === "string")
        d.reasoning_content = this.channel(choice, { kind: "reasoning" }).chain.push(d.reasoning_content);
      if (Array.isArray(d.tool_calls))
        d.tool_calls = d.tool_calls.map((tc, i) => {
          if (!isObject(tc) || !isObject(tc.function) || typeof tc.function.arguments !== "string") return tc;
          const index = typeof tc.index === "number" ? tc.index : i;
          const args = this.channel(choice, { kind: "tool", index }).chain.push(tc.function.arguments);
          return { ...tc, function: { ...tc.function, arguments: args } };
        });
      out.delta = d;
    }
    if (c.finish_reason !== null && c.finish_reason !== undefined) await this.flushChoice(choice, out);
    return out;
  }

  /** Appends the held-back tails of a choice's channels to `out` (a choice object of a chunk). */
  private async flushChoice(choice: number, out: JsonObject): Promise<void> {
    for (const ch of this.channels.values()) {
      if (ch.choice !== choice || ch.finished) continue;
      ch.finished = true;
      const tail = await ch.chain.finish();
      if (tail === "") continue;
      const f = ch.field;
      if (f.kind === "text") out.text = (typeof out.text === "string" ? out.text : "") + tail;
      else {
        const d: JsonObject = isObject(out.delta) ? (out.delta as JsonObject) : {};
        out.delta = d;
        if (f.kind === "content") d.content = (typeof d.content === "string" ? d.content : "") + tail;
        else if (f.kind === "reasoning") d.reasoning_content = (typeof d.reasoning_content === "string" ? d.reasoning_content : "") + tail;
        else {
          const index = f.index;
          const calls = Array.isArray(d.tool_calls) ? [...d.tool_calls] : [];
          const k = calls.findIndex((tc) => isObject(tc) && tc.index === index);
          if (k === -1) calls.push({ index, function: { arguments: tail } });
          else {
            const tc = calls[k] as JsonObject;
            const fn = isObject(tc.function) ? tc.function : {};
            calls[k] = { ...tc, function: { ...fn, arguments: (typeof fn.arguments === "string" ? fn.arguments : "") + tail } };
          }
          d.tool_calls = calls;
        }
      }
    }
  }

  /** Flushes channels whose choice never sent a finish_reason, as extra chunks shaped like the last one. */
  async end(): Promise<Chunk[]> {
    const out: Chunk[] = [];
    const open = new Set([...this.channels.values()].filter((c) => !c.finished).map((c) => c.choice));
    for (const choice of open) {
      const c: JsonObject = { index: choice };
      await this.flushChoice(choice, c);
      if (c.text === undefined && c.delta === undefined) continue;
      c.logprobs = null;
      c.finish_reason = null;
      const { choices: _choices, usage: _usage, ...rest } = this.last ?? {};
      out.push({ ...rest, choices: [c] });
    }
    return out;
  }

  events(): GovernanceEvent[] {
    const out: GovernanceEvent[] = [];
    for (const t of this.tallies) {
      if (!t.fired) continue;
      const r = t.rule;
      const e: GovernanceEvent = {
        policy: r.policy,
        rule: r.rule,
        ruleType: r.kind,
        action: t.stop ? "block" : r.action,
        phase: "response",
        counts: { ...t.counts },
      };
      if (r.kind === "content_filter") {
        e.engine = r.engine;
        if (r.engine === "llama_guard") e.failedOpen = t.failedOpen;
      }
      out.push(e);
    }
    return out;
  }

  toError(stop: StageStop): PolicyError {
    const s = stop.tally.stop!;
    return new PolicyError(s.code, s.message, stop.tally.rule, this.events(), s.cause);
  }
}

/** guardStream's body: see PolicyEngine.guardStream. */
export async function* guardChunks(
  rules: readonly CompiledRule[],
  chunks: AsyncIterable<Chunk>,
  _op: Operation,
  mode: "buffered" | "incremental",
  onEvent: (e: GovernanceEvent) => void,
  askGuard: AskGuard | undefined,
  signal: AbortSignal | undefined,
): AsyncIterable<Chunk> {
  const guard = new StreamGuard(rules, askGuard, signal);
  const report = () => {
    for (const e of guard.events()) onEvent(e);
  };
  const fail = (e: unknown): never => {
    if (e instanceof StageStop) {
      const err = guard.toError(e);
      report();
      throw err;
    }
    throw e;
  };
  if (mode === "buffered") {
    const held: Chunk[] = [];
    try {
      for await (const chunk of chunks) held.push(...(await guard.transform(chunk)));
      held.push(...(await guard.end()));
    } catch (e) {
      fail(e);
    }
    report();
    yield* held;
    return;
  }
  try {
    for await (const chunk of chunks) yield* await guard.transform(chunk);
    yield* await guard.end();
  } catch (e) {
    fail(e);
  }
  report();
}

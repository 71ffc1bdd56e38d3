import { keepRawChunk, rawChunkOf, type Chunk, type JsonObject } from "../wire/index.js";
import type { PolicyEngine } from "./policy-engine.js";

/**
 * A fresh process runs its chain in V8's unoptimised tiers until each function has been called
 * often enough: at the concurrency of a quiet deployment (or the first minute after a restart) a
 * request's policy work costs two to three times what it does once warm. Measured in process on
 * the benchmark's full chain, the time-to-first-token path (request check, then the incremental
 * guard over a 20-event stream) with 20 ms between calls, p50 of the first 30 calls at load ~7:
 * 1.5-2.4 ms cold, 0.78 ms after 300 warm-up calls, 0.62-0.71 ms after 1,000.
 *
 * So `kt gateway` runs the compiled chain on made-up traffic before its listener opens. Only this
 * process's code is touched: the engine's own calls, never the pipeline, so no audit record, no
 * limit, no metric and no upstream call. A chain with a guard-model rule is not warmed at all (its
 * checks would call the model).
 */
export interface WarmOptions {
  /** Request/response/stream rounds; each is well under a millisecond once warm. */
  rounds?: number;
  /** Awaited between rounds, so signals and timers are served meanwhile. */
  turn?: () => Promise<void>;
}

const PROMPTS = [
  "Summarise the quarterly report in three short bullet points for the board.",
  "Hi, I'm Jane Smith. Email jane.smith@example.com or call +1 415 555 0134 about the order shipped to 221B Baker Street, London, NW1 6XE on 2024-03-05.",
  "Card 4111 1111 1111 1111, IBAN GB82 WEST 1234 5698 7654 32, server 10.0.0.12: how do I rotate the key sk-live-0000000000000000?",
];

const ANSWER =
  "Sure. The notes went to jane.doe@example.com before the team call on Monday, and Paris is where the meeting will be held next spring.";

function chatBody(i: number, stream: boolean): JsonObject {
  return {
    model: "warm-up",
    stream,
    max_tokens: 64,
    messages: [
      { role: "system", content: "You are a helpful assistant." },
      { role: "user", content: PROMPTS[i % PROMPTS.length]! },
    ],
  };
}

function answer(): JsonObject {
  return {
    id: "chatcmpl-warm",
    object: "chat.completion",
    created: 1,
    model: "warm-up",
    choices: [{ index: 0, message: { role: "assistant", content: ANSWER }, logprobs: null, finish_reason: "stop", stop_reason: null }],
    usage: { prompt_tokens: 30, completion_tokens: 28, total_tokens: 58 },
  };
}

/** The upstream's events as the upstream client hands them on: parsed, with their raw text kept. */
const EVENTS: string[] = (() => {
  const head = { id: "chatcmpl-warm", object: "chat.completion.chunk", created: 1, model: "warm-up" };
  const ev = (delta: JsonObject, finish: string | null) => JSON.stringify({ ...head, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] });
  const words = ANSWER.split(" ").map((w, i) => (i === 0 ? w : ` ${w}`));
  return [
    ev({ role: "assistant", content: "" }, null),
    ...words.map((w) => ev({ content: w }, null)),
    ev({ content: "" }, "stop"),
    JSON.stringify({ ...head, choices: [], usage: { prompt_tokens: 30, completion_tokens: words.length, total_tokens: 30 + words.length } }),
  ];
})();

async function* upstream(): AsyncIterable<Chunk> {
  for (const data of EVENTS) {
    const c = JSON.parse(data) as Chunk;
    keepRawChunk(c, data);
    yield c;
  }
}

/** Whether warming this engine would stay inside the process (no guard-model rule). */
export function warmable(engine: PolicyEngine): boolean {
  return !engine.usesSignal && !engine.judgesStreamsByModel;
}

/**
 * Runs `engine` on made-up requests, answers and streams. A block (a rule that refuses one of the
 * made-up prompts) is part of the warm-up, not a failure. Resolves with the rounds run (0 when the
 * engine is not warmable).
 */
export async function warmPolicyEngine(engine: PolicyEngine, mode: "buffered" | "incremental", opts: WarmOptions = {}): Promise<number> {
  if (!warmable(engine) || !engine.enabled) return 0;
  const rounds = opts.rounds ?? 400;
  for (let i = 0; i < rounds; i++) {
    const stream = i % 2 === 0;
    try {
      // Without request rules this returns the body as it came: cheap, and the same call the pipeline makes.
      const r = engine.startRequest(chatBody(i, stream), "chat");
      JSON.stringify((r instanceof Promise ? await r : r).body);
      if (engine.hasResponseRules) {
        if (stream) {
          for await (const c of engine.guardStream(upstream(), "chat", mode, () => {})) rawChunkOf(c) ?? JSON.stringify(c);
        } else {
          const r = engine.checkResponse(answer(), "chat");
          JSON.stringify((r instanceof Promise ? await r : r).body);
        }
      }
    } catch {
      // A made-up prompt refused by a rule: that path is warmed too.
    }
    if (opts.turn) await opts.turn();
  }
  return rounds;
}

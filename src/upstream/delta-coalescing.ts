import { coalescedChunk, isJsonObject, type Chunk, type JsonObject } from "../wire/index.js";

/**
 * Content deltas already queued together, handed on as one chunk.
 *
 * Why: a guarded stream's cost is per chunk, not per character — the guard's walk and its stages,
 * a serialisation, a write and a promise per layer. An upstream that sends one-character deltas as
 * fast as its socket goes (an attack, or a fast model on a busy gateway) queues hundreds of them per
 * read; relayed one by one, four such streams kept the main thread busy (~13 µs of CPU a delta,
 * /healthz p99 over 100 ms). Deltas the upstream has already sent and the gateway has not yet taken
 * are taken as one: the client reads the same text in fewer, longer events, as a faster model's
 * stream would have sent it. Nothing waits to be coalesced: a chunk goes as soon as it would have
 * gone, with whatever came behind it meanwhile.
 *
 * Only the plainest chunks coalesce, where the text is all that differs: one choice, its text a
 * string (`delta.content` alone, or a completion's `text`), every other field of the choice null
 * but its `index`, every field of the chunk outside `choices` a number, boolean, null or one of the
 * envelope's strings (id, object, model...), and those equal to the first chunk's. A role, a
 * finish, logprobs, tool calls, a usage object, a vendor's string or an unknown nested field keeps
 * a chunk (and what follows it) separate, as does an event of a different id or model.
 */

/** Text one coalesced chunk may carry: a quarter of what the guard takes per slice (SLICE_CHARS). */
export const MAX_COALESCED_CHARS = 4096;

/** String fields of a chunk that name it rather than carry text: equal ones coalesce. */
const ENVELOPE: ReadonlySet<string> = new Set(["id", "object", "model", "system_fingerprint", "service_tier"]);

/** The choice of a chunk that may coalesce, or undefined. */
export function plainChoice(chunk: Chunk): JsonObject | undefined {
  const list = chunk.choices;
  if (!Array.isArray(list) || list.length !== 1) return undefined;
  const choice = list[0];
  if (!isJsonObject(choice)) return undefined;
  for (const k in chunk) {
    if (k === "choices") continue;
    const v = chunk[k];
    if (v !== null && typeof v === "object") return undefined;
    // A vendor's string beside the choices is text the guard streams per key path: two equal
    // ones are two pieces of it, not one value said twice, so they keep their chunks apart.
    if (typeof v === "string" && !ENVELOPE.has(k)) return undefined;
  }
  return choice;
}

/** The running text of a plain choice (see plainChoice), or undefined when anything else varies. */
export function plainText(choice: JsonObject): string | undefined {
  let text: string | undefined;
  for (const k in choice) {
    const v = choice[k];
    if (k === "delta") {
      if (text !== undefined || !isJsonObject(v)) return undefined;
      for (const d in v) if (d !== "content") return undefined;
      const c = v.content;
      if (typeof c !== "string") return undefined;
      text = c;
    } else if (k === "text") {
      if (text !== undefined || typeof v !== "string") return undefined;
      text = v;
    } else if (k === "index") {
      if (typeof v !== "number") return undefined;
    } else if (v !== null) return undefined;
  }
  return text;
}

/** The text of `next` when it differs from `first` (whose choice is `firstChoice`) in its text only. */
export function followingText(first: Chunk, firstChoice: JsonObject, next: Chunk): string | undefined {
  const choice = plainChoice(next);
  if (choice === undefined) return undefined;
  const text = plainText(choice);
  if (text === undefined) return undefined;
  let keys = 0;
  for (const k in next) {
    keys++;
    if (k !== "choices" && next[k] !== first[k]) return undefined;
  }
  for (const k in first) keys--;
  if (keys !== 0) return undefined;
  for (const k in choice) {
    keys++;
    if (k === "delta" || k === "text") {
      if (firstChoice[k] === undefined) return undefined;
    } else if (choice[k] !== firstChoice[k]) return undefined;
  }
  for (const k in firstChoice) keys--;
  return keys === 0 ? text : undefined;
}

/**
 * Takes `queue[at]` and the chunks after it that coalesce with it (up to `end`, at most
 * MAX_COALESCED_CHARS of text): the chunk to hand on, and how many queued chunks it stands for.
 */
export function takeCoalesced(queue: readonly Chunk[], at: number, end: number): { chunk: Chunk; taken: number } {
  const first = queue[at]!;
  const choice = at + 1 < end ? plainChoice(first) : undefined;
  const text = choice && plainText(choice);
  if (choice === undefined || text === undefined) return { chunk: first, taken: 1 };
  let parts: string[] | undefined;
  let chars = text.length;
  let i = at + 1;
  for (; i < end; i++) {
    const t = followingText(first, choice, queue[i]!);
    if (t === undefined || chars + t.length > MAX_COALESCED_CHARS) break;
    (parts ??= [text]).push(t);
    chars += t.length;
  }
  if (parts === undefined) return { chunk: first, taken: 1 };
  const joined = parts.join("");
  const c: JsonObject = { ...choice };
  if (c.delta !== undefined) c.delta = { content: joined };
  else c.text = joined;
  return { chunk: coalescedChunk({ ...first, choices: [c] }, parts.length), taken: parts.length };
}

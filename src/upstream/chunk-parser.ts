import { GatewayError } from "../errors/index.js";
import type { Chunk, JsonObject } from "../wire/index.js";
import { followingText, plainChoice, plainText } from "./delta-coalescing.js";

/** One SSE event's data as a chunk: a JSON object, or the upstream's mid-stream error thrown. */
export function parseChunk(data: string, event: string | undefined, targetId: string): Chunk {
  let obj: any;
  try {
    obj = JSON.parse(data);
  } catch {
    throw new GatewayError("KT_ERR_UPSTREAM_PROTOCOL", `target '${targetId}' sent a stream event that is not JSON`);
  }
  if (!obj || typeof obj !== "object" || Array.isArray(obj))
    throw new GatewayError("KT_ERR_UPSTREAM_PROTOCOL", `target '${targetId}' sent a stream event that is not a JSON object`);
  if (obj.error !== undefined || event === "error") {
    const e = obj.error && typeof obj.error === "object" ? obj.error : obj;
    const msg = typeof e.message === "string" ? e.message : "upstream error";
    throw new GatewayError("KT_ERR_UPSTREAM_FAILED", `target '${targetId}' failed mid-stream: ${msg}`);
  }
  return obj as Chunk;
}

/** Where a plain chunk's text starts in its JSON, as vLLM and OpenAI write it (compact). */
const DELTA_MARK = '"delta":{"content":"';
const TEXT_MARK = '"text":"';

/** Text put where a template's text goes, to check that the template reads back as learnt. */
const PROBE = "kt-template-probe";

/** Plain events parsed in full before a stream's template is learnt again (see ChunkParser.learn). */
const RELEARN_AFTER = 8;

/**
 * Events longer than this, in characters, are parsed in full, never read from the template nor
 * learnt from. The template's check goes a character at a time (~2-3 ns each), JSON.parse's scan
 * at under 1 ns a character once past its set-up (~1.5 µs): the template wins below ~1 Ki
 * characters (a model's deltas: 0.3 against 2 µs) and loses above (a 4 Ki-character event 15
 * against 3 µs; a 900 KiB delta of prose 2-7 ms against 0.8 ms, inline where the read lands).
 */
const TEMPLATE_MAX_CHARS = 1024;

/**
 * A stream's events parsed as JSON, but the plain content deltas (delta-coalescing.ts's plain
 * chunks) read from a template instead: a model's stream repeats one text but for its delta
 * (`{"id":…,"choices":[{"index":0,"delta":{"content":"…"},"logprobs":null,"finish_reason":null}]}`),
 * and a JSON.parse of each was a quarter of the main thread's time relaying one-character deltas.
 *
 * The template is the text of a plain chunk before and after its text's string token. An event
 * that starts and ends with the same two texts, and whose middle is a string token with nothing
 * escaped in it (no `"`, `\` or control character), is that chunk with that text: JSON's grammar
 * puts the token where the template's was, and its characters are the text as they stand. A
 * template is kept only once the same substitution, made with a probe text and parsed in full,
 * gave back the template's chunk with the probe as its text (so a `"delta":{"content":"` inside
 * some other field can never be taken for the delta). Anything else, an escaped text included, is
 * parsed in full as before.
 */
export class ChunkParser {
  private prefix = "";
  private suffix = "";
  /** The learnt chunk and its choice (plain: every value but the text a string, number, boolean or null). */
  private top: Chunk | undefined;
  private choice: JsonObject | undefined;
  private inDelta = false;
  /** Plain events parsed in full since the template was learnt or last read one. */
  private misses = 0;

  constructor(private readonly targetId: string) {}

  parse(data: string, event: string | undefined): Chunk {
    if (event === undefined && data.length <= TEMPLATE_MAX_CHARS) {
      if (this.top !== undefined) {
        const text = this.templateText(data);
        if (text !== undefined) {
          this.misses = 0;
          const choice: JsonObject = { ...this.choice! };
          if (this.inDelta) choice.delta = { content: text };
          else choice.text = text;
          return { ...this.top, choices: [choice] };
        }
      }
      const chunk = parseChunk(data, event, this.targetId);
      // A template is learnt from the first plain event, and again after a few that missed it
      // (a new id or model): not from every event, which would parse each twice.
      if (this.top === undefined || ++this.misses >= RELEARN_AFTER) this.learn(data, chunk);
      return chunk;
    }
    return parseChunk(data, event, this.targetId);
  }

  /** The text of `data` when it is the template's chunk with another text, else undefined. */
  private templateText(data: string): string | undefined {
    const p = this.prefix;
    const s = this.suffix;
    const end = data.length - s.length;
    // Compared as slices (V8 compares two flat strings a word at a time; startsWith and endsWith
    // go a character at a time, ~0.3 µs each for a vLLM chunk's 150 characters).
    if (end < p.length || data.slice(end) !== s || data.slice(0, p.length) !== p) return undefined;
    for (let i = p.length; i < end; i++) {
      const c = data.charCodeAt(i);
      if (c === 34 || c === 92 || c < 32) return undefined;
    }
    return data.slice(p.length, end);
  }

  private learn(data: string, chunk: Chunk): void {
    const choice = plainChoice(chunk);
    const text = choice && plainText(choice);
    if (choice === undefined || text === undefined) return;
    const inDelta = choice.delta !== undefined;
    const mark = inDelta ? DELTA_MARK : TEXT_MARK;
    const at = data.indexOf(mark);
    if (at < 0 || data.indexOf(mark, at + 1) >= 0) return;
    const start = at + mark.length;
    // The text as written must be the text itself (nothing escaped) and its token end there.
    if (!data.startsWith(text, start) || data.charCodeAt(start + text.length) !== 34) return;
    const prefix = data.slice(0, start);
    const suffix = data.slice(start + text.length);
    let probe: Chunk;
    try {
      probe = JSON.parse(prefix + PROBE + suffix) as Chunk;
    } catch {
      return;
    }
    if (probe === null || typeof probe !== "object" || followingText(chunk, choice, probe) !== PROBE) return;
    this.prefix = prefix;
    this.suffix = suffix;
    // Copies: the chunk handed on is the consumer's.
    this.top = { ...chunk };
    this.choice = { ...choice };
    this.inDelta = inDelta;
    this.misses = 0;
  }
}

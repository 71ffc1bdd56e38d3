import type { Chunk, JsonObject } from "../wire/index.js";
import { isJsonObject } from "../wire/index.js";

/**
 * Large stream chunks cut into slices the guard takes one turn of the event loop each.
 *
 * The stream guard works on the main thread, chunk by chunk, synchronously: a model streams a few
 * characters per chunk, but an upstream may send up to an SSE event's cap (1 MiB) of text in one
 * delta, and one such delta of name-like words held the event loop for ~200 ms (four streams of
 * them froze /healthz for seconds). A chunk whose streamed text exceeds SLICE_CHARS is cut into
 * chunks of at most that much each; the guard yields to the event loop between them. Its stages
 * are exact under any cutting of a text (the incremental guard's property), so the slices decide
 * the same findings as the whole; the client reads the text in more SSE events, as a model's
 * stream would have sent it.
 */

/** Keys whose text streams in pieces; any other string arrives whole. */
export const STREAMED_KEYS: ReadonlySet<string> = new Set(["content", "text", "reasoning", "reasoning_content", "refusal", "arguments"]);

/** Fields of a streamed choice that carry no text of the answer, or close the choice. */
export const CHOICE_SKIP: ReadonlySet<string> = new Set(["index", "finish_reason", "stop_reason", "logprobs", "prompt_logprobs", "matched_stop"]);

/** Characters of streamed text per slice: ~4 ms of the full built-in set's worst shape per byte. */
export const SLICE_CHARS = 16 * 1024;

/** Fields of a choice that end it: they go on the last slice. */
const CLOSING: readonly string[] = ["finish_reason", "stop_reason", "matched_stop"];


/**
 * Whether the streamed text of `chunk` (every choice's, together) exceeds SLICE_CHARS. Cheap on
 * ordinary chunks: a look at each choice's delta (and `text`), no walk.
 */
export function isLargeChunk(chunk: Chunk): boolean {
  const list = chunk.choices;
  if (!Array.isArray(list)) return false;
  let total = 0;
  for (let i = 0; i < list.length; i++) {
    const c = list[i];
    if (!isJsonObject(c)) continue;
    if (typeof c.text === "string") total += c.text.length;
    const d = c.delta;
    if (isJsonObject(d))
      for (const k in d) {
        const v = d[k];
        if (typeof v === "string") {
          if (STREAMED_KEYS.has(k)) total += v.length;
        } else if (k === "tool_calls" && Array.isArray(v)) {
          for (const tc of v) if (isJsonObject(tc) && isJsonObject(tc.function) && typeof tc.function.arguments === "string") total += tc.function.arguments.length;
        }
      }
    if (total > SLICE_CHARS) return true;
  }
  return false;
}

/** A step into a choice: an object key, or an array position with the element's own `index` (tool calls). */
type Step = { key: string } | { at: number; index: unknown };

/** `end`, moved back one if it would split a surrogate pair of `s`. */
function pairSafe(s: string, end: number): number {
  if (end > 0 && end < s.length) {
    const c = s.charCodeAt(end - 1);
    if (c >= 0xd800 && c <= 0xdbff) return end - 1;
  }
  return end;
}

/** Per array of a slice, its elements by their position in the original array. */
type Positions = WeakMap<unknown[], Map<number, JsonObject>>;

/** Sets `value` at `path` under `root`, creating objects and arrays (array elements keep their `index`). */
function setAt(root: JsonObject, path: readonly Step[], value: string, positions: Positions): void {
  let node: any = root;
  for (let i = 0; i < path.length; i++) {
    const step = path[i]!;
    const last = i === path.length - 1;
    if ("key" in step) {
      if (last) {
        node[step.key] = value;
        return;
      }
      const next = path[i + 1]!;
      if (node[step.key] === undefined) node[step.key] = "key" in next ? {} : [];
      node = node[step.key];
    } else {
      // Array positions: one element per distinct original position, in order.
      let at = positions.get(node);
      if (at === undefined) positions.set(node, (at = new Map()));
      let el = at.get(step.at);
      if (el === undefined) {
        el = step.index === undefined ? {} : { index: step.index as number };
        at.set(step.at, el);
        (node as unknown[]).push(el);
      }
      node = el;
    }
  }
}

/**
 * The key the stream guard gives a choice: its `index` when that is a number, else its position in
 * the chunk (StreamGuard.transformChoice). The slices after the first carry it as their `index`, so
 * a choice's text stays one channel whatever the position it takes in a slice (with a non-numeric
 * index, a choice's rest was guarded in another choice's channel, and a value split at a slice
 * boundary went out unredacted). The guard's own flush chunks carry the same number.
 */
function guardKey(choice: unknown, position: number): number {
  return isJsonObject(choice) && typeof choice.index === "number" ? choice.index : position;
}

/**
 * `chunk` cut into chunks of at most SLICE_CHARS of streamed text each (counted over all its
 * choices and strings, in order: a chunk of many choices of middling text is cut as one long
 * text is). The first is the chunk itself with each streamed string's first part (possibly empty)
 * and without the fields that close a choice (finish_reason, stop_reason, matched_stop) or the
 * stream (usage); the next ones carry only the following parts (with the choice's `index`, a tool
 * call's `index`, and the chunk's id, object, created and model); the last one also carries the
 * closing fields.
 */
export function sliceChunk(chunk: Chunk): Chunk[] {
  const list = chunk.choices as unknown[];
  // The streamed strings in order, with where each part of them ends.
  const texts: { choice: number; path: Step[]; text: string; at: number }[] = [];
  let budget = SLICE_CHARS;
  const walk = (node: unknown, choice: number, path: Step[]): unknown => {
    if (typeof node === "string") {
      const last = path[path.length - 1];
      // Only where every array on the way names its element (a tool call's `index`): a slice's
      // element then stands for the same one, whatever its position in the slice's array.
      if (node.length === 0 || last === undefined || !("key" in last) || !STREAMED_KEYS.has(last.key) || !path.every((p) => "key" in p || typeof p.index === "number")) return node;
      const end = pairSafe(node, Math.min(node.length, Math.max(0, budget)));
      budget -= end;
      texts.push({ choice, path: [...path], text: node, at: end });
      return end === node.length ? node : node.slice(0, end);
    }
    if (Array.isArray(node)) {
      return node.map((v, at) => {
        path.push({ at, index: isJsonObject(v) ? v.index : undefined });
        const r = walk(v, choice, path);
        path.pop();
        return r;
      });
    }
    if (!isJsonObject(node)) return node;
    const out: JsonObject = {};
    for (const k in node) {
      if (!Object.hasOwn(node, k)) continue;
      path.push({ key: k });
      out[k] = CHOICE_SKIP.has(k) && path.length === 1 ? node[k] : walk(node[k], choice, path);
      path.pop();
    }
    return out;
  };
  const firstChoices = list.map((c, i) => walk(c, i, []));
  if (texts.every((t) => t.at === t.text.length)) return [chunk];
  const first: Chunk = { ...chunk, choices: firstChoices };
  const closing = new Map<number, JsonObject>();
  for (let i = 0; i < firstChoices.length; i++) {
    const c = firstChoices[i];
    if (!isJsonObject(c)) continue;
    const held: JsonObject = {};
    let any = false;
    for (const k of CLOSING) {
      if (c[k] !== undefined && c[k] !== null) {
        held[k] = c[k]!;
        any = true;
      }
      if (k in c) c[k] = null;
    }
    if (any) closing.set(i, held);
  }
  const usage = first.usage;
  if (usage !== undefined) delete first.usage;

  const header: JsonObject = {};
  for (const k of ["id", "object", "created", "model"]) if (chunk[k] !== undefined) header[k] = chunk[k]!;
  const parts: Chunk[] = [first];
  const positions: Positions = new WeakMap();
  let lastChoices = new Map<number, JsonObject>();
  let k = 0;
  while (k < texts.length) {
    // The next part: SLICE_CHARS more of the strings, from the first one not yet sent whole.
    const choices = new Map<number, JsonObject>();
    let room = SLICE_CHARS;
    while (k < texts.length && room > 0) {
      const t = texts[k]!;
      if (t.at >= t.text.length) {
        k++;
        continue;
      }
      const end = pairSafe(t.text, Math.min(t.text.length, t.at + room));
      if (end <= t.at) break;
      let c = choices.get(t.choice);
      if (c === undefined) {
        c = { index: guardKey(list[t.choice], t.choice) };
        choices.set(t.choice, c);
      }
      setAt(c, t.path, t.text.slice(t.at, end), positions);
      room -= end - t.at;
      t.at = end;
    }
    if (choices.size === 0) break;
    const out: JsonObject[] = [];
    for (const c of choices.values()) {
      c.finish_reason = null;
      out.push(c);
    }
    parts.push({ ...header, choices: out });
    lastChoices = choices;
  }
  const last = parts[parts.length - 1]!;
  if (closing.size > 0) {
    // The last slice's choices by their position in the chunk (none when the first is the last).
    const choices = (last === first ? [] : (last.choices as JsonObject[])).slice();
    for (const [at, held] of closing) {
      const c = last === first ? undefined : lastChoices.get(at);
      if (c) Object.assign(c, held);
      else choices.push({ index: guardKey(list[at], at), ...held });
    }
    parts[parts.length - 1] = { ...last, choices };
  }
  if (usage !== undefined) parts[parts.length - 1] = { ...parts[parts.length - 1]!, usage };
  return parts;
}

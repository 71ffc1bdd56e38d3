import { GatewayError } from "../errors/index.js";
import type { Chunk, JsonObject } from "../wire/index.js";
import { isJsonObject } from "../wire/index.js";
import { SKIPPED_KEYS } from "./body-texts.js";

/**
 * Large stream chunks cut into slices the guard takes one turn of the event loop each.
 *
 * The stream guard works on the main thread, chunk by chunk, synchronously: a model streams a few
 * characters per chunk, but an upstream may send up to an SSE event's cap (1 MiB) of text in one
 * delta, and one such delta of name-like words held the event loop for ~200 ms (four streams of
 * them froze /healthz for seconds). A chunk whose text the guard reads exceeds SLICE_CHARS is cut
 * into chunks of at most that much each; the guard yields to the event loop between them. Its
 * stages are exact under any cutting of a text (the incremental guard's property), so the slices
 * decide the same findings as the whole; the client reads the text in more SSE events, as a
 * model's stream would have sent it.
 *
 * What is counted and cut is what StreamGuard reads, by the same walk (guardNode's): every string
 * of every choice but the skipped keys (ids, roles, types) and fields (CHOICE_SKIP); each costs its
 * length plus STRING_COST (a new channel's stages, or a whole-string scan's set-up). Streamed
 * strings (every one but a function's name: see isWholeText) are cut; a function's `name`, which
 * the guard reads whole, goes whole into one slice, and one longer than SLICE_CHARS is refused as
 * an upstream fault: no server sends a tool name of 16 Ki characters in one event, and scanned
 * whole it held the event loop 300 ms per 900 KiB.
 */

/**
 * Whether the string under `key` (inside `parent`) arrives whole in each event, rather than in
 * pieces a client joins: only a function's `name` (of a tool call, or the legacy `function_call`),
 * which OpenAI and vLLM send once per call and clients take as sent (the openai SDK replaces it, it
 * does not append). Every other string of a choice is read as streamed text, whatever its key:
 * upstreams add fields (vLLM's `reasoning` after `reasoning_content`, a vendor's own), and a field
 * read whole per event let a value split across two events out raw (#13).
 */
export function isWholeText(key: string, parent: string | undefined): boolean {
  return key === "name" && (parent === "function" || parent === "function_call");
}

/** Fields of a streamed choice that carry no text of the answer, or close the choice. */
export const CHOICE_SKIP: ReadonlySet<string> = new Set(["index", "finish_reason", "stop_reason", "logprobs", "prompt_logprobs", "matched_stop"]);

/**
 * Top-level keys of a chunk the guard reads on their own (`choices`, `usage`, `prompt_logprobs`);
 * every other top-level string but the skipped keys (ids, model, object) is streamed text, one
 * channel per key path (StreamGuard.transform).
 */
export const TOP_SKIP: ReadonlySet<string> = new Set(["choices", "usage", "prompt_logprobs"]);

/** Characters of text per slice: ~4 ms of the full built-in set's worst shape per byte. */
export const SLICE_CHARS = 16 * 1024;

/**
 * What each string the guard reads costs beside its length, in characters: a channel made for it
 * (a chain of stages per rule) costs about what a thousand characters of prose cost to scan, so a
 * chunk of many short strings (choices, tool calls, content parts) is cut too, 16 of them a slice.
 */
export const STRING_COST = 1024;

/**
 * Choices one stream chunk may carry. vLLM and OpenAI send one choice per chunk (a request's `n` is
 * at most 128; a completion's prompt list times `n` still comes one choice a chunk): a chunk of more
 * is an upstream fault. The slicer's walk and the guard's pass over a chunk's choices are one step
 * each, linear in the chunk: 14,000 choices in one 1 MiB event held the event loop 200-540 ms even
 * cut 16 strings a slice (load ~18).
 */
export const MAX_CHUNK_CHOICES = 1024;

/** Fields of a choice that end it: they go on the last slice. */
const CLOSING: readonly string[] = ["finish_reason", "stop_reason", "matched_stop"];

/** An upstream fault the guard refuses rather than holds the event loop for. */
function fault(message: string): GatewayError {
  return new GatewayError("KT_ERR_UPSTREAM_PROTOCOL", `the upstream sent ${message}`);
}

/** What a string the guard reads under `key` costs (none for an empty one or a skipped key's). */
function stringCost(s: string, key: string | undefined): number {
  return s === "" || (key !== undefined && SKIPPED_KEYS.has(key)) ? 0 : STRING_COST + s.length;
}

/**
 * What the strings the guard reads under the object or array `node` cost (their lengths and
 * STRING_COST each), as guardNode walks it: a child sits under its key (an array's element under
 * none). Stops counting once past `room`. Inherited keys are counted too (the guard skips them):
 * counting more only cuts sooner. Strings are looked at here, not in a call per value: this runs on
 * every chunk of every guarded stream.
 */
function costOf(node: object, room: number): number {
  let n = 0;
  if (Array.isArray(node)) {
    for (let i = 0; i < node.length && n <= room; i++) {
      const v = node[i];
      if (typeof v === "string") n += stringCost(v, undefined);
      else if (v !== null && typeof v === "object") n += costOf(v, room - n);
    }
    return n;
  }
  for (const k in node) {
    const v = (node as JsonObject)[k];
    if (typeof v === "string") n += stringCost(v, k);
    else if (v !== null && typeof v === "object") n += costOf(v, room - n);
    if (n > room) break;
  }
  return n;
}

/** What `usage`'s strings cost: the guard reads every one of them whole (StreamGuard.guardUsage). */
function usageCost(node: object, room: number): number {
  let n = 0;
  for (const k in node) {
    const v = (node as JsonObject)[k];
    if (typeof v === "string") n += v === "" ? 0 : STRING_COST + v.length;
    else if (v !== null && typeof v === "object") n += usageCost(v, room - n);
    if (n > room) break;
  }
  return n;
}

/** What the top-level text of `chunk` (beside TOP_SKIP's keys) costs, as costOf counts. */
function topCost(chunk: Chunk, room: number): number {
  let n = 0;
  for (const k in chunk) {
    if (TOP_SKIP.has(k)) continue;
    const v = chunk[k];
    if (typeof v === "string") n += stringCost(v, k);
    else if (v !== null && typeof v === "object" && !SKIPPED_KEYS.has(k)) n += costOf(v, room - n);
    if (n > room) break;
  }
  return n;
}

/**
 * Whether `chunk` must go through sliceChunk: the text the guard reads in it (every choice's, the
 * top level's, and `usage`'s) costs more than SLICE_CHARS, or it has more than MAX_CHUNK_CHOICES
 * choices (refused there). Cheap on ordinary chunks: a few keys and one string per choice.
 */
export function isLargeChunk(chunk: Chunk): boolean {
  const list = chunk.choices;
  let total = topCost(chunk, SLICE_CHARS);
  if (total > SLICE_CHARS) return true;
  if (Array.isArray(list)) {
    if (list.length > MAX_CHUNK_CHOICES) return true;
    for (let i = 0; i < list.length; i++) {
      const c = list[i];
      if (!isJsonObject(c)) continue;
      for (const k in c) {
        const v = c[k];
        if (typeof v === "string") total += v === "" || CHOICE_SKIP.has(k) ? 0 : stringCost(v, k);
        else if (v !== null && typeof v === "object" && !CHOICE_SKIP.has(k)) total += costOf(v, SLICE_CHARS - total);
        else continue;
        if (total > SLICE_CHARS) return true;
      }
    }
  }
  const usage = chunk.usage;
  return isJsonObject(usage) && total + usageCost(usage, SLICE_CHARS - total) > SLICE_CHARS;
}

/**
 * A step into a choice: an object key, or an array element by its position (`at`), with, in a
 * `tool_calls` array, the element's own numeric `index` (the guard keys a tool call by it).
 */
type Step = { key: string } | { at: number; tool: boolean; index: number | undefined };

/** A string that does not go whole in the first slice: from `at` on it goes in the next ones. */
interface Piece {
  choice: number;
  path: Step[];
  text: string;
  at: number;
  /** Read whole by the guard (a function's name): never cut. */
  whole: boolean;
}

/** `end`, moved back one if it would split a surrogate pair of `s`. */
function pairSafe(s: string, end: number): number {
  if (end > 0 && end < s.length) {
    const c = s.charCodeAt(end - 1);
    if (c >= 0xd800 && c <= 0xdbff) return end - 1;
  }
  return end;
}

/** Per array of a slice, the elements put in it by their position in the chunk's array. */
type Positions = WeakMap<unknown[], Map<number, JsonObject>>;

/**
 * Sets `value` at `path` under `root` (a slice's choice), making what is missing. An array element
 * stands for the same one as in the chunk to the guard: a tool call with a numeric `index` by that
 * index (anywhere in the array); one without, by its position, given as its `index` (the guard's
 * key for it, `[t<position>]`, and what the guard's own flush chunks carry); any other element at
 * its position, the places before it null (as the guard keys content parts: by position).
 */
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
      if (node[step.key] === undefined || node[step.key] === null) node[step.key] = "key" in next ? {} : [];
      node = node[step.key];
      continue;
    }
    const list = node as unknown[];
    if (step.tool && !last) {
      let byAt = positions.get(list);
      if (byAt === undefined) positions.set(list, (byAt = new Map()));
      let el = byAt.get(step.at);
      if (el === undefined) {
        el = { index: step.index ?? step.at };
        byAt.set(step.at, el);
        list.push(el);
      }
      node = el;
      continue;
    }
    while (list.length < step.at) list.push(null);
    if (last) {
      list[step.at] = value;
      return;
    }
    if (!isJsonObject(list[step.at])) list[step.at] = {};
    node = list[step.at];
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

/** Marks a whole string that goes in a later slice: its key is left out of the first. */
const LATER = Symbol("later");

/**
 * `chunk` cut into chunks whose text the guard reads costs at most SLICE_CHARS each (counted over
 * all its choices and strings, in order: a chunk of many choices of middling text is cut as one
 * long text is). The first is the chunk itself with each streamed string's first part (possibly
 * empty), the whole strings that fit, and without the fields that close a choice (finish_reason,
 * stop_reason, matched_stop) or the stream (usage); the next ones carry only the following parts
 * (with the choice's key as `index`, a tool call's `index`, and the chunk's id, object, created and
 * model); the last one also carries the closing fields. A string the guard reads whole never
 * moves ahead of a streamed string before it, so each channel reads its text in order.
 *
 * Throws KT_ERR_UPSTREAM_PROTOCOL for more than MAX_CHUNK_CHOICES choices, a string read whole
 * longer than SLICE_CHARS, or a `usage` of more than SLICE_CHARS of text.
 *
 * `limit` (SLICE_CHARS unless said) is what each slice may cost; a smaller one cuts finer (the
 * stream guard's rest of a chunk whose slices run slow) and refuses nothing more: a whole string
 * longer than it goes alone in a slice.
 */
export function sliceChunk(chunk: Chunk, limit = SLICE_CHARS): Chunk[] {
  const list = (Array.isArray(chunk.choices) ? chunk.choices : []) as unknown[];
  if (list.length > MAX_CHUNK_CHOICES) throw fault(`a stream chunk of ${list.length} choices (a server sends one per chunk; at most ${MAX_CHUNK_CHOICES} are guarded in one)`);
  if (isJsonObject(chunk.usage) && usageCost(chunk.usage, SLICE_CHARS) > SLICE_CHARS)
    throw fault(`a stream chunk whose usage holds more than ${SLICE_CHARS} characters of text (its counts are numbers)`);
  // Text beside the choices (a vendor's field) stays in the first slice: more than a slice of it in
  // one event is a fault, as in usage (no server sends that; the guard would read it in one step).
  const top = topCost(chunk, SLICE_CHARS);
  if (top > SLICE_CHARS) throw fault(`a stream chunk whose fields beside its choices hold more than ${SLICE_CHARS} characters of text`);
  const pieces: Piece[] = [];
  const path: Step[] = [];
  let room = limit - top;
  // guardNode's walk: the first slice's copy of a choice's field, and the pieces left for later.
  const walk = (node: unknown, choice: number, key: string | undefined): unknown => {
    if (typeof node === "string") {
      if (node === "" || (key !== undefined && SKIPPED_KEYS.has(key))) return node;
      const last = path[path.length - 1]!;
      const parent = path.length > 1 ? path[path.length - 2]! : undefined;
      if ("key" in last && isWholeText(last.key, parent !== undefined && "key" in parent ? parent.key : undefined)) {
        if (node.length > SLICE_CHARS)
          throw fault(`a function name of ${node.length} characters in one stream chunk (only streamed text may pass ${SLICE_CHARS})`);
        const cost = STRING_COST + node.length;
        if (pieces.length === 0 && cost <= room) {
          room -= cost;
          return node;
        }
        pieces.push({ choice, path: path.slice(), text: node, at: 0, whole: true });
        return LATER;
      }
      let end = 0;
      if (pieces.length === 0 && room > STRING_COST) {
        end = pairSafe(node, Math.min(node.length, room - STRING_COST));
        if (end > 0) room -= STRING_COST + end;
      }
      if (end < node.length) pieces.push({ choice, path: path.slice(), text: node, at: end, whole: false });
      return end === node.length ? node : node.slice(0, end);
    }
    if (node === null || typeof node !== "object") return node;
    if (Array.isArray(node)) {
      const out = new Array<unknown>(node.length);
      for (let i = 0; i < node.length; i++) {
        const v = node[i];
        path.push({ at: i, tool: key === "tool_calls", index: key === "tool_calls" && isJsonObject(v) && typeof v.index === "number" ? v.index : undefined });
        out[i] = walk(v, choice, undefined);
        path.pop();
      }
      return out;
    }
    const out: JsonObject = {};
    for (const k in node) {
      if (!Object.hasOwn(node, k)) continue;
      const v = (node as JsonObject)[k];
      path.push({ key: k });
      const r = path.length === 1 && CHOICE_SKIP.has(k) ? v : walk(v, choice, k);
      path.pop();
      if (r !== LATER) out[k] = r as JsonObject[string];
    }
    return out;
  };
  const firstChoices = list.map((c, i) => (isJsonObject(c) ? walk(c, i, undefined) : c));
  if (pieces.length === 0) return [chunk];
  const first: Chunk = { ...chunk, choices: firstChoices as JsonObject[] };
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
  while (k < pieces.length) {
    // The next slice: pieces in order from the first not yet sent, while they fit.
    const choices = new Map<number, JsonObject>();
    let room = limit;
    while (k < pieces.length) {
      const p = pieces[k]!;
      let end: number;
      if (p.whole) {
        if (choices.size > 0 && STRING_COST + p.text.length > room) break;
        end = p.text.length;
      } else {
        // An empty slice takes some text whatever its room (a piece is never skipped).
        end = pairSafe(p.text, Math.min(p.text.length, p.at + Math.max(room - STRING_COST, choices.size > 0 ? 0 : 1)));
        if (end <= p.at) {
          if (choices.size > 0) break;
          end = Math.min(p.text.length, p.at + 2);
        }
      }
      let c = choices.get(p.choice);
      if (c === undefined) {
        c = { index: guardKey(list[p.choice], p.choice) };
        choices.set(p.choice, c);
      }
      setAt(c, p.path, p.at === 0 && end === p.text.length ? p.text : p.text.slice(p.at, end), positions);
      room -= STRING_COST + end - p.at;
      p.at = end;
      if (end < p.text.length) break;
      k++;
    }
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
    // The last slice's choices by their position in the chunk.
    const choices = (last.choices as JsonObject[]).slice();
    for (const [at, held] of closing) {
      const c = lastChoices.get(at);
      if (c) Object.assign(c, held);
      else choices.push({ index: guardKey(list[at], at), ...held });
    }
    parts[parts.length - 1] = { ...last, choices };
  }
  if (usage !== undefined) parts[parts.length - 1] = { ...parts[parts.length - 1]!, usage };
  return parts;
}

import type { JsonObject, Operation } from "../wire/index.js";

/** One piece of text in a body the chain reads and may rewrite. */
export interface TextSegment {
  path: readonly (string | number)[];
  text: string;
  /** Who said it, for the guard model's conversation. */
  role: string;
  /** Inside a JSON document (tool-call arguments): replacements must stay valid JSON string content. */
  json: boolean;
  /** Choice index, for responses. */
  choice: number;
}

function isObject(v: unknown): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function toolCallSegments(out: TextSegment[], calls: unknown, base: (string | number)[], role: string, choice: number): void {
  if (!Array.isArray(calls)) return;
  calls.forEach((tc, i) => {
    if (isObject(tc) && isObject(tc.function) && typeof tc.function.arguments === "string")
      out.push({ path: [...base, "tool_calls", i, "function", "arguments"], text: tc.function.arguments, role, json: true, choice });
  });
}

function messageSegments(out: TextSegment[], m: JsonObject, base: (string | number)[], choice: number): void {
  const role = typeof m.role === "string" ? m.role : "user";
  if (typeof m.content === "string") out.push({ path: [...base, "content"], text: m.content, role, json: false, choice });
  else if (Array.isArray(m.content))
    m.content.forEach((part, i) => {
      if (isObject(part) && part.type === "text" && typeof part.text === "string")
        out.push({ path: [...base, "content", i, "text"], text: part.text, role, json: false, choice });
    });
  if (typeof m.reasoning_content === "string")
    out.push({ path: [...base, "reasoning_content"], text: m.reasoning_content, role, json: false, choice });
  toolCallSegments(out, m.tool_calls, base, role, choice);
}

/** Texts of an OpenAI request: chat messages (all roles, string or text parts, tool-call arguments) or a legacy prompt. */
export function requestSegments(body: JsonObject, op: Operation): TextSegment[] {
  const out: TextSegment[] = [];
  if (Array.isArray(body.messages))
    body.messages.forEach((m, i) => {
      if (isObject(m)) messageSegments(out, m, ["messages", i], 0);
    });
  if (op === "completion" || body.prompt !== undefined) {
    const p = body.prompt;
    if (typeof p === "string") out.push({ path: ["prompt"], text: p, role: "user", json: false, choice: 0 });
    else if (Array.isArray(p))
      p.forEach((s, i) => {
        if (typeof s === "string") out.push({ path: ["prompt", i], text: s, role: "user", json: false, choice: 0 });
      });
  }
  return out;
}

/** Texts of a non-streamed response: chat messages or completion texts, per choice. */
export function responseSegments(body: JsonObject): TextSegment[] {
  const out: TextSegment[] = [];
  if (!Array.isArray(body.choices)) return out;
  body.choices.forEach((c, i) => {
    if (!isObject(c)) return;
    const choice = typeof c.index === "number" ? c.index : i;
    if (isObject(c.message)) messageSegments(out, c.message, ["choices", i, "message"], choice);
    if (typeof c.text === "string") out.push({ path: ["choices", i, "text"], text: c.text, role: "assistant", json: false, choice });
  });
  return out;
}

/**
 * A copy of `body` with new texts at the given paths. Only containers on a changed path are copied;
 * everything else is shared with the input, which is never mutated.
 */
export function withTexts(body: JsonObject, changes: readonly { path: readonly (string | number)[]; text: string }[]): JsonObject {
  if (changes.length === 0) return body;
  const copied = new Set<unknown>();
  const root: JsonObject = { ...body };
  copied.add(root);
  for (const { path, text } of changes) {
    let node: any = root;
    for (let i = 0; i < path.length - 1; i++) {
      const key = path[i]!;
      let child = node[key];
      if (!copied.has(child)) {
        child = Array.isArray(child) ? [...child] : { ...child };
        copied.add(child);
        node[key] = child;
      }
      node = child;
    }
    node[path[path.length - 1]!] = text;
  }
  return root;
}

import type { Finding } from "./scan/index.js";

export type RedactAction = "redact" | "mask";

/** Where a redaction put its replacement, to map offsets in redacted text back to the original. */
export interface Edit {
  inStart: number;
  inEnd: number;
  outStart: number;
  outEnd: number;
}

/**
 * The replacement template: `{type}` is the finding type as configured (`email`), `{TYPE}` the same
 * upper-cased. The default names the type: `[REDACTED:EMAIL]`.
 */
export function compileReplacement(template: string | undefined): (type: string) => string {
  const t = template ?? "[REDACTED:{TYPE}]";
  const cache = new Map<string, string>();
  return (type) => {
    let r = cache.get(type);
    if (r === undefined) {
      r = t.replaceAll("{type}", type).replaceAll("{TYPE}", type.toUpperCase());
      cache.set(type, r);
    }
    return r;
  };
}

function isAlnum(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}

/** Keeps the last four letters or digits; the rest become `*`, separators stay so the shape reads. */
export function mask(value: string): string {
  let keep = 4;
  const out: string[] = new Array<string>(value.length);
  for (let i = value.length - 1; i >= 0; i--) {
    const c = value.charCodeAt(i);
    if (!isAlnum(c)) out[i] = value[i]!;
    else if (keep > 0) {
      out[i] = value[i]!;
      keep--;
    } else out[i] = "*";
  }
  return out.join("");
}

/** Inside a JSON string (tool-call arguments) a replacement must not break the JSON. */
export function jsonSafe(s: string): string {
  return JSON.stringify(s).slice(1, -1);
}

export function replacementFor(
  action: RedactAction,
  replacement: (type: string) => string,
  f: Finding,
  text: string,
  json: boolean,
): string {
  if (action === "mask") return mask(text.slice(f.start, f.end));
  const r = replacement(f.type);
  return json ? jsonSafe(r) : r;
}

/** Applies non-overlapping, ordered findings; returns the new text and the edits made. */
export function applyRedactions(
  text: string,
  findings: readonly Finding[],
  replace: (f: Finding) => string,
): { text: string; edits: Edit[] } {
  if (findings.length === 0) return { text, edits: [] };
  let out = "";
  let at = 0;
  const edits: Edit[] = [];
  for (const f of findings) {
    out += text.slice(at, f.start);
    const r = replace(f);
    edits.push({ inStart: f.start, inEnd: f.end, outStart: out.length, outEnd: out.length + r.length });
    out += r;
    at = f.end;
  }
  return { text: out + text.slice(at), edits };
}

/** Maps an offset in redacted text back through one rule's edits; inside a replacement, to its span. */
export function mapBack(offset: number, edits: readonly Edit[], side: "start" | "end"): number {
  let delta = 0;
  const start = side === "start";
  for (const e of edits) {
    if (start ? offset < e.outStart : offset <= e.outStart) break;
    if (start ? offset < e.outEnd : offset <= e.outEnd) return start ? e.inStart : e.inEnd;
    delta = e.inEnd - e.outEnd;
  }
  return offset + delta;
}

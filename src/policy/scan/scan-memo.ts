import { scanSource } from "./scan-source.js";
import type { Finding, Scanner } from "./scanner.js";

/**
 * The findings of texts that come back request after request: a conversation is sent whole on every
 * turn, so its system prompt and its earlier turns are the same strings each time (the operator's
 * system prompt on every request of an application, often kilobytes, the history on every turn of
 * a chat). Their findings are a function of the scanner and the text alone, so they are kept per
 * scanner, by text, and a repeat costs a hash and a comparison of the string instead of a scan.
 * Only texts the caller says repeat are looked up (never the new turn, which is fresh in real
 * traffic): see scanTexts in chain-runner.ts.
 *
 * Bounded: texts up to MEMO_CHARS characters, MEMO_TEXTS of them per scanner and json flag, the
 * oldest dropped first: at most 2 × MEMO_TEXTS × MEMO_CHARS characters (8 MiB as two-byte strings,
 * half that for the one-byte strings JSON.parse makes of ASCII) held per scanner and thread.
 */
const MEMO_TEXTS = 128;
const MEMO_CHARS = 16 * 1024;

interface Memo {
  plain: Map<string, readonly Finding[]>;
  json: Map<string, readonly Finding[]>;
}

const memos = new WeakMap<Scanner, Memo>();

function memoOf(scanner: Scanner): Memo {
  let m = memos.get(scanner);
  if (m === undefined) memos.set(scanner, (m = { plain: new Map(), json: new Map() }));
  return m;
}

/** A copy the caller may keep: findings are plain objects, and a kept list must not be reachable from a result. */
function copied(found: readonly Finding[]): Finding[] {
  const out = new Array<Finding>(found.length);
  for (let k = 0; k < found.length; k++) {
    const f = found[k]!;
    out[k] = { type: f.type, start: f.start, end: f.end, recogniser: f.recogniser };
  }
  return out;
}

/** scanSource for a text that is likely to be scanned again unchanged (same findings, in the same order). */
export function scanRepeated(scanner: Scanner, text: string, json: boolean, plain = false): Finding[] {
  if (text.length > MEMO_CHARS) return scanSource(scanner, text, json, undefined, plain);
  const m = memoOf(scanner);
  const map = json ? m.json : m.plain;
  const kept = map.get(text);
  if (kept !== undefined) return kept.length === 0 ? [] : copied(kept);
  const found = scanSource(scanner, text, json, undefined, plain);
  if (map.size >= MEMO_TEXTS) map.delete(map.keys().next().value!);
  map.set(text, copied(found));
  return found;
}

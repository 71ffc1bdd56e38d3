import { scanSource } from "./scan-source.js";
import type { Finding, Scanner } from "./scanner.js";

/**
 * Texts that come back request after request and were found clean: a conversation is sent whole on
 * every turn, so its system prompt and its earlier turns are the same strings each time (the
 * operator's system prompt on every request of an application, often kilobytes, the history on
 * every turn of a chat). Findings are a function of the scanner and the text alone, so a text this
 * scanner found nothing in is remembered, and a repeat costs a hash and a comparison of the string
 * instead of a scan. Only texts the caller says repeat are looked up (never the new turn, which is
 * fresh in real traffic): see scanTexts in chain-runner.ts.
 *
 * Only clean texts are kept: a text with findings is scanned again each time. The memo then never
 * holds a value the gateway recognised as PII or a secret past the request that carried it (a heap
 * snapshot or core dump of the gateway shows no detected value from an earlier request), and a
 * conversation whose history carries PII pays its scan as before; system prompts, the common
 * repeat, rarely carry any.
 *
 * Bounded: texts up to MEMO_CHARS characters, MEMO_TEXTS of them per scanner and json flag, the
 * oldest dropped first: at most 2 × MEMO_TEXTS × MEMO_CHARS characters (8 MiB as two-byte strings,
 * half that for the one-byte strings JSON.parse makes of ASCII) held per scanner and thread.
 */
const MEMO_TEXTS = 128;
const MEMO_CHARS = 16 * 1024;

interface Memo {
  plain: Set<string>;
  json: Set<string>;
}

const memos = new WeakMap<Scanner, Memo>();

function memoOf(scanner: Scanner): Memo {
  let m = memos.get(scanner);
  if (m === undefined) memos.set(scanner, (m = { plain: new Set(), json: new Set() }));
  return m;
}

/** scanSource for a text that is likely to be scanned again unchanged (same findings, in the same order). */
export function scanRepeated(scanner: Scanner, text: string, json: boolean, plain = false): Finding[] {
  if (text.length > MEMO_CHARS) return scanSource(scanner, text, json, undefined, plain);
  const m = memoOf(scanner);
  const clean = json ? m.json : m.plain;
  if (clean.has(text)) return [];
  const found = scanSource(scanner, text, json, undefined, plain);
  if (found.length === 0) {
    if (clean.size >= MEMO_TEXTS) clean.delete(clean.values().next().value!);
    clean.add(text);
  }
  return found;
}

/** Whether the memo holds `text` for this scanner (tests: what it keeps). */
export function memoHolds(scanner: Scanner, text: string, json: boolean): boolean {
  const m = memos.get(scanner);
  return m !== undefined && (json ? m.json : m.plain).has(text);
}

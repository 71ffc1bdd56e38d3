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
 * Only clean texts are kept, and clean for the whole chain, not one rule: the chain (chain-runner.ts)
 * remembers a repeated text only when no rule found anything in it, neither a value of its own nor
 * a piece of a value split across texts, and forgets a remembered text the moment it turns out to
 * hold such a piece. The memo then never holds a value, or part of one, that the gateway recognised
 * as PII or a secret (no detected value from an earlier request stays reachable: a heap snapshot
 * shows none; memory the collector has not reused yet is another matter, as for any process), and a conversation whose history carries PII pays its scan as before; system prompts,
 * the common repeat, rarely carry any.
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

/**
 * scanSource for a text that is likely to be scanned again unchanged (same findings, in the same
 * order). With `remember` false a clean text is not kept here: the caller decides once the whole
 * chain has run (rememberClean), since this scanner finding nothing in a text alone does not make
 * the text free of PII (another rule may find a value in it, or a value may run on into the next
 * text).
 */
export function scanRepeated(scanner: Scanner, text: string, json: boolean, plain = false, remember = true): Finding[] {
  if (text.length > MEMO_CHARS) return scanSource(scanner, text, json, undefined, plain);
  const clean = json ? memoOf(scanner).json : memoOf(scanner).plain;
  if (clean.has(text)) return [];
  const found = scanSource(scanner, text, json, undefined, plain);
  if (remember && found.length === 0) keep(clean, text);
  return found;
}

function keep(clean: Set<string>, text: string): void {
  if (clean.has(text)) return;
  if (clean.size >= MEMO_TEXTS) clean.delete(clean.values().next().value!);
  clean.add(text);
}

/** Remembers `text` as clean for this scanner (the caller knows no rule found anything in it). */
export function rememberClean(scanner: Scanner, text: string, json: boolean): void {
  if (text.length > MEMO_CHARS) return;
  const m = memoOf(scanner);
  keep(json ? m.json : m.plain, text);
}

/** Forgets `text` for this scanner: it turned out to hold part of a detected value. */
export function forgetText(scanner: Scanner, text: string, json: boolean): void {
  const m = memos.get(scanner);
  if (m !== undefined) (json ? m.json : m.plain).delete(text);
}

/** Whether the memo holds `text` for this scanner (tests: what it keeps). */
export function memoHolds(scanner: Scanner, text: string, json: boolean): boolean {
  const m = memos.get(scanner);
  return m !== undefined && (json ? m.json : m.plain).has(text);
}

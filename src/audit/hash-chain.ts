import { hash } from "node:crypto";
import { canonicalJson } from "./canonical-json.js";

/** The `prev` of the very first record of a log that has never been pruned. */
export const GENESIS_HASH = "0".repeat(64);

/**
 * hash = SHA-256( prev + canonicalJson(entry without `hash`) ), lower-case hex, where `prev` is the
 * 64-hex hash of the entry before. The entry includes its own `prev` and `seq`, so an edit, a
 * deletion, an insertion or a reorder changes some hash and breaks every link after it.
 */
export function chainHash(prev: string, canonicalBody: string): string {
  return chainHashOfText(prev + canonicalBody);
}

/** chainHash of the text `prev + canonicalBody` already joined (the log keeps that text for the line). */
export function chainHashOfText(prevAndBody: string): string {
  // One call, no Hash stream object: this runs once per appended record.
  return hash("sha256", prevAndBody, "hex");
}

/** The canonical body of a stored entry: the parsed object minus its `hash`. */
export function canonicalBodyOf(entry: Record<string, unknown>): string {
  const { hash: _hash, ...body } = entry;
  return canonicalJson(body);
}

export function isHex64(s: unknown): s is string {
  return typeof s === "string" && /^[0-9a-f]{64}$/.test(s);
}

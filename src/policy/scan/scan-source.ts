import { normaliseOnce, toSource } from "./normalise.js";
import type { Finding, Scanner } from "./scanner.js";

/**
 * Every finding in `text`, matched on its normalised view (see normalise.ts) and reported in the
 * text's own offsets, so a replacement covers exactly what was written. `json`: the text is JSON
 * string content and its escapes are decoded for matching. `before`: only findings starting before
 * this offset are wanted (more may be returned). `plain`: the caller has found with isPlainText that
 * the text is its own view (it asks once for a text it scans twice, on its own and in a window).
 */
export function scanSource(scanner: Scanner, text: string, json = false, before?: number, plain = false): Finding[] {
  // The view and its map are done with before this returns: the map's memory is reused.
  const view = plain ? { text, map: undefined } : normaliseOnce(text, json);
  let found: Finding[];
  if (before !== undefined && view.map === undefined) {
    // The caller needs only findings that start before `before` (the scan is left to right, so
    // they are the whole scan's): the rest of the text is not looked at.
    found = [];
    scanner.scanUntil(view.text, 0, before, found);
  } else found = scanner.scan(view.text);
  if (view.map === undefined || found.length === 0) return found;
  for (const f of found) {
    const s = toSource(view, f.start, f.end);
    f.start = s.start;
    f.end = s.end;
  }
  return found;
}

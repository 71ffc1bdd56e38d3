/** What can be cut: a string or bytes (slice copies bytes; fine in tests). */
interface Cuttable<T> {
  readonly length: number;
  slice(start: number, end?: number): T;
}

/**
 * `text` (a string or bytes) cut at the given points (taken modulo its length + 1, deduplicated, in
 * order): the chunkings that streaming property tests compare against the whole. Empty pieces are kept.
 */
export function cutText<T extends Cuttable<T>>(text: T, cuts: readonly number[]): T[] {
  const points = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
  const pieces: T[] = [];
  let at = 0;
  for (const p of points) {
    pieces.push(text.slice(at, p));
    at = p;
  }
  pieces.push(text.slice(at));
  return pieces;
}

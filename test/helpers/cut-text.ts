/**
 * `text` cut at the given points (taken modulo its length + 1, deduplicated, in order): the
 * chunkings that streaming property tests compare against the whole text. Empty pieces are kept.
 */
export function cutText(text: string, cuts: readonly number[]): string[] {
  const points = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
  const pieces: string[] = [];
  let at = 0;
  for (const p of points) {
    pieces.push(text.slice(at, p));
    at = p;
  }
  pieces.push(text.slice(at));
  return pieces;
}

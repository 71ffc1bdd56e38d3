/**
 * Whether `word` (lower-case) appears in the `span` characters before `start` on the same line.
 * Bare digit runs (9-digit passport numbers, 10-digit NHS numbers) are too common to redact
 * without a keyword nearby: order ids and invoice numbers look the same.
 */
export function keywordBefore(text: string, start: number, word: string, span: number): boolean {
  const from = Math.max(0, start - span);
  let before = text.slice(from, start).toLowerCase();
  const nl = before.lastIndexOf("\n");
  if (nl !== -1) before = before.slice(nl + 1);
  return before.includes(word);
}

export function digitsOnly(s: string): string {
  return s.replace(/\D+/g, "");
}

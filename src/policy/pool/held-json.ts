/**
 * JSON of a held body (src/wire/held-body.ts) written straight into shared memory, without making
 * the whole body as one string first: the skeleton's JSON (small) with each placeholder's string
 * encoded in place. A 1 MiB JSON.stringify() is a fresh 1 MiB string (about 260 page faults on the
 * 2-core VM the benchmarks run on, 22-100 µs each) and encoding it a second pass; this writes the
 * same bytes, JSON.stringify's exactly, once.
 */

/** What JSON.stringify escapes in a string: quote, backslash, controls; and every surrogate, to sort out lone ones. */
const SPECIAL = /["\\\u0000-\u001f\ud800-\udfff]/g;

const SHORT_ESCAPES: Record<number, number> = { 0x08: 0x62, 0x09: 0x74, 0x0a: 0x6e, 0x0c: 0x66, 0x0d: 0x72, 0x22: 0x22, 0x5c: 0x5c };

/** Whether the surrogate at `i` is half of a pair (then it is written as UTF-8, not escaped). */
function paired(s: string, i: number, c: number): boolean {
  if (c <= 0xdbff) {
    const d = s.charCodeAt(i + 1);
    return d >= 0xdc00 && d <= 0xdfff;
  }
  if (i === 0) return false;
  const b = s.charCodeAt(i - 1);
  return b >= 0xd800 && b <= 0xdbff;
}

/** Bytes of JSON.stringify(s) as UTF-8, without making it. */
export function jsonByteLength(s: string): number {
  return countJsonBytes(s);
}

function countJsonBytes(s: string): number {
  // Buffer.byteLength counts a lone surrogate as 3 (U+FFFD), the rest as UTF-8; escapes adjust it.
  let n = Buffer.byteLength(s, "utf8") + 2;
  SPECIAL.lastIndex = 0;
  // test(), not exec(): no match array per escape (6,000 in 1 MiB of prose, ~15 % of the pass).
  while (SPECIAL.test(s)) {
    const i = SPECIAL.lastIndex - 1;
    const c = s.charCodeAt(i);
    if (c >= 0xd800) {
      if (!paired(s, i, c)) n += 3; // written as a six-byte \u escape, counted as 3
    } else n += SHORT_ESCAPES[c] !== undefined ? 1 : 5;
  }
  return n;
}

const HEX = "0123456789abcdef";

/** Writes JSON.stringify(s) as UTF-8 into `buf` at `at`; returns the offset after it. `buf` has room. */
export function writeJsonString(s: string, buf: Buffer, at: number): number {
  buf[at++] = 0x22;
  let from = 0;
  SPECIAL.lastIndex = 0;
  while (SPECIAL.test(s)) {
    const i = SPECIAL.lastIndex - 1;
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && paired(s, i, c)) continue;
    // Cut only at an escaped character: never inside a surrogate pair.
    if (i > from) at += buf.write(s.substring(from, i), at);
    from = i + 1;
    buf[at++] = 0x5c;
    const short = c < 0xd800 ? SHORT_ESCAPES[c] : undefined;
    if (short !== undefined) {
      buf[at++] = short;
      continue;
    }
    buf[at++] = 0x75;
    buf[at++] = HEX.charCodeAt((c >> 12) & 15);
    buf[at++] = HEX.charCodeAt((c >> 8) & 15);
    buf[at++] = HEX.charCodeAt((c >> 4) & 15);
    buf[at++] = HEX.charCodeAt(c & 15);
  }
  if (from < s.length) at += buf.write(from === 0 ? s : s.substring(from), at);
  buf[at++] = 0x22;
  return at;
}

/** A placeholder as it appears in the skeleton's JSON (JSON.stringify escapes its NUL). */
function placeholderToken(nonce: string): string {
  return `"\\u0000kt-held:${nonce}:`;
}

interface Piece {
  /** The skeleton JSON's text before the placeholder (from the previous one's end). */
  text: string;
  /** The held string in its place, or undefined for the tail. */
  held: string | undefined;
  /** jsonByteLength(held), when the caller knew it. */
  heldBytes?: number;
}

/**
 * The skeleton's JSON cut at its placeholders, each paired with its string; undefined when a
 * placeholder names no string (then the caller fills the object instead, as JSON.stringify would).
 */
function piecesOf(skeletonJson: string, strings: readonly string[], nonce: string, counted?: readonly number[]): Piece[] | undefined {
  const token = placeholderToken(nonce);
  const out: Piece[] = [];
  let from = 0;
  for (let at = skeletonJson.indexOf(token); at >= 0; at = skeletonJson.indexOf(token, from)) {
    const end = skeletonJson.indexOf('"', at + token.length);
    const digits = skeletonJson.slice(at + token.length, end);
    if (!/^(0|[1-9][0-9]*)$/.test(digits)) return undefined;
    const held = strings[Number(digits)];
    if (held === undefined) return undefined;
    out.push({ text: skeletonJson.slice(from, at), held, heldBytes: counted?.[Number(digits)] });
    from = end + 1;
  }
  out.push({ text: skeletonJson.slice(from), held: undefined });
  return out;
}

/**
 * Bytes of the filled JSON, or undefined when it cannot be spliced (see piecesOf). `counted`: each
 * string's jsonByteLength when the caller has them already (a rewrite counts its texts for the
 * skeleton first; counting 1 MiB of prose again is another regex pass of ~2 ms).
 */
export function filledByteLength(skeletonJson: string, strings: readonly string[], nonce: string, counted?: readonly number[]): { length: number; pieces: Piece[] } | undefined {
  const pieces = piecesOf(skeletonJson, strings, nonce, counted);
  if (!pieces) return undefined;
  let length = 0;
  for (const p of pieces) length += Buffer.byteLength(p.text, "utf8") + (p.held === undefined ? 0 : (p.heldBytes ?? jsonByteLength(p.held)));
  return { length, pieces };
}

/**
 * Writes the JSON of the skeleton with each placeholder replaced by its string (what
 * JSON.stringify of the filled object gives, byte for byte) into `buf` from 0; returns the length.
 */
export function writeFilled(pieces: readonly Piece[], buf: Buffer): number {
  let at = 0;
  for (const p of pieces) {
    at += buf.write(p.text, at);
    if (p.held !== undefined) at = writeJsonString(p.held, buf, at);
  }
  return at;
}

/** A span of a text replaced by a span of its edited text (src/policy/redaction.ts's Edit). */
export interface Replaced {
  inStart: number;
  inEnd: number;
  outStart: number;
  outEnd: number;
}

function surrogateAt(s: string, i: number): boolean {
  const c = s.charCodeAt(i); // NaN outside the string: not a surrogate
  return c >= 0xd800 && c <= 0xdfff;
}

/**
 * jsonByteLength(after), from `count` = jsonByteLength(before) and the edits that made `after` from
 * `before` (in order, as one redaction makes them): the count changes only by the replaced spans'
 * own bytes, so a 1 MiB text with a few redactions is not read again. A character's JSON bytes
 * depend on its neighbours only when it is a surrogate (paired or lone), so an edit with a
 * surrogate at or beside either edge gives undefined (count the text instead); so do edits that do
 * not fit the two texts (their lengths, and the characters beside each edit unchanged).
 */
export function editedJsonByteLength(before: string, count: number, after: string, edits: readonly Replaced[]): number | undefined {
  let n = count;
  let shift = 0;
  for (const e of edits) {
    if (e.inStart > e.inEnd || e.outStart > e.outEnd || e.inEnd > before.length || e.outEnd > after.length || e.outStart - e.inStart !== shift) return undefined;
    shift = e.outEnd - e.inEnd;
    // The characters beside the edit are the same in both texts, and none of the edge characters is a surrogate.
    if (e.inStart > 0 && before.charCodeAt(e.inStart - 1) !== after.charCodeAt(e.outStart - 1)) return undefined;
    if (e.inEnd < before.length && before.charCodeAt(e.inEnd) !== after.charCodeAt(e.outEnd)) return undefined;
    if (surrogateAt(before, e.inStart - 1) || surrogateAt(before, e.inStart) || surrogateAt(before, e.inEnd - 1) || surrogateAt(before, e.inEnd)) return undefined;
    if (surrogateAt(after, e.outStart) || surrogateAt(after, e.outEnd - 1)) return undefined;
    n += countJsonBytes(after.slice(e.outStart, e.outEnd)) - countJsonBytes(before.slice(e.inStart, e.inEnd));
  }
  return after.length - before.length === shift ? n : undefined;
}

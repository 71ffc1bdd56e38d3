/**
 * The normalised view recognisers read, and the map from it back to the text as written.
 *
 * Each source unit (a code point, or a run of `%XX` escapes forming one UTF-8 character) becomes zero
 * or more view characters, independently of what surrounds it (apart from the small URL-query state
 * below): full-width and other compatibility forms read as ASCII (NFKC, `４` → `4`, `＠` → `@`),
 * invisible characters (zero-width, soft hyphen, bidi controls, variation selectors, tags) vanish,
 * every Unicode space reads as ` ` and every dash as `-`, `%40` reads as `@`, and `+` inside a URL
 * query value reads as a space. Because the mapping is per unit, view(A + B) = view(A) + view(B)
 * whenever A does not end inside a unit — which is what lets the stream guard normalise as text
 * arrives (see ViewBuilder) and still decide exactly what the whole text would.
 *
 * A finding at view [s, e) covers the original from the start of the unit that produced view[s] to
 * the end of the unit that produced view[e-1]: what the user wrote, invisible characters inside it
 * included. Pure functions of the text: a worker thread can run them.
 */

/** Characters whose presence takes a text off the identity fast path: non-ASCII, `%`, `+`. */
const SPECIAL = /[^\x00-\x24\x26-\x2a\x2c-\x7f]/;
/** The same plus `\\` for JSON string content (tool-call arguments), whose escapes are decoded too. */
const SPECIAL_JSON = /[^\x00-\x24\x26-\x2a\x2c-\x5b\x5d-\x7f]/;

/**
 * Pieces of the map, in typed arrays (one piece per unit that is not its own view can mean a million
 * of them). Identity runs map one to one; other units map all their view chars to one source span.
 */
export class ViewMap {
  /** Number of pieces. */
  n = 0;
  /** View offset where each piece starts, its length in the view, its source span (absolute offsets). */
  vStart = new Float64Array(16);
  vLen = new Float64Array(16);
  oStart = new Float64Array(16);
  oEnd = new Float64Array(16);
  /** 1 for an identity run. */
  identity = new Uint8Array(16);

  push(vStart: number, vLen: number, oStart: number, oEnd: number, identity: number): void {
    const n = this.n;
    if (n === this.vStart.length) {
      const grow = <T extends Float64Array | Uint8Array>(a: T): T => {
        const b = new (a.constructor as new (n: number) => T)(n * 2);
        b.set(a);
        return b;
      };
      this.vStart = grow(this.vStart);
      this.vLen = grow(this.vLen);
      this.oStart = grow(this.oStart);
      this.oEnd = grow(this.oEnd);
      this.identity = grow(this.identity);
    }
    this.vStart[n] = vStart;
    this.vLen[n] = vLen;
    this.oStart[n] = oStart;
    this.oEnd[n] = oEnd;
    this.identity[n] = identity;
    this.n = n + 1;
  }

  /** Drops the first k pieces. */
  shift(k: number): void {
    for (const a of [this.vStart, this.vLen, this.oStart, this.oEnd, this.identity]) a.copyWithin(0, k, this.n);
    this.n -= k;
  }
}

export interface NormalView {
  /** The text recognisers read. */
  readonly text: string;
  /** Undefined when the view is the text itself. */
  readonly map: ViewMap | undefined;
}

const INVISIBLE = /^[\u00AD\u034F\u061C\u115F\u1160\u17B4\u17B5\u180B-\u180F\u200B-\u200F\u202A-\u202E\u2060-\u206F\u3164\uFE00-\uFE0F\uFEFF\uFFA0\u{E0000}-\u{E007F}\u{E0100}-\u{E01EF}]$/u;
const SPACE = /^[\p{Zs}\t\v\f]$/u;
const LINE = /^[\u0085\u2028\u2029]$/u;
const DASH = /^[\p{Pd}\u2212\u2043\uFE63\uFF0D]$/u;
const DOT = /^[\u3002\uFF61\uFF0E]$/u;

const cache = new Map<number, string>();

/** The view of one non-ASCII code point (or lone surrogate). */
function mapCodePoint(cp: number, ch: string): string {
  let r = cache.get(cp);
  if (r !== undefined) return r;
  if (cp >= 0xd800 && cp <= 0xdfff) r = ch;
  else if (INVISIBLE.test(ch)) r = "";
  else if (SPACE.test(ch)) r = " ";
  else if (LINE.test(ch)) r = "\n";
  else if (DASH.test(ch)) r = "-";
  else if (DOT.test(ch)) r = ".";
  else {
    r = ch.normalize("NFKC");
    // A compatibility form may decompose into one of the classes above (U+FE58 → U+2014).
    if (r.length <= 2 && r !== ch) {
      const c = r.codePointAt(0)!;
      if (String.fromCodePoint(c) === r && c >= 0x80) r = mapCodePoint(c, r);
    }
  }
  if (cache.size < 65536) cache.set(cp, r);
  return r;
}

/** Kinds of BMP characters (from 0x80), filled in as they are met: what mapCodePoint gives for them. */
const K_IDENTITY = 1;
const K_REMOVED = 2;
/** One view character, REPL[c], as long as the character itself (offsets map one to one). */
const K_ONE = 3;
/** Anything else (several view characters): mapCodePoint's string. */
const K_OTHER = 4;
const KIND = new Uint8Array(0x10000);
const REPL = new Uint16Array(0x10000);

function classify(c: number): number {
  const ch = String.fromCharCode(c);
  const r = mapCodePoint(c, ch);
  let k: number;
  if (r === ch) k = K_IDENTITY;
  else if (r.length === 0) k = K_REMOVED;
  else if (r.length === 1) {
    k = K_ONE;
    REPL[c] = r.charCodeAt(0);
  } else k = K_OTHER;
  KIND[c] = k;
  return k;
}

/** Identity runs at least this long go into the view as slices of the source; shorter ones are copied. */
const IDENTITY_SLICE = 32;
/** The view-building buffer, kept between calls up to this many characters (2 MiB). */
const SCRATCH_MAX = 1 << 20;
let scratch: Uint16Array = new Uint16Array(4096);

/** A buffer of at least `need` characters holding the first `used` of `buf`. */
function grow16(buf: Uint16Array, used: number, need: number): Uint16Array {
  let size = buf.length;
  while (size < need) size *= 2;
  const b = new Uint16Array(size);
  b.set(buf.subarray(0, used));
  return b;
}

/** The first `len` characters of `buf` as a string, in pieces small enough for fromCharCode.apply. */
function charsOf(buf: Uint16Array, len: number): string {
  if (len <= 4096) return String.fromCharCode.apply(null, buf.subarray(0, len) as unknown as number[]);
  const pieces: string[] = [];
  for (let k = 0; k < len; k += 4096) pieces.push(String.fromCharCode.apply(null, buf.subarray(k, Math.min(len, k + 4096)) as unknown as number[]));
  return pieces.join("");
}

function hexVal(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 65 && c <= 70) return c - 55;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

/** Byte at `%XX` starting at i, -1 if not one; -2 if the text ends before it is complete. */
function pctByte(s: string, i: number): number {
  if (i >= s.length) return -2;
  if (s.charCodeAt(i) !== 37) return -1;
  if (i + 2 >= s.length) {
    for (let k = i + 1; k < s.length; k++) if (hexVal(s.charCodeAt(k)) < 0) return -1;
    return -2;
  }
  const h = hexVal(s.charCodeAt(i + 1));
  const l = hexVal(s.charCodeAt(i + 2));
  return h < 0 || l < 0 ? -1 : h * 16 + l;
}

/**
 * A `%XX…` run at i forming one printable character: [decoded, source length]; undefined if not one;
 * null if the text ends before it can be told.
 */
function decodePercent(s: string, i: number): [string, number] | undefined | null {
  const b0 = pctByte(s, i);
  if (b0 === -2) return null;
  if (b0 < 0) return undefined;
  if (b0 < 0x80) return b0 >= 0x20 && b0 !== 0x7f ? [String.fromCharCode(b0), 3] : undefined;
  const n = b0 >= 0xf0 && b0 <= 0xf4 ? 3 : b0 >= 0xe0 ? 2 : b0 >= 0xc2 && b0 < 0xe0 ? 1 : -1;
  if (n < 0 || b0 > 0xf4) return undefined;
  let cp = b0 & (n === 1 ? 0x1f : n === 2 ? 0x0f : 0x07);
  for (let k = 1; k <= n; k++) {
    const b = pctByte(s, i + 3 * k);
    if (b === -2) return null;
    if (b < 0 || (b & 0xc0) !== 0x80) return undefined;
    cp = (cp << 6) | (b & 0x3f);
  }
  if (cp < [0, 0x80, 0x800, 0x10000][n]! || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return undefined;
  return [String.fromCodePoint(cp), 3 * (n + 1)];
}

const JSON_ESCAPES: Record<string, string> = { '"': '"', "\\": "\\", "/": "/", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t" };

/** A JSON escape at i: [decoded, source length]; undefined if not one; null if the text ends inside it. */
function decodeJsonEscape(s: string, i: number): [string, number] | undefined | null {
  if (i + 1 >= s.length) return null;
  const e = s[i + 1]!;
  if (e !== "u") {
    const d = JSON_ESCAPES[e];
    return d === undefined ? undefined : [d, 2];
  }
  let v = 0;
  for (let k = 2; k < 6; k++) {
    if (i + k >= s.length) return null;
    const h = hexVal(s.charCodeAt(i + k));
    if (h < 0) return undefined;
    v = v * 16 + h;
  }
  return [String.fromCharCode(v), 6];
}

function isWhite(c: number): boolean {
  return c === 32 || c === 9 || c === 10 || c === 13 || c === 11 || c === 12;
}

/**
 * Builds a view as text arrives. `append` consumes what it can decide and returns how much of the
 * given text that was; the caller keeps the rest (at most a few characters: half a surrogate pair,
 * an unfinished `%XX` run) and offers it again with the next text. With `final` everything is consumed.
 */
export class ViewBuilder {
  view = "";
  /** Absolute view offset of view[0] (the stream guard drops what it has decided). */
  viewBase = 0;
  readonly map: ViewMap;
  /** Inside a token that has `?`/`&` … `=`: `+` reads as a space. */
  private tokenQuery = 0;
  private identityOnly = true;
  /** `json`: the source is JSON string content; `\\u0040`, `\\n`, `\\"` … read as what they stand for. */
  constructor(
    readonly json = false,
    map?: ViewMap,
  ) {
    this.map = map ?? new ViewMap();
  }

  private piece(vStart: number, vLen: number, oStart: number, oEnd: number, identity: number): void {
    const m = this.map;
    const n = m.n;
    // Extend the previous identity run when this one continues it.
    if (identity === 1 && n > 0 && m.identity[n - 1] === 1 && m.oEnd[n - 1] === oStart && m.vStart[n - 1]! + m.vLen[n - 1]! === vStart) {
      m.vLen[n - 1]! += vLen;
      m.oEnd[n - 1] = oEnd;
      return;
    }
    if (identity === 0) this.identityOnly = false;
    m.push(vStart, vLen, oStart, oEnd, identity);
  }

  /** True while every piece so far is identity and contiguous: the view equals the source. */
  get isIdentity(): boolean {
    return this.identityOnly;
  }

  /** Appends source text `s` whose first character is at absolute source offset `oBase`. Returns the characters consumed. */
  append(s: string, oBase: number, final: boolean): number {
    // The view is built from slices of `s` (identity runs of IDENTITY_SLICE characters or more) and,
    // between them, view characters copied into a reused buffer: text where nearly every character
    // is rewritten (`\u200b\uff14` repeated) costs a buffer write per character, not a string and
    // an array slot each.
    const parts: string[] = [];
    const json = this.json;
    let vAt = this.viewBase + this.view.length;
    let i = 0;
    const n = s.length;
    let out16: Uint16Array = scratch;
    let bl = 0;
    const emitBuffer = (): void => {
      if (bl > 0) {
        parts.push(charsOf(out16, bl));
        bl = 0;
      }
    };
    const emit = (str: string): void => {
      const k = str.length;
      if (bl + k > out16.length) out16 = grow16(out16, bl, bl + k);
      for (let q = 0; q < k; q++) out16[bl++] = str.charCodeAt(q);
    };
    // The pending run of characters that are their own view, pushed as one slice (or copied) and one piece.
    let runStart = 0;
    let runV = vAt;
    const flush = (to: number): void => {
      const len = to - runStart;
      if (len <= 0) return;
      if (len >= IDENTITY_SLICE || (bl === 0 && to === n && runStart === 0)) {
        emitBuffer();
        parts.push(runStart === 0 && to === n ? s : s.slice(runStart, to));
      } else {
        if (bl + len > out16.length) out16 = grow16(out16, bl, bl + len);
        for (let q = runStart; q < to; q++) out16[bl++] = s.charCodeAt(q);
      }
      this.piece(runV, len, oBase + runStart, oBase + to, 1);
    };
    while (i < n) {
      const c = s.charCodeAt(i);
      if (c < 0x80 && c !== 37 && c !== 43 && (c !== 92 || !json)) {
        if (isWhite(c)) this.tokenQuery = 0;
        else if (c === 63 || c === 38) this.tokenQuery = 1;
        else if (c === 61 && this.tokenQuery >= 1) this.tokenQuery = 2;
        i++;
        vAt++;
        continue;
      }
      if (c === 43) {
        // `+`: a space inside a URL query value, itself otherwise.
        if (this.tokenQuery !== 2) {
          i++;
          vAt++;
          continue;
        }
        flush(i);
        if (bl === out16.length) out16 = grow16(out16, bl, bl + 1);
        out16[bl++] = 32;
        this.identityOnly = false;
        this.piece(vAt, 1, oBase + i, oBase + i + 1, 1);
        vAt++;
        i++;
        runStart = i;
        runV = vAt;
        continue;
      }
      if (c === 37 && i + 2 < n) {
        // `%XX` for a printable ASCII character (`%40`): one view character, no strings built.
        const b0 = pctByte(s, i);
        if (b0 >= 0x20 && b0 < 0x7f) {
          flush(i);
          if (bl === out16.length) out16 = grow16(out16, bl, bl + 1);
          out16[bl++] = b0;
          this.identityOnly = false;
          this.piece(vAt, 1, oBase + i, oBase + i + 3, 0);
          vAt++;
          i += 3;
          runStart = i;
          runV = vAt;
          continue;
        }
      }
      if (c >= 0x80 && (c < 0xd800 || c > 0xdfff)) {
        // A BMP character: its kind from the table, no string built (the common non-ASCII case).
        let k = KIND[c]!;
        if (k === 0) k = classify(c);
        if (k === K_IDENTITY) {
          i++;
          vAt++;
          continue;
        }
        flush(i);
        if (k === K_ONE) {
          const r = REPL[c]!;
          // Spaces as written end a URL token (decoded `+` and `%20` do not).
          if (r === 32 || r === 10) this.tokenQuery = 0;
          if (bl === out16.length) out16 = grow16(out16, bl, bl + 1);
          out16[bl++] = r;
          this.identityOnly = false;
          this.piece(vAt, 1, oBase + i, oBase + i + 1, 1);
          vAt++;
        } else if (k === K_REMOVED) this.identityOnly = false;
        else {
          const out = mapCodePoint(c, s[i]!);
          emit(out);
          this.identityOnly = false;
          this.piece(vAt, out.length, oBase + i, oBase + i + 1, out.length === 1 ? 1 : 0);
          vAt += out.length;
        }
        i++;
        runStart = i;
        runV = vAt;
        continue;
      }
      let out: string;
      let len = 1;
      let ident = false;
      if (c === 37) {
        const d = decodePercent(s, i);
        if (d === null && !final) break;
        if (!d) {
          ident = true;
          out = "%";
        } else {
          len = d[1];
          const dc = d[0].codePointAt(0)!;
          out = dc < 0x80 ? d[0] : mapCodePoint(dc, d[0]);
        }
      } else if (c === 92) {
        const d = decodeJsonEscape(s, i);
        if (d === null && !final) break;
        if (!d) {
          ident = true;
          out = "\\";
        } else {
          len = d[1];
          const dc = d[0].charCodeAt(0);
          out = dc < 0x80 ? d[0] : mapCodePoint(dc, d[0]);
        }
      } else if (c >= 0xd800 && c <= 0xdbff) {
        if (i + 1 >= n && !final) break;
        const c2 = i + 1 < n ? s.charCodeAt(i + 1) : 0;
        if (c2 >= 0xdc00 && c2 <= 0xdfff) {
          len = 2;
          const pair = s.slice(i, i + 2);
          out = mapCodePoint(((c - 0xd800) << 10) + (c2 - 0xdc00) + 0x10000, pair);
          ident = out === pair;
        } else {
          out = s[i]!;
          ident = true;
        }
      } else {
        // A lone low surrogate: itself.
        out = s[i]!;
        ident = true;
      }
      if (ident) {
        i += len;
        vAt += len;
        continue;
      }
      flush(i);
      if (out.length > 0) {
        emit(out);
        this.identityOnly = false;
        // A unit as long as its view (`４` → `4`) maps offsets one to one, like an identity run, and joins one.
        this.piece(vAt, out.length, oBase + i, oBase + i + len, out.length === len ? 1 : 0);
        vAt += out.length;
      } else this.identityOnly = false;
      i += len;
      runStart = i;
      runV = vAt;
    }
    flush(i);
    emitBuffer();
    if (out16.length > scratch.length && out16.length <= SCRATCH_MAX) scratch = out16;
    if (parts.length > 0) this.view += parts.length === 1 ? parts[0]! : parts.join("");
    return i;
  }

  /** Index of the piece holding absolute view offset v (the last piece starting at or before it). */
  private pieceAt(v: number): number {
    const m = this.map;
    let lo = 0;
    let hi = m.n - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (m.vStart[mid]! <= v) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** Source offset where view offset v (absolute) begins; `sourceEnd` for the end of the view. */
  toSourceStart(v: number, sourceEnd: number): number {
    const m = this.map;
    if (m.n === 0 || v >= this.viewBase + this.view.length) return sourceEnd;
    const k = this.pieceAt(v);
    return m.identity[k] === 1 ? m.oStart[k]! + (v - m.vStart[k]!) : m.oStart[k]!;
  }

  /** Source offset where the view character before absolute view offset v ends. */
  toSourceEnd(v: number): number {
    const m = this.map;
    const k = this.pieceAt(v - 1);
    return m.identity[k] === 1 ? m.oStart[k]! + (v - m.vStart[k]!) : m.oEnd[k]!;
  }

  /** Forgets everything before absolute view offset v (kept: the piece holding it and later). */
  dropBefore(v: number): void {
    const m = this.map;
    if (m.n === 0) return;
    const k = this.pieceAt(v);
    if (k > 0) m.shift(k);
    // An identity run is cut where v falls inside it. A stream of plain text is a single run (each
    // append extends it), so without this its view was never cut: it grew with the answer, and each
    // chunk's scan flattened and read it whole (a 100,000-chunk answer: 59 µs per chunk at the start,
    // 690 µs at the end).
    const d = v - m.vStart[0]!;
    if (m.identity[0] === 1 && d > 0 && d < m.vLen[0]!) {
      m.vStart[0] = v;
      m.vLen[0] = m.vLen[0]! - d;
      m.oStart[0] = m.oStart[0]! + d;
    }
    const cut = Math.min(m.vStart[0]!, v) - this.viewBase;
    if (cut > 0) {
      this.view = this.view.slice(cut);
      this.viewBase += cut;
    }
  }
}

/**
 * Whether the text is plain ASCII without `%` or `+` (and `\\` for JSON): its own view. A regex
 * class walks the text at about 2 ns a character; on long texts the UTF-8 length (equal to the
 * length exactly when every character is ASCII) and memchr for the three characters cost a tenth.
 */
/** Whether a text (not JSON content) is its own view, by the cheap test normaliseOnce takes first. */
export function isPlainText(text: string): boolean {
  return isPlain(text, false);
}

function isPlain(text: string, json: boolean): boolean {
  if (text.length < 512) return !(json ? SPECIAL_JSON : SPECIAL).test(text);
  return (
    Buffer.byteLength(text, "utf8") === text.length &&
    !text.includes("%") &&
    !text.includes("+") &&
    !(json && text.includes("\\"))
  );
}

/**
 * One map reused by `normaliseOnce` calls: a text whose every other character is invisible makes a
 * piece per character (half a million for 1 MiB, 20 MB of typed arrays), and fresh memory costs a
 * page fault per 4 KiB on the machines this runs on, more than the rest of the work.
 */
let reusedMap = new ViewMap();
/** Pieces a reused map keeps room for between calls (1 MiB of `\u200b\uff14`; about 17 MB); a larger one is dropped at the next call. */
const REUSED_MAX = 1 << 19;

/** The view of a whole text. Texts of plain ASCII without `%` or `+` are their own view, at no cost. */
export function normalise(text: string, json = false): NormalView {
  return normaliseInto(text, json, undefined);
}

/**
 * The same view, its map in memory that the next call reuses: for a caller that is done with the
 * view before it normalises another text (scanSource).
 */
export function normaliseOnce(text: string, json = false): NormalView {
  if (reusedMap.vStart.length > REUSED_MAX) reusedMap = new ViewMap();
  reusedMap.n = 0;
  return normaliseInto(text, json, reusedMap);
}

function normaliseInto(text: string, json: boolean, map: ViewMap | undefined): NormalView {
  if (isPlain(text, json)) return { text, map: undefined };
  const b = new ViewBuilder(json, map);
  b.append(text, 0, true);
  if (b.isIdentity && b.view === text) return { text, map: undefined };
  return { text: b.view, map: b.map };
}

/** A view [start, end) in source offsets. */
export function toSource(view: NormalView, start: number, end: number): { start: number; end: number } {
  const m = view.map;
  if (m === undefined) return { start, end };
  return { start: sourceStart(m, start), end: sourceEnd(m, end) };
}

function pieceOf(m: ViewMap, v: number): number {
  let lo = 0;
  let hi = m.n - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (m.vStart[mid]! <= v) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

function sourceStart(m: ViewMap, v: number): number {
  const k = pieceOf(m, v);
  return m.identity[k] === 1 ? m.oStart[k]! + (v - m.vStart[k]!) : m.oStart[k]!;
}

function sourceEnd(m: ViewMap, v: number): number {
  const k = pieceOf(m, v - 1);
  return m.identity[k] === 1 ? m.oStart[k]! + (v - m.vStart[k]!) : m.oEnd[k]!;
}

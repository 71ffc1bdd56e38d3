import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { foldText, MAX_WORD, WordReader } from "./content-text.js";
import { EDGE, FNV_OFFSET, FNV_PRIME, MAX_WORD_FEATURES, pairBucket, WINDOW_BLOCK, wordHash, wordMix } from "./features.js";

/**
 * The built-in content classifier: a linear model over hashed word, word-pair and character n-gram
 * features (features.ts), weights trained by scripts/train-content-classifier.ts and committed in
 * models/. It has two heads: "harmful at all" (a logistic regression) and "which category" (a
 * softmax over the categories, trained on harmful texts only), and a category's score is
 * P(harmful) x P(category | harmful). The split keeps the phrasing of a request ("what's the best
 * way to…") in the first head and the subject in the second, so a category is not learnt from the
 * frames its examples happen to use. A text is read in overlapping windows of words and each
 * category scores its worst window, so a harmful request inside a long conversation is not diluted
 * by the rest: windows are two blocks of WINDOW_BLOCK words (overlapping by one) and each block
 * alone.
 *
 * Weights are int8 with one scale per category, laid out bucket-major with a stride of 8, so the
 * weights of one feature for every category share one cache line.
 */
export interface ClassifierModel {
  version: string;
  bits: number;
  categories: readonly string[];
  /** The output holding the "harmful at all" logit. */
  harmOutput: number;
  biases: Float64Array;
  scales: Float64Array;
  /** Operating points chosen at training time (documented defaults for the config). */
  thresholds: Readonly<Record<string, number>>;
  weights: Int8Array;
  /** The same bytes read four at a time, little-endian (no copy on little-endian machines): see ContentClassifier. */
  words: Uint32Array;
}

/** The weight table as 32-bit words: bytes 0-3 of a word are categories 4k..4k+3 of a bucket. */
export function weightWords(weights: Int8Array): Uint32Array {
  let bytes = new Uint8Array(weights.buffer, weights.byteOffset, weights.length);
  if (weights.byteOffset % 4 !== 0) bytes = bytes.slice();
  if (new Uint8Array(new Uint32Array([1]).buffer)[0] !== 1) {
    // A big-endian machine: reverse each word's bytes once, so the lanes below read the same.
    bytes = bytes.slice();
    for (let i = 0; i < bytes.length; i += 4) bytes.subarray(i, i + 4).reverse();
  }
  return new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
}

/** Categories are padded to this stride in the weight table. */
export const STRIDE = 8;

export interface ModelHeader {
  version: string;
  bits: number;
  categories: string[];
  harmOutput: number;
  biases: number[];
  scales: number[];
  thresholds: Record<string, number>;
  weights: string;
  training?: unknown;
}

/** The directory holding the project's package.json, found from this file (src/ under tsx, dist/ when built). */
export function projectRoot(from: string = import.meta.url): string {
  let dir = dirname(fileURLToPath(from));
  for (;;) {
    if (existsSync(join(dir, "package.json")) && existsSync(join(dir, "models"))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error("content classifier: no project root with package.json and models/ above " + fileURLToPath(from));
    dir = up;
  }
}

export const MODEL_FILE = "models/content-classifier.json";

export function loadClassifier(path: string = join(projectRoot(), MODEL_FILE)): ClassifierModel {
  const header = JSON.parse(readFileSync(path, "utf8")) as ModelHeader;
  const bin = readFileSync(join(dirname(path), header.weights));
  const expected = (1 << header.bits) * STRIDE;
  if (bin.length !== expected) throw new Error(`content classifier: ${header.weights} has ${bin.length} bytes, expected ${expected}`);
  if (header.categories.length >= STRIDE || header.harmOutput !== STRIDE - 1) throw new Error("content classifier: unsupported layout");
  const weights = new Int8Array(bin.buffer, bin.byteOffset, bin.length);
  return {
    version: header.version,
    bits: header.bits,
    categories: header.categories,
    harmOutput: header.harmOutput,
    biases: Float64Array.from(header.biases),
    scales: Float64Array.from(header.scales),
    thresholds: header.thresholds,
    weights,
    words: weightWords(weights),
  };
}

let shared: ClassifierModel | undefined;

/** The committed model, loaded once per process (about 2 MB read and no decoding). */
export function defaultClassifier(): ClassifierModel {
  shared ??= loadClassifier();
  return shared;
}

/**
 * Scores texts with one model, whole (`score`) or as they stream (`begin`, `push`). Not re-entrant
 * (it keeps its window sums in fields): each stream or caller has its own.
 *
 * Every score is a function of integer sums of int8 weights and of feature counts, so the order in
 * which features are added changes nothing: the sums are exact (test/policy/content-equivalence.test.ts
 * checks every score bit for bit against a frozen copy of the first implementation).
 */
export class ContentClassifier {
  private readonly cur = new Int32Array(STRIDE);
  private readonly prev = new Int32Array(STRIDE);
  /** The sentence being read: its sums, its feature count, and where it started (folded offset). */
  private readonly sent = new Int32Array(STRIDE);
  private sentN = 0;
  /**
   * Running sums over the whole text (the only thing each word updates); a block's and a
   * sentence's sums are differences from snapshots taken where they began. Float64: exact far past
   * what int32 holds on long texts.
   */
  private readonly tot = new Float64Array(STRIDE);
  private totN = 0;
  private readonly curSnap = new Float64Array(STRIDE);
  private curSnapN = 0;
  private readonly sentSnap = new Float64Array(STRIDE);
  private sentSnapN = 0;
  private sentStart = 0;
  private curN = 0;
  private prevN = 0;
  private readonly best: Float64Array;
  private readonly z = new Float64Array(STRIDE);
  private readonly e = new Float64Array(STRIDE);
  private windows = 0;
  private words = 0;
  /** End (folded-stream offset) of the block before the current one: text up to it is in no window still open. */
  private prevBlockEnd = 0;
  private clearedUpTo = 0;
  private readonly reader: WordReader;
  private readonly cache: WordSums;
  private readonly mask: number;
  /** The four lanes (see word) and, at 4, the wordMix of the word before (0: none yet) for the pair feature. */
  private readonly lanes = new Int32Array(5);
  private laneN = 0;
  /** The weight table as signed 32-bit words (bytes 0-3: categories 4k..4k+3 of a bucket). */
  private readonly w32: Int32Array;

  constructor(readonly model: ClassifierModel) {
    this.best = new Float64Array(model.categories.length);
    this.w32 = new Int32Array(model.words.buffer, model.words.byteOffset, model.words.length);
    this.mask = (1 << model.bits) - 1;
    this.cache = wordSumsOf(model);
    this.reader = new WordReader(this.word, (at) => this.closeSentence(at));
  }

  /**
   * One word: the weights of its features added into the lanes. The features of a word alone (its
   * own and its n-grams) are the same wherever it stands, so their sums are kept in a cache shared
   * by every classifier of the model (WordSums): in prose most words are ones seen before, and a
   * word then costs a hash, a comparison, four additions and its pair feature.
   *
   * Lanes: two categories per 32-bit lane. A weight w read as its byte XOR 0x80 is w + 128
   * (0..255), and masking a weight word with 0x00ff00ff puts two categories in 16-bit halves, so a
   * feature costs two loads and four additions for all eight categories, and a cached word four
   * additions. Exact: the lanes are unpacked into the totals before they could hold more than
   * LANE_FEATURES features (a half then holds at most 256 x 255 < 2^16).
   */
  private readonly word = (buf: Uint16Array, len: number, end: number): void => {
    if (this.laneN > LANE_ROOM) this.unpack();
    const h = wordHash(buf, len);
    const cache = this.cache;
    let slot = cache.find(buf, len, h);
    if (slot < 0) slot = this.addWord(buf, len, h, ~slot);
    const lanes = this.lanes;
    const c = slot < CACHE_SLOTS ? cache.lanes : this.spare;
    const o = slot < CACHE_SLOTS ? slot << 2 : 0;
    let l0 = lanes[0]! + c[o]!;
    let l1 = lanes[1]! + c[o + 1]!;
    let l2 = lanes[2]! + c[o + 2]!;
    let l3 = lanes[3]! + c[o + 3]!;
    let n = slot < CACHE_SLOTS ? cache.counts[slot]! : this.spareN;
    const w = slot < CACHE_SLOTS ? cache.mixes[slot]! : this.spareMix;
    const prev = lanes[4]!;
    if (prev !== 0) {
      const b = pairBucket(prev, w, this.mask) << 1;
      const g = this.w32;
      const u = g[b]! ^ 0x80808080;
      const v = g[b + 1]! ^ 0x80808080;
      l0 += u & 0x00ff00ff;
      l1 += (u >>> 8) & 0x00ff00ff;
      l2 += v & 0x00ff00ff;
      l3 += (v >>> 8) & 0x00ff00ff;
      n++;
    }
    lanes[0] = l0;
    lanes[1] = l1;
    lanes[2] = l2;
    lanes[3] = l3;
    lanes[4] = w;
    this.laneN += n;
    if (++this.words % BLOCK === 0) this.closeBlock(end);
  };

  /**
   * A word not in the cache: its features' weights summed into lanes, kept in the cache at `slot`
   * and that slot returned; a word too long to keep (slot CACHE_SLOTS) goes to `spare` instead.
   */
  private addWord(buf: Uint16Array, len: number, h: number, slot: number): number {
    const w = wordMix(h) | 0;
    const g = this.w32;
    const mask = this.mask;
    // The word's own feature, then its n-grams as WordFeatures.of hashes them (the same buckets,
    // test/policy/content-equivalence.test.ts), each summed as it is made rather than listed.
    let b = (w & mask) << 1;
    let u = g[b]! ^ 0x80808080;
    let v = g[b + 1]! ^ 0x80808080;
    let l0 = u & 0x00ff00ff;
    let l1 = (u >>> 8) & 0x00ff00ff;
    let l2 = v & 0x00ff00ff;
    let l3 = (v >>> 8) & 0x00ff00ff;
    const p = this.padded;
    p[0] = EDGE;
    for (let k = 0; k < len; k++) p[k + 1] = buf[k]!;
    const plen = len + 2;
    p[plen - 1] = EDGE;
    let n = 1;
    for (let s = 0; s + 3 <= plen; s++) {
      let x: number;
      let q = Math.imul(Math.imul(Math.imul(OFFSET ^ p[s]!, PRIME) ^ p[s + 1]!, PRIME) ^ p[s + 2]!, PRIME);
      // Up to three n-grams from this start: 3, then 4 and 5 while the word lasts.
      const top = s + 5 <= plen ? 3 : plen - s - 2;
      for (let e = 0; ; ) {
        x = Math.imul(q ^ (q >>> 16), 0x7feb352d);
        x = Math.imul(x ^ (x >>> 15), 0x846ca68b);
        b = ((x ^ (x >>> 16)) & mask) << 1;
        u = g[b]! ^ 0x80808080;
        v = g[b + 1]! ^ 0x80808080;
        l0 += u & 0x00ff00ff;
        l1 += (u >>> 8) & 0x00ff00ff;
        l2 += v & 0x00ff00ff;
        l3 += (v >>> 8) & 0x00ff00ff;
        n++;
        if (++e === top) break;
        q = Math.imul(q ^ p[s + 2 + e]!, PRIME);
      }
    }
    let c: Int32Array;
    let o: number;
    if (slot < CACHE_SLOTS) {
      this.cache.keep(slot, buf, len, h, w, n);
      c = this.cache.lanes;
      o = slot << 2;
    } else {
      this.spareN = n;
      this.spareMix = w;
      c = this.spare;
      o = 0;
    }
    c[o] = l0;
    c[o + 1] = l1;
    c[o + 2] = l2;
    c[o + 3] = l3;
    return slot;
  }

  /** `^word$` of a word being summed (EDGE at both ends). */
  private readonly padded = new Uint16Array(MAX_WORD + 2);

  /** Lanes of a word too long for the cache, its feature count and its wordMix. */
  private readonly spare = new Int32Array(4);
  private spareN = 0;
  private spareMix = 0;

  /** Adds the lanes into the running totals, and empties them. */
  private unpack(): void {
    const n = this.laneN;
    if (n === 0) return;
    const l = this.lanes;
    const t = this.tot;
    const off = 128 * n;
    // Lanes 0 and 2 hold the even categories of a word (low half first), 1 and 3 the odd ones.
    t[0] += (l[0]! & 0xffff) - off;
    t[2] += (l[0]! >>> 16) - off;
    t[1] += (l[1]! & 0xffff) - off;
    t[3] += (l[1]! >>> 16) - off;
    t[4] += (l[2]! & 0xffff) - off;
    t[6] += (l[2]! >>> 16) - off;
    t[5] += (l[3]! & 0xffff) - off;
    t[7] += (l[3]! >>> 16) - off;
    l[0] = 0;
    l[1] = 0;
    l[2] = 0;
    l[3] = 0;
    this.totN += n;
    this.laneN = 0;
  }

  /** Score per category (index as model.categories), in [0, 1]: the highest over the text's windows. */
  score(text: string): Float64Array {
    return Float64Array.from(this.run(text));
  }

  /**
   * Scores a whole text; the returned array is the live `scores` (valid until the next call).
   *
   * With `floor` (a score in (0, 1)): only scores at or above the floor need be exact. A window
   * whose every score is below it by the margin skipLogit allows is left unjudged (its softmax and
   * exps skipped), so a category's score comes out exact when it is at or above the floor and
   * anywhere below the floor otherwise: every score is a product P(harmful) x P(category |
   * harmful), at most the window's P(harmful), which the window's "harmful" logit alone bounds.
   * What a rule that only asks which categories reach their thresholds (all at or above the
   * floor) needs: the same categories fire, with the same scores (content-judge.ts).
   */
  run(text: string, floor = 0): Float64Array {
    this.begin();
    this.floorLogit = floorLogitOf(floor);
    this.skipBelow = this.floorLogit;
    this.reader.push(foldText(text), true);
    this.closeText();
    return this.best;
  }

  /** The "harmful" logit at or under which a window cannot reach `floor` in any category (run's floor); −∞: none. */
  private floorLogit = -Infinity;

  /** Scores as a record by category name. */
  scoreByCategory(text: string): Record<string, number> {
    const s = this.run(text);
    const out: Record<string, number> = {};
    this.model.categories.forEach((c, i) => (out[c] = s[i]!));
    return out;
  }

  /** Starts a text that will arrive in pieces. */
  begin(): void {
    this.reset();
    this.reader.reset();
  }

  /**
   * The next piece. Returns the piece's length in the folded stream (offsets of `cleared` count in
   * it). With `final`, every window has been judged afterwards.
   */
  push(piece: string, final: boolean): number {
    const folded = foldText(piece);
    this.reader.push(folded, final);
    if (final) this.closeText();
    return folded.length;
  }

  /** Best score so far per category (live view; copy to keep). */
  get scores(): Float64Array {
    return this.best;
  }

  /** Folded-stream offset before which every window holding the text has been judged. */
  get cleared(): number {
    return Math.min(this.clearedUpTo, this.sentStart);
  }

  /** Plain loops: TypedArray.prototype.fill is a runtime call, dearer than eight stores. */
  private reset(): void {
    const best = this.best;
    for (let c = 0; c < best.length; c++) best[c] = 0;
    for (let c = 0; c < STRIDE; c++) {
      this.cur[c] = 0;
      this.prev[c] = 0;
      this.sent[c] = 0;
      this.tot[c] = 0;
      this.curSnap[c] = 0;
      this.sentSnap[c] = 0;
    }
    this.curN = 0;
    this.prevN = 0;
    this.windows = 0;
    this.words = 0;
    this.prevBlockEnd = 0;
    this.clearedUpTo = 0;
    this.sentN = 0;
    this.sentStart = 0;
    this.totN = 0;
    this.curSnapN = 0;
    this.sentSnapN = 0;
    this.skipBelow = -Infinity;
    this.floorLogit = -Infinity;
    if (++this.texts === 0x7fffffff) {
      // Stamps restart: entries from before must not look like this text's.
      this.texts = 1;
      this.memoText.fill(0);
    }
    for (let k = 0; k < 5; k++) this.lanes[k] = 0;
    this.laneN = 0;
  }

  /** Brings the current block's and sentence's sums up to date from the running totals. */
  private sync(): void {
    this.unpack();
    for (let c = 0; c < STRIDE; c++) {
      this.cur[c] = this.tot[c]! - this.curSnap[c]!;
      this.sent[c] = this.tot[c]! - this.sentSnap[c]!;
    }
    this.curN = this.totN - this.curSnapN;
    this.sentN = this.totN - this.sentSnapN;
  }

  private closeText(): void {
    this.sync();
    if (this.curN > 0 || this.windows === 0) this.judgeWindow();
    if (this.sentN > 0) this.judgeSums(this.sent, this.sentN);
    this.clearedUpTo = Number.MAX_SAFE_INTEGER;
    this.sentStart = Number.MAX_SAFE_INTEGER;
  }

  /**
   * A sentence is also judged on its own (a request is usually one), so a harmful sentence is not
   * diluted by the block boundaries falling inside it. Sentences longer than two blocks are judged
   * by the blocks only.
   */
  private closeSentence(at: number): void {
    // sync() without the block's sums, which nothing reads before the next sync().
    this.unpack();
    const t = this.tot;
    const sentN = this.totN - this.sentSnapN;
    this.sentN = sentN;
    if (sentN > 0 && sentN <= this.totN - this.curSnapN + this.prevN) {
      for (let c = 0; c < STRIDE; c++) this.sent[c] = t[c]! - this.sentSnap[c]!;
      this.judgeSums(this.sent, sentN);
    }
    for (let c = 0; c < STRIDE; c++) this.sentSnap[c] = this.tot[c]!;
    this.sentSnapN = this.totN;
    this.sentStart = at;
  }

  /**
   * Scores of the window still open (the previous block and the words read since), written into
   * `out`; not recorded as judged. What a stream uses to decide whether to hold text back.
   */
  openScores(out: Float64Array): Float64Array {
    this.sync();
    const n = this.curN + this.prevN;
    const norm = n > 0 ? 1 / Math.sqrt(n) : 0;
    const { biases, scales, harmOutput } = this.model;
    const z = this.z;
    for (let c = 0; c < STRIDE; c++) z[c] = biases[c]! + scales[c]! * (this.cur[c]! + this.prev[c]!) * norm;
    const harm = n > 0 ? 1 / (1 + Math.exp(-z[harmOutput]!)) : 0;
    const k = this.best.length;
    let m = -Infinity;
    for (let c = 0; c < k; c++) if (z[c]! > m) m = z[c]!;
    const e = this.e;
    let sum = 0;
    for (let c = 0; c < k; c++) sum += e[c] = Math.exp(z[c]! - m);
    for (let c = 0; c < k; c++) out[c] = (harm * e[c]!) / sum;
    return out;
  }

  /** Folded-stream offset before which every word has been read. */
  get settled(): number {
    return this.reader.settled;
  }

  /** Judges the open window: the previous block and the current one, and (when both hold words) the current one alone. */
  private judgeWindow(): void {
    this.judge(this.prev);
    if (this.prevN > 0 && this.curN > 0) this.judge(undefined);
    this.windows++;
  }

  /** Records the scores of the current block plus `extra` (a block's sums), or of the current block alone. */
  private judge(extra: Int32Array | undefined): void {
    const s = this.sums;
    for (let c = 0; c < STRIDE; c++) s[c] = this.cur[c]! + (extra ? extra[c]! : 0);
    this.judgeSums(s, this.curN + (extra ? this.prevN : 0));
  }

  private readonly sums = new Int32Array(STRIDE);

  private judgeSums(sums: Int32Array, n: number): void {
    const norm = n > 0 ? 1 / Math.sqrt(n) : 0;
    const { biases, scales, harmOutput } = this.model;
    // The same expression as z[harmOutput] below, so the same double: a window whose "harmful"
    // logit is under skipBelow would be skipped by the test below too, without its exp().
    if (biases[harmOutput]! + scales[harmOutput]! * sums[harmOutput]! * norm <= this.skipBelow) return;
    if (this.judgedBefore(sums, n)) return;
    const z = this.z;
    for (let c = 0; c < STRIDE; c++) z[c] = biases[c]! + scales[c]! * sums[c]! * norm;
    const harm = 1 / (1 + Math.exp(-z[harmOutput]!));
    const k = this.best.length;
    // A category's score is at most `harm`: when no best is below it, this window changes nothing.
    let low = Infinity;
    for (let c = 0; c < k; c++) if (this.best[c]! < low) low = this.best[c]!;
    if (harm * (1 + 1e-12) <= low) return; // the margin covers rounding in the products below
    let m = -Infinity;
    for (let c = 0; c < k; c++) if (z[c]! > m) m = z[c]!;
    // Each exp once (the same call on the same double gives the same double both times it was taken).
    const e = this.e;
    let sum = 0;
    for (let c = 0; c < k; c++) sum += e[c] = Math.exp(z[c]! - m);
    let raised = false;
    for (let c = 0; c < k; c++) {
      const p = (harm * e[c]!) / sum;
      if (p > this.best[c]!) {
        this.best[c] = p;
        raised = true;
      }
    }
    if (raised) {
      const skip = skipLogit(this.best);
      this.skipBelow = skip > this.floorLogit ? skip : this.floorLogit;
    }
  }

  /**
   * Whether this text already had a window with these sums and this count (and records it if
   * not): its scores are a function of them alone and best scores only rise, so judging it again
   * changes nothing. Texts that repeat themselves (a list of one-word sentences, a pasted table)
   * would otherwise pay the softmax's exps for every copy. Direct-mapped, WINDOW_MEMO entries.
   */
  private judgedBefore(sums: Int32Array, n: number): boolean {
    let h = Math.imul(n, 0x9e3779b1);
    for (let c = 0; c < STRIDE; c++) h = Math.imul(h ^ sums[c]!, 0x01000193);
    const slot = (h >>> 26) & (WINDOW_MEMO - 1);
    const memo = this.memo;
    const at = slot * (STRIDE + 1);
    if (this.memoText[slot] === this.texts && memo[at] === n) {
      let same = true;
      for (let c = 0; c < STRIDE; c++) if (memo[at + 1 + c] !== sums[c]) same = false;
      if (same) return true;
    }
    this.memoText[slot] = this.texts;
    memo[at] = n;
    for (let c = 0; c < STRIDE; c++) memo[at + 1 + c] = sums[c]!;
    return false;
  }

  /** Windows judged in this text (see judgedBefore): count and sums; and which text each entry is from. */
  private readonly memo = new Int32Array(WINDOW_MEMO * (STRIDE + 1));
  private readonly memoText = new Int32Array(WINDOW_MEMO);
  /** Texts begun by this classifier: the stamp of memo entries (0: none). */
  private texts = 0;

  /**
   * A "harmful" logit at or under which a window cannot raise any category's best (see skipLogit);
   * −∞ until every category has a best.
   */
  private skipBelow = -Infinity;

  private closeBlock(end: number): void {
    this.sync();
    this.judgeWindow();
    // The block before this one has now been judged in both its windows.
    this.clearedUpTo = this.prevBlockEnd;
    this.prevBlockEnd = end;
    for (let c = 0; c < STRIDE; c++) {
      this.prev[c] = this.cur[c]!;
      this.curSnap[c] = this.tot[c]!;
      this.cur[c] = 0;
    }
    this.prevN = this.curN;
    this.curSnapN = this.totN;
    this.curN = 0;
  }
}

/**
 * A logit z such that every window with a "harmful" logit ≤ z has harm = 1/(1+e^−z) below the
 * lowest best score by a relative margin of at least 1e-6 x (1 − low) ≥ 1e-9 (z is logit(low) − 1e-6), far more than the
 * 1e-12 judgeSums allows for rounding: such a window is one judgeSums would skip after its exp().
 * −∞ (never skip early) when the lowest best is 0, tiny, or so near 1 that the margin would shrink.
 */
function skipLogit(best: Float64Array): number {
  let low = Infinity;
  for (let c = 0; c < best.length; c++) if (best[c]! < low) low = best[c]!;
  if (!(low >= 1e-200 && low <= 0.999)) return -Infinity;
  return Math.log(low / (1 - low)) - 1e-6;
}

/**
 * skipLogit's bound for a floor instead of the lowest best: a window at or under it has every score
 * below `floor` by a relative margin of at least 1e-9 (the same construction, so the same proof).
 * −∞ for a floor that is 0, tiny, or so near 1 that the margin would shrink.
 */
function floorLogitOf(floor: number): number {
  if (!(floor >= 1e-200 && floor <= 0.999)) return -Infinity;
  return Math.log(floor / (1 - floor)) - 1e-6;
}

/** Windows remembered per text (judgedBefore). */
const WINDOW_MEMO = 64;

/** Features the lanes may hold before they are unpacked (256 x 255 < 2^16). */
const LANE_FEATURES = 256;

/**
 * Non-exported copies of constants the per-word code reads: an imported const is read through a
 * cell with an initialisation check on every use, a module's own const is folded by the optimiser
 * (features.ts; ~1 k instructions per chat text here, issue #20).
 */
const LANE_ROOM = LANE_FEATURES - MAX_WORD_FEATURES;
const BLOCK = WINDOW_BLOCK;
const OFFSET = FNV_OFFSET;
const PRIME = FNV_PRIME;

/** Words kept per model, and the longest word kept (longer ones are rare and summed each time). */
const CACHE_SLOTS = 4096;
const CACHE_CHARS = 16;

/**
 * The sums of a word's own features (its bucket and n-grams, not its pair) for recently seen words,
 * one table per model shared by all its classifiers in a thread (a classifier runs synchronously,
 * so they never interleave inside a word). Direct-mapped by the word's hash; a slot holds the
 * word's code units, compared in full, so a hit is the word itself and its sums are exact.
 */
class WordSums {
  readonly keys = new Int32Array(CACHE_SLOTS);
  readonly lens = new Uint8Array(CACHE_SLOTS);
  readonly chars = new Uint16Array(CACHE_SLOTS * CACHE_CHARS);
  readonly mixes = new Int32Array(CACHE_SLOTS);
  readonly counts = new Int32Array(CACHE_SLOTS);
  /** The word's features' weights as four lanes (see ContentClassifier.word). */
  readonly lanes = new Int32Array(CACHE_SLOTS * 4);

  /** The slot holding this word; else ~slot, negative, for the slot it would take (~CACHE_SLOTS: too long to keep). */
  find(buf: Uint16Array, len: number, h: number): number {
    if (len > CACHE_CHARS) return ~CACHE_SLOTS;
    const slot = Math.imul(h, 0x9e3779b1) >>> 20;
    if (this.lens[slot] !== len || this.keys[slot] !== h) return ~slot;
    const chars = this.chars;
    const at = slot * CACHE_CHARS;
    for (let k = 0; k < len; k++) if (chars[at + k] !== buf[k]) return ~slot;
    return slot;
  }

  /** Takes `slot` for a word (its lanes are written by the caller). */
  keep(slot: number, buf: Uint16Array, len: number, h: number, w: number, n: number): void {
    this.keys[slot] = h;
    this.lens[slot] = len;
    this.mixes[slot] = w;
    this.counts[slot] = n;
    const at = slot * CACHE_CHARS;
    for (let k = 0; k < len; k++) this.chars[at + k] = buf[k]!;
  }
}

const wordSums = new WeakMap<ClassifierModel, WordSums>();
function wordSumsOf(model: ClassifierModel): WordSums {
  let s = wordSums.get(model);
  if (!s) wordSums.set(model, (s = new WordSums()));
  return s;
}

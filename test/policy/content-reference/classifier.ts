import { STRIDE, type ClassifierModel } from "../../../src/policy/content/classifier.js";
import { FeatureWalker } from "./features.js";

/**
 * A frozen copy of the content classifier as it was before the fast path (main at ea5e070):
 * the oracle the fast classifier is compared with (test/policy/content-equivalence.test.ts).
 * Never optimise this file; it is the definition of the scores.
 */

/** Features summed in 16-bit lanes before they are unpacked (256 x 255 < 2^16). */
const LANE_FEATURES = 256;

/**
 * Scores texts with one model, whole (`score`) or as they stream (`begin`, `push`). Not re-entrant
 * (it keeps its window sums in fields): each stream or caller has its own.
 */
export class ReferenceClassifier {
  private readonly cur = new Int32Array(STRIDE);
  private readonly prev = new Int32Array(STRIDE);
  /** The sentence being read: its sums, its feature count, and where it started (folded offset). */
  private readonly sent = new Int32Array(STRIDE);
  private sentN = 0;
  /**
   * Running sums over the whole text (the only thing each feature updates); a block's and a
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
  private windows = 0;
  /** End (folded-stream offset) of the block before the current one: text up to it is in no window still open. */
  private prevBlockEnd = 0;
  private clearedUpTo = 0;
  private readonly walker: FeatureWalker;
  /**
   * Sums since the last unpack, two categories per 32-bit lane: a weight w read as its byte XOR
   * 0x80 is w + 128 (0..255), and masking a word with 0x00ff00ff puts two categories in 16-bit
   * halves, so one feature costs two loads and four additions for all eight categories. Exact:
   * after at most LANE_FEATURES features a half holds at most 256 x 255 < 2^16, and is unpacked.
   */
  private readonly lanes = new Uint32Array(4);
  private laneN = 0;

  constructor(readonly model: ClassifierModel) {
    this.best = new Float64Array(model.categories.length);
    const w = model.words;
    const lanes = this.lanes;
    this.walker = new FeatureWalker(
      model.bits,
      (b) => {
        const u = w[2 * b]! ^ 0x80808080;
        const v = w[2 * b + 1]! ^ 0x80808080;
        lanes[0] += u & 0x00ff00ff;
        lanes[1] += (u >>> 8) & 0x00ff00ff;
        lanes[2] += v & 0x00ff00ff;
        lanes[3] += (v >>> 8) & 0x00ff00ff;
        if (++this.laneN === LANE_FEATURES) this.unpack();
      },
      (end) => this.closeBlock(end),
      (at) => this.closeSentence(at),
    );
  }

  /** Score per category (index as model.categories), in [0, 1]: the highest over the text's windows. */
  score(text: string): Float64Array {
    this.reset();
    this.walker.walk(text);
    this.closeText();
    return Float64Array.from(this.best);
  }

  /** Scores as a record by category name. */
  scoreByCategory(text: string): Record<string, number> {
    const s = this.score(text);
    const out: Record<string, number> = {};
    this.model.categories.forEach((c, i) => (out[c] = s[i]!));
    return out;
  }

  /** Starts a text that will arrive in pieces. */
  begin(): void {
    this.reset();
    this.walker.reset();
  }

  /**
   * The next piece. Returns the piece's length in the folded stream (offsets of `cleared` count in
   * it). With `final`, every window has been judged afterwards.
   */
  push(piece: string, final: boolean): number {
    const n = this.walker.push(piece, final);
    if (final) this.closeText();
    return n;
  }

  /** Best score so far per category (live view; copy to keep). */
  get scores(): Float64Array {
    return this.best;
  }

  /** Folded-stream offset before which every window holding the text has been judged. */
  get cleared(): number {
    return Math.min(this.clearedUpTo, this.sentStart);
  }

  private reset(): void {
    this.best.fill(0);
    this.cur.fill(0);
    this.prev.fill(0);
    this.curN = 0;
    this.prevN = 0;
    this.windows = 0;
    this.prevBlockEnd = 0;
    this.clearedUpTo = 0;
    this.sent.fill(0);
    this.sentN = 0;
    this.sentStart = 0;
    this.tot.fill(0);
    this.totN = 0;
    this.lanes.fill(0);
    this.laneN = 0;
    this.curSnap.fill(0);
    this.curSnapN = 0;
    this.sentSnap.fill(0);
    this.sentSnapN = 0;
  }

  /** Adds the lanes into the running totals, and empties them. */
  private unpack(): void {
    const n = this.laneN;
    if (n === 0) return;
    const l = this.lanes;
    const t = this.tot;
    const off = 128 * n;
    // Lanes 0 and 2 hold the even categories of a word (low half first), 1 and 3 the odd ones.
    t[0]! += (l[0]! & 0xffff) - off;
    t[2]! += (l[0]! >>> 16) - off;
    t[1]! += (l[1]! & 0xffff) - off;
    t[3]! += (l[1]! >>> 16) - off;
    t[4]! += (l[2]! & 0xffff) - off;
    t[6]! += (l[2]! >>> 16) - off;
    t[5]! += (l[3]! & 0xffff) - off;
    t[7]! += (l[3]! >>> 16) - off;
    l.fill(0);
    this.totN += n;
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
    this.sync();
    if (this.sentN > 0 && this.sentN <= this.curN + this.prevN) this.judgeSums(this.sent, this.sentN);
    this.sentSnap.set(this.tot);
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
    let sum = 0;
    for (let c = 0; c < k; c++) sum += Math.exp(z[c]! - m);
    for (let c = 0; c < k; c++) out[c] = (harm * Math.exp(z[c]! - m)) / sum;
    return out;
  }

  /** Folded-stream offset before which every word has been read. */
  get settled(): number {
    return this.walker.settled;
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
    let sum = 0;
    for (let c = 0; c < k; c++) sum += Math.exp(z[c]! - m);
    for (let c = 0; c < k; c++) {
      const p = (harm * Math.exp(z[c]! - m)) / sum;
      if (p > this.best[c]!) this.best[c] = p;
    }
  }

  private closeBlock(end: number): void {
    this.sync();
    this.judgeWindow();
    // The block before this one has now been judged in both its windows.
    this.clearedUpTo = this.prevBlockEnd;
    this.prevBlockEnd = end;
    this.prev.set(this.cur);
    this.prevN = this.curN;
    this.curSnap.set(this.tot);
    this.curSnapN = this.totN;
    this.cur.fill(0);
    this.curN = 0;
  }
}

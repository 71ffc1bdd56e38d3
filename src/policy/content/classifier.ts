import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { FeatureWalker } from "./features.js";

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
  return {
    version: header.version,
    bits: header.bits,
    categories: header.categories,
    harmOutput: header.harmOutput,
    biases: Float64Array.from(header.biases),
    scales: Float64Array.from(header.scales),
    thresholds: header.thresholds,
    weights: new Int8Array(bin.buffer, bin.byteOffset, bin.length),
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
 */
export class ContentClassifier {
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

  constructor(readonly model: ClassifierModel) {
    this.best = new Float64Array(model.categories.length);
    const w = model.weights;
    const tot = this.tot;
    this.walker = new FeatureWalker(
      model.bits,
      (b) => {
        const o = b * STRIDE;
        tot[0]! += w[o]!;
        tot[1]! += w[o + 1]!;
        tot[2]! += w[o + 2]!;
        tot[3]! += w[o + 3]!;
        tot[4]! += w[o + 4]!;
        tot[5]! += w[o + 5]!;
        tot[6]! += w[o + 6]!;
        tot[7]! += w[o + 7]!;
        this.totN++;
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
    this.curSnap.fill(0);
    this.curSnapN = 0;
    this.sentSnap.fill(0);
    this.sentSnapN = 0;
  }

  /** Brings the current block's and sentence's sums up to date from the running totals. */
  private sync(): void {
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

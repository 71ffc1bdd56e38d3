import type { ContentCategory } from "../../config/index.js";
import { contentCategories } from "../../config/index.js";
import { ContentClassifier, defaultClassifier } from "./classifier.js";

/** What the classifier decided about one text for one rule: the categories at or over their thresholds, and the deciding score. */
export interface ClassifierVerdict {
  fired: ContentCategory[];
  /** The category with the highest score relative to its threshold, fired or not. */
  top: { category: ContentCategory; score: number; threshold: number };
  /** Highest score among the asked categories (what a guard rule's unsure band is compared with). */
  max: number;
}

/** The model's operating points, one per category (documented in models/content-classifier.md). */
export function defaultThresholds(): Record<ContentCategory, number> {
  const t = defaultClassifier().thresholds;
  const out = {} as Record<ContentCategory, number>;
  for (const c of contentCategories) {
    const v = t[c];
    if (v === undefined) throw new Error(`content classifier has no threshold for '${c}'`);
    out[c] = v;
  }
  return out;
}

let shared: ContentClassifier | undefined;

/** One classifier for whole-text judgments (synchronous, so one instance serves every request). */
function classifier(): ContentClassifier {
  shared ??= new ContentClassifier(defaultClassifier());
  return shared;
}

/** A rule's categories as the model's score indices (-1: not a model category) and their thresholds, in the rule's order. */
interface AskedPlan {
  asked: readonly ContentCategory[];
  index: Int32Array;
  threshold: readonly number[];
  /**
   * The lowest threshold, when every asked category is a model category with a threshold in (0, 1]:
   * the classifier's floor for a verdict that only needs to know what fired (judgeText). 0: none.
   */
  floor: number;
}

/**
 * Plans by the rule's thresholds object: a rule judges every text with the same categories and
 * thresholds, so the category names are looked up (an indexOf and a keyed load each, ~2.5 k
 * instructions per text for the eight categories) once per rule, not per text. A stream's halved
 * thresholds are an object of their own, so they keep a plan of their own; a plan is remade when
 * its thresholds come with another category list.
 */
const plans = new WeakMap<Readonly<Record<ContentCategory, number>>, AskedPlan>();

function planOf(asked: readonly ContentCategory[], thresholds: Readonly<Record<ContentCategory, number>>): AskedPlan {
  let p = plans.get(thresholds);
  if (p !== undefined && p.asked === asked) return p;
  const cats = defaultClassifier().categories;
  const index = Int32Array.from(asked, (c) => cats.indexOf(c));
  const threshold = asked.map((c) => thresholds[c]);
  const usable = asked.length > 0 && index.every((i) => i !== -1) && threshold.every((t) => t > 0 && t <= 1);
  p = { asked, index, threshold, floor: usable ? Math.min(...threshold) : 0 };
  plans.set(thresholds, p);
  return p;
}

/** Reads the category scores against the rule's thresholds. */
export function verdictOf(scores: ArrayLike<number>, asked: readonly ContentCategory[], thresholds: Readonly<Record<ContentCategory, number>>): ClassifierVerdict {
  const { index, threshold: limits } = planOf(asked, thresholds);
  const fired: ContentCategory[] = [];
  let top: ClassifierVerdict["top"] | undefined;
  let max = 0;
  for (let k = 0; k < asked.length; k++) {
    const c = asked[k]!;
    const i = index[k]!;
    const score = i === -1 ? 0 : scores[i]!;
    const threshold = limits[k]!;
    if (score >= threshold) fired.push(c);
    if (score > max) max = score;
    if (top === undefined || score / threshold > top.score / top.threshold) top = { category: c, score, threshold };
  }
  return { fired, top: top!, max };
}

/**
 * Judges one text (a whole conversation's user turns, or one response) for a rule's categories.
 *
 * `firedOnly`: the caller reads `top` and `max` only when a category fired (a built-in rule). The
 * classifier then skips windows that cannot reach the lowest threshold (ContentClassifier.run's
 * floor): `fired` is the same, and when a category fired so are `top` and `max` — each fired
 * score is at or above the floor, so exact; every other category's score, exact or not, stays
 * below its threshold by a relative margin (ratio under 1, never tying a fired one's); `max` is a
 * fired score. With nothing fired, `top` and `max` may be lower than a full judgment's.
 */
export function judgeText(text: string, asked: readonly ContentCategory[], thresholds: Readonly<Record<ContentCategory, number>>, firedOnly = false): ClassifierVerdict {
  const floor = firedOnly ? planOf(asked, thresholds).floor : 0;
  return verdictOf(classifier().run(text, floor), asked, thresholds);
}

/** Loads the model and runs it once, so the first request pays neither. */
export function warmUpClassifier(): void {
  classifier().score("Warm up the classifier: how do I kill a stuck process and shoot a portrait?");
}

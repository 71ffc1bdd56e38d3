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
  p = { asked, index: Int32Array.from(asked, (c) => cats.indexOf(c)), threshold: asked.map((c) => thresholds[c]) };
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

/** Judges one text (a whole conversation's user turns, or one response) for a rule's categories. */
export function judgeText(text: string, asked: readonly ContentCategory[], thresholds: Readonly<Record<ContentCategory, number>>): ClassifierVerdict {
  return verdictOf(classifier().run(text), asked, thresholds);
}

/** Loads the model and runs it once, so the first request pays neither. */
export function warmUpClassifier(): void {
  classifier().score("Warm up the classifier: how do I kill a stuck process and shoot a portrait?");
}

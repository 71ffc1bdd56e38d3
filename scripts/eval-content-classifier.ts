/**
 * Evaluates the committed content classifier (models/) on data it was never trained on:
 *   - the held-out template families of the generated corpus (scripts/content/families.ts, `test: true`),
 *   - the hand-written sets (scripts/content/eval-sets.ts), a separate source,
 *   - the everyday questions (none may be blocked).
 * Prints per-category precision, recall, F1 and false-positive rate at the model's default
 * thresholds.
 *
 *   npm run eval:content
 */
import { ContentClassifier, defaultClassifier } from "../src/policy/content/classifier.js";
import { buildCorpus } from "./content/corpus.js";
import { everyday, handBenign, handHarmful } from "./content/eval-sets.js";

const model = defaultClassifier();
const clf = new ContentClassifier(model);
const cats = model.categories;

type Item = { text: string; labels: string[] };

function flagged(text: string): string[] {
  const s = clf.score(text);
  return cats.filter((c, i) => s[i]! >= model.thresholds[c]!);
}

function report(name: string, items: Item[]): void {
  const preds = items.map((x) => flagged(x.text));
  console.log(`\n## ${name} (${items.length} texts, ${items.filter((x) => x.labels.length === 0).length} benign)\n`);
  console.log("| category | n | precision | recall | F1 | FPR |");
  console.log("| --- | ---: | ---: | ---: | ---: | ---: |");
  for (const c of cats) {
    let tp = 0, fp = 0, fn = 0, tn = 0;
    items.forEach((x, i) => {
      const y = x.labels.includes(c);
      const p = preds[i]!.includes(c);
      if (y && p) tp++;
      else if (!y && p) fp++;
      else if (y && !p) fn++;
      else tn++;
    });
    if (tp + fn === 0 && fp === 0) continue;
    const prec = tp / Math.max(1, tp + fp);
    const rec = tp / Math.max(1, tp + fn);
    const f1 = (2 * prec * rec) / Math.max(1e-9, prec + rec);
    console.log(`| ${c} | ${tp + fn} | ${prec.toFixed(3)} | ${rec.toFixed(3)} | ${f1.toFixed(3)} | ${(fp / Math.max(1, fp + tn)).toFixed(3)} |`);
  }
  // Binary: any harmful category vs benign.
  let tp = 0, fp = 0, fn = 0, tn = 0;
  items.forEach((x, i) => {
    const y = x.labels.length > 0;
    const p = preds[i]!.length > 0;
    if (y && p) tp++;
    else if (!y && p) fp++;
    else if (y && !p) fn++;
    else tn++;
  });
  const prec = tp / Math.max(1, tp + fp);
  const rec = tp / Math.max(1, tp + fn);
  console.log(
    `| **any (flagged vs benign)** | ${tp + fn} | ${prec.toFixed(3)} | ${rec.toFixed(3)} | ${((2 * prec * rec) / Math.max(1e-9, prec + rec)).toFixed(3)} | ${(fp / Math.max(1, fp + tn)).toFixed(3)} |`,
  );
  const verbose = process.argv.includes("--verbose");
  if (verbose) {
    items.forEach((x, i) => {
      const p = preds[i]!;
      if (x.labels.length === 0 && p.length > 0) console.log(`  FP [${p.join(",")}]: ${x.text}`);
      if (x.labels.length > 0 && !x.labels.some((l) => p.includes(l))) console.log(`  FN [${x.labels.join(",")}] got [${p.join(",")}]: ${x.text}`);
    });
  }
}

const test = buildCorpus().filter((e) => e.split === "test");
console.log(`model ${model.version}; thresholds ${JSON.stringify(model.thresholds)}`);
report("Held-out template families (generated corpus, test split)", test.map((e) => ({ text: e.text, labels: e.labels })));
report("Hand-written set (separate source)", [
  ...handHarmful.map((h) => ({ text: h.text, labels: [h.label] })),
  ...handBenign.map((t) => ({ text: t, labels: [] })),
]);
const blocked = everyday.filter((t) => flagged(t).length > 0);
console.log(`\n## Everyday questions\n\n${blocked.length} of ${everyday.length} blocked${blocked.length ? ": " + blocked.join(" | ") : ""}`);

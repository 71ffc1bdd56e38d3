/**
 * Builds the labelled corpus from the template families (families.ts), with the noise real text
 * has: case, missing punctuation, typos, greetings and unrelated sentences around the request,
 * words spelled apart (`p i p e`, `b-o-m-b`) and run together. Deterministic for a given seed.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { projectRoot } from "../../src/policy/content/classifier.js";
import { createRequire } from "node:module";
import { cuss } from "cuss";
import { families, slots, type Family, type Label } from "./families.js";
import { expand, pick, rng } from "./template.js";

export interface Example {
  text: string;
  labels: Label[];
  family: string;
  split: "train" | "test";
}

const openers = [
  "hi", "hey", "hello there", "quick question", "ok so", "so", "listen", "be honest", "im serious", "no judgement please", "question:",
  "I have a question.", "This is urgent.", "sorry if this is weird,", "for real though,", "dont lecture me,", "asking for myself,",
];
const fillers = [
  "My day was long.", "Thanks in advance.", "I've been thinking about this a lot.", "Please answer quickly.", "It's 3am and I can't sleep.",
  "I live in Ohio.", "Also my cat is asleep on my keyboard lol.", "Reply in English.", "Keep it short.", "I already searched online.",
  "My friend told me to ask you.", "The weather is awful today.", "I'm using my phone so sorry for typos.",
];

function hash(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

function typo(text: string, r: () => number): string {
  const words = text.split(" ");
  const i = Math.floor(r() * words.length);
  const w = words[i]!;
  if (w.length < 4) return text;
  const k = 1 + Math.floor(r() * (w.length - 2));
  const kind = r();
  words[i] = kind < 0.33 ? w.slice(0, k) + w.slice(k + 1) : kind < 0.66 ? w.slice(0, k) + w[k + 1] + w[k] + w.slice(k + 2) : w.slice(0, k) + w[k] + w.slice(k);
  return words.join(" ");
}

/** Spells one longer word apart (`p i p e`, `b-o-m-b`, `k.i.l.l`) or runs two words together. */
function obfuscate(text: string, r: () => number): string {
  const words = text.split(" ");
  const candidates = words.map((w, i) => (/^[a-z]{4,}$/i.test(w) ? i : -1)).filter((i) => i >= 0);
  if (candidates.length === 0) return text;
  const i = pick(r, candidates);
  const mode = r();
  if (mode < 0.35) words[i] = words[i]!.split("").join(pick(r, [" ", "-", ".", "_", "*"]));
  else if (mode < 0.5 && i + 1 < words.length) {
    // Two words spelled apart with single spaces read as one run of letters (`p i p e b o m b`).
    words[i] = (words[i]! + words[i + 1]!).split("").join(" ");
    words.splice(i + 1, 1);
  }
  else if (i + 1 < words.length) {
    words[i] = words[i]! + (mode < 0.75 ? "" : "-") + words[i + 1]!;
    words.splice(i + 1, 1);
  }
  return words.join(" ");
}

function noisy(text: string, r: () => number, benignPool: readonly string[]): string {
  let t = text;
  if (r() < 0.15) t = pick(r, openers) + " " + t;
  if (r() < 0.1) t = t + " " + pick(r, fillers);
  if (r() < 0.08) t = r() < 0.5 ? pick(r, benignPool) + " " + t : t + " " + pick(r, benignPool);
  if (r() < 0.2) t = t.toLowerCase();
  else if (r() < 0.05) t = t.toUpperCase();
  else if (r() < 0.3) t = t[0]!.toUpperCase() + t.slice(1);
  if (r() < 0.15) t = t.replace(/[?.!,']/g, "");
  if (r() < 0.1) t = typo(t, r);
  if (r() < 0.12) t = obfuscate(t, r);
  return t;
}

function familyExamples(f: Family, r: () => number): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  let tries = 0;
  while (out.length < f.n && tries < f.n * 6) {
    tries++;
    const t = expand(pick(r, f.templates), slots, r);
    if (seen.has(t)) continue;
    seen.add(t);
    out.push(t);
  }
  return out;
}

const require = createRequire(import.meta.url);

/**
 * Everyday English from the nlp-corpus package (MIT; 100 files of shuffled sentences from film
 * reviews, news, UN documents, fiction, forum posts, SMS): benign negatives with the variety no
 * template has. Sentences with any word of the LDNOOBW or cuss lists are dropped (the corpus has
 * explicit lyrics and slurs that are not benign). Files 0-79 train, 80-99 test.
 */
export function nlpCorpusSentences(): { text: string; split: "train" | "test" }[] {
  const blocked = new Set<string>([...(require("naughty-words/en.json") as string[]), ...Object.keys(cuss).filter((w) => cuss[w]! >= 1)]);
  const out: { text: string; split: "train" | "test" }[] = [];
  const dir = join(projectRoot(import.meta.url), "node_modules/nlp-corpus/builds/");
  for (let i = 0; i < 100; i++) {
    const doc = JSON.parse(readFileSync(`${dir}doc-${i}.json`, "utf8")) as string[];
    for (const text of doc) {
      if (text.length < 12 || text.length > 400) continue;
      const lower = text.toLowerCase();
      const words = lower.split(/[^a-z]+/);
      if (words.some((w) => blocked.has(w))) continue;
      if ([...blocked].some((b) => b.includes(" ") && lower.includes(b))) continue;
      out.push({ text, split: i < 80 ? "train" : "test" });
    }
  }
  return out;
}

export function buildCorpus(seed = 17): Example[] {
  const r = rng(seed);
  const raw = families.map((f) => ({ f, texts: familyExamples(f, rng(seed ^ hash(f.id))) }));
  const benignPool = raw.filter((x) => x.f.label === "benign" && !x.f.test).flatMap((x) => x.texts.slice(0, 200));
  const out: Example[] = [];
  for (const { f, texts } of raw)
    for (const t of texts) {
      const text = noisy(t, r, benignPool);
      const split = f.test ? "test" : "train";
      out.push({ text, labels: f.label === "benign" ? [] : [f.label, ...(f.also ?? [])], family: f.id, split });
      // The gateway also judges each clause and sentence alone: a benign text's clauses are benign too.
      if (f.label === "benign" && split === "train")
        for (const clause of text.split(/[,;:.?!]\s+|\n/)) if (clause.trim().split(/\s+/).length >= 3 && clause.trim() !== text.trim()) out.push({ text: clause.trim(), labels: [], family: f.id, split });
    }
  const nlp = nlpCorpusSentences();
  const trainNlp = nlp.filter((x) => x.split === "train").slice(0, 30000);
  const testNlp = nlp.filter((x) => x.split === "test").slice(0, 3000);
  for (const x of [...trainNlp, ...testNlp]) out.push({ text: x.text, labels: [], family: "nlp-corpus", split: x.split });
  for (const text of tokenSoup(r, 6000)) out.push({ text, labels: [], family: "token-soup", split: "train" });
  return out;
}

/** Everyday tokens with no meaning of harm: numbers, pronouns, greetings, function words, addresses, symbols. */
const SOUP = [
  "I", "i", "me", "you", "it", "we", "they", "he", "she", "him", "her", "us", "them", "my", "your",
  "the", "a", "an", "and", "or", "to", "of", "in", "on", "is", "are", "ok", "okay", "yes", "no", "hi", "hello", "hey", "thanks",
  "please", "this", "that", "here", "there", "now", "then", "so", "well", "just", "what", "why", "how",
  "alice@example.com", "bob", "jane", "%40", "%20", "@", "?", "!", "#", "&", "=", "-", "+", ".", ",", "...", ":)", "lol",
];

/**
 * Short runs of everyday tokens (`40 40?`, `me you`, `%40 @ it`): the gateway judges every clause
 * and sentence alone, and clauses this short carry no evidence of harm; without examples of them
 * the model's scores there sit near its bias, and random short fragments fired (issue found by the
 * stream guard's property test after the round-17 retrain). Training only.
 */
function tokenSoup(r: () => number, n: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const len = 1 + Math.floor(r() * 6);
    let t = "";
    for (let k = 0; k < len; k++) {
      const tok = r() < 0.3 ? String(Math.floor(r() * (r() < 0.5 ? 100 : 10000))) : SOUP[Math.floor(r() * SOUP.length)]!;
      t += tok + [" ", " ", "", "? ", ". ", ", ", "\n"][Math.floor(r() * 7)]!;
    }
    out.push(t.trim());
  }
  return out;
}

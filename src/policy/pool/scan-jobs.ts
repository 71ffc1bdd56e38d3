import type { ContentCategory } from "../../config/index.js";
import { compilePiiScanner, type PiiScanSpec } from "../compiled-rule.js";
import { scoreText } from "../content/index.js";
import { scanSource, type Scanner } from "../scan/index.js";

/**
 * The scanning work of one rule over a body's texts, as pure functions of plain data: the main
 * thread runs them inline for small texts and a scan worker runs the very same code for large ones,
 * so both give identical results. Results are packed into typed arrays (transferred, not copied).
 */

export interface PiiJob {
  kind: "pii";
  /** Identifies the spec, so a worker compiles each rule's scanner once. */
  key: string;
  spec: PiiScanSpec;
  texts: string[];
  /** Per text: JSON string content (its escapes are decoded for matching). */
  json: boolean[];
}

export interface PiiTextResult {
  /** Findings as [start, end, recogniser index] triples, in the text's own offsets. */
  found: Int32Array;
}

export interface ContentJob {
  kind: "content";
  texts: string[];
}

export interface ContentTextResult {
  scores: Partial<Record<ContentCategory, number>>;
  categories: ContentCategory[];
  /** Matches as [category index, start, end] triples. */
  matches: Int32Array;
}

export type ScanJob = PiiJob | ContentJob;
export type ScanResult = PiiTextResult[] | ContentTextResult[];

const compiledSpecs = new Map<string, Scanner>();

function compiledSpec(key: string, spec: PiiScanSpec): Scanner {
  let c = compiledSpecs.get(key);
  if (!c) {
    c = compilePiiScanner(spec);
    // Reloads bring new keys; a bound keeps a long-lived worker from keeping every config it saw.
    if (compiledSpecs.size >= 256) compiledSpecs.clear();
    compiledSpecs.set(key, c);
  }
  return c;
}

/** `scanner`: the main thread's own compiled one (saves compiling it again for an inline run). */
export function runPiiJob(job: PiiJob, scanner?: Scanner): PiiTextResult[] {
  const sc = scanner ?? compiledSpec(job.key, job.spec);
  return job.texts.map((text, i) => {
    const findings = scanSource(sc, text, job.json[i] === true);
    const found = new Int32Array(findings.length * 3);
    findings.forEach((f, k) => {
      found[k * 3] = f.start;
      found[k * 3 + 1] = f.end;
      found[k * 3 + 2] = f.recogniser;
    });
    return { found };
  });
}

export function runContentJob(job: ContentJob): ContentTextResult[] {
  return job.texts.map((text) => {
    const { scores, matches } = scoreText(text);
    const categories: ContentCategory[] = [];
    const packed = new Int32Array(matches.length * 3);
    matches.forEach((m, k) => {
      let c = categories.indexOf(m.category);
      if (c === -1) c = categories.push(m.category) - 1;
      packed[k * 3] = c;
      packed[k * 3 + 1] = m.start;
      packed[k * 3 + 2] = m.end;
    });
    return { scores, categories, matches: packed };
  });
}

export function runScanJob(job: ScanJob): ScanResult {
  return job.kind === "pii" ? runPiiJob(job) : runContentJob(job);
}

/** The typed arrays of a result, to transfer rather than copy. */
export function transferList(result: ScanResult): ArrayBuffer[] {
  const out: ArrayBuffer[] = [];
  for (const r of result) {
    out.push(("found" in r ? r.found : r.matches).buffer as ArrayBuffer);
  }
  return out;
}

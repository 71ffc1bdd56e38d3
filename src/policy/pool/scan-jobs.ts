import type { ContentCategory } from "../../config/index.js";
import type { TextSegment } from "../body-texts.js";
import { firstFindings, runChainHere } from "../chain-runner.js";
import { compilePiiScanner, compileRule, type CompiledRule, type Phase, type PiiScanSpec, type RuleSource } from "../compiled-rule.js";
import { judgeText, type ClassifierVerdict } from "../content/index.js";
import type { GovernanceEvent } from "../governance-event.js";
import type { Edit } from "../redaction.js";
import { scanSource, type Scanner } from "../scan/index.js";
import { chainOnBody, followOnBody, parseBody, runModuleJob, scanPartOfBody, segmentsOfBody, serialiseBody, type BodyChainResult, type BodyJob, type ParseBodyResult } from "./body-jobs.js";

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

/**
 * A run of consecutive rules of a chain (PII rules and built-in content rules: everything that
 * needs no network call) over a body's texts: scans, cross-boundary scans, redactions and the
 * classifier, all in the worker. Only the changed texts, the events and packed findings return.
 */
export interface ChainJob {
  kind: "chain";
  phase: Phase;
  rules: RuleSource[];
  segments: TextSegment[];
  collectFindings: boolean;
  /** Findings to return (the first in text order); all are counted. */
  maxFindings?: number;
  /** Edits earlier rules made (per segment, per rule, packed as inStart, inEnd, outStart, outEnd). */
  edits?: Int32Array[][];
  /** ChainInput.remember: false when PII rules of the chain come after this job. */
  remember?: boolean;
}

export interface ChainJobResult {
  /** Per segment: its new text, or null when unchanged. */
  texts: (string | null)[];
  events: GovernanceEvent[];
  /** Findings (when collected) as [start, end, rule index in the job, type index] quadruples. */
  findings: Int32Array;
  types: string[];
  findingsTotal: number;
  /** The rule (index in the job) that blocked, with the error's code and message. */
  blocked: { rule: number; code: "KT_ERR_POLICY_BLOCKED" | "KT_ERR_POLICY_ENGINE_UNAVAILABLE"; message: string } | undefined;
  /** Every segment's edits after the run, packed as in the job (when findings are collected). */
  edits: Int32Array[][] | undefined;
}

/** The content classifier's verdict on one large text (a guard rule's screening band). */
export interface JudgeJob {
  kind: "judge";
  text: string;
  categories: ContentCategory[];
  thresholds: Record<ContentCategory, number>;
}

export type ScanJob = PiiJob | ChainJob | JudgeJob | BodyJob;
export type ScanResult = PiiTextResult[] | ChainJobResult | ClassifierVerdict | ParseBodyResult | BodyChainResult | TextSegment[] | ArrayBuffer | SharedArrayBuffer | number | boolean;

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

const compiledRules = new Map<string, CompiledRule>();

export function compiledRule(source: RuleSource): CompiledRule {
  const key = JSON.stringify(source);
  let c = compiledRules.get(key);
  if (!c) {
    c = compileRule(source.policy, source.rule, source.index);
    if (compiledRules.size >= 256) compiledRules.clear();
    compiledRules.set(key, c);
  }
  return c;
}

export function packEdits(edits: readonly Edit[][][]): Int32Array[][] {
  return edits.map((perRule) =>
    perRule.map((list) => {
      const a = new Int32Array(list.length * 4);
      list.forEach((e, k) => a.set([e.inStart, e.inEnd, e.outStart, e.outEnd], k * 4));
      return a;
    }),
  );
}

export function unpackEdits(packed: readonly Int32Array[][]): Edit[][][] {
  return packed.map((perRule) =>
    perRule.map((a) => {
      const list: Edit[] = [];
      for (let k = 0; k < a.length; k += 4) list.push({ inStart: a[k]!, inEnd: a[k + 1]!, outStart: a[k + 2]!, outEnd: a[k + 3]! });
      return list;
    }),
  );
}

export async function runChainJob(job: ChainJob): Promise<ChainJobResult> {
  const rules = job.rules.map(compiledRule);
  const r = await runChainHere(rules, {
    phase: job.phase,
    segments: job.segments,
    // A chain job holds no guard-model rule: those run on the main thread, between jobs.
    guardConversations: () => [],
    askGuard: undefined,
    signal: undefined,
    collectFindings: job.collectFindings,
    edits: job.edits ? unpackEdits(job.edits) : undefined,
    remember: job.remember,
  });
  const types: string[] = [];
  const kept = job.maxFindings === undefined ? r.findings : firstFindings(r.findings, job.maxFindings);
  const findings = new Int32Array(kept.length * 4);
  kept.forEach((f, k) => {
    let t = types.indexOf(f.type);
    if (t === -1) t = types.push(f.type) - 1;
    const rule = rules.findIndex((c) => c.policy === f.policy && c.rule === f.rule);
    findings.set([f.start, f.end, rule, t], k * 4);
  });
  let blocked: ChainJobResult["blocked"];
  if (r.blocked) {
    const b = r.blocked;
    blocked = { rule: rules.findIndex((c) => c.policy === b.policy && c.rule === b.rule), code: b.code as "KT_ERR_POLICY_BLOCKED", message: b.message };
  }
  return {
    texts: r.segments.map((s, i) => (s.text === job.segments[i]!.text ? null : s.text)),
    events: r.events,
    findings,
    types,
    findingsTotal: r.findings.length,
    blocked,
    edits: job.collectFindings ? packEdits(r.edits) : undefined,
  };
}

export function runScanJob(job: ScanJob): ScanResult | Promise<ScanResult> {
  switch (job.kind) {
    case "pii":
      return runPiiJob(job);
    case "chain":
      return runChainJob(job);
    case "judge":
      return judgeText(job.text, job.categories, job.thresholds);
    case "parse-body":
      return parseBody(job);
    case "body-chain":
      return chainOnBody(job, compiledRule);
    case "body-segments":
      return segmentsOfBody(job);
    case "serialise-body":
      return serialiseBody(job);
    case "module":
      return runModuleJob(job) as Promise<ScanResult>;
    case "follow":
      return followOnBody(job, compiledRule);
    case "scan-part":
      return scanPartOfBody(job, compiledRule);
  }
}

/** The typed arrays of a result, to transfer rather than copy. */
export function transferList(result: ScanResult): ArrayBuffer[] {
  const out: ArrayBuffer[] = [];
  if (typeof result === "number" || typeof result === "boolean") return out;
  if (result instanceof ArrayBuffer) out.push(result);
  else if (Array.isArray(result))
    for (const r of result as unknown[]) {
      if (r && typeof r === "object" && "found" in r) out.push((r as PiiTextResult).found.buffer as ArrayBuffer);
    }
  else if ("findings" in result && result.findings instanceof Int32Array) {
    out.push(result.findings.buffer as ArrayBuffer);
    for (const perRule of result.edits ?? []) for (const a of perRule) out.push(a.buffer as ArrayBuffer);
  }
  return out;
}

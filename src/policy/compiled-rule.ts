import type { ContentCategory, GatewayConfig, GuardEngine, Rule } from "../config/index.js";
import { defaultThresholds } from "./content/index.js";
import { builtinPatternName, builtinPiiTypes, customRecogniser, namesWarmText, recognisersFor, type BuiltinPiiType } from "./pii/index.js";
import { compileReplacement } from "./redaction.js";
import { compileScanner, crossGuardOf, type Recogniser, type Scanner } from "./scan/index.js";

export type Phase = "request" | "response";

interface RuleBase {
  policy: string;
  /** The rule's id, or `<type>#<index in policy>`. */
  rule: string;
  phases: Readonly<Record<Phase, boolean>>;
  /** What the rule was compiled from, as plain data: a pool worker compiles the same rule from it. */
  source: RuleSource;
}

/** A rule as configured, with its place in its policy: structured-clonable (see src/policy/pool). */
export interface RuleSource {
  policy: string;
  index: number;
  rule: Rule;
}

export interface CompiledPiiRule extends RuleBase {
  kind: "pii_detection";
  action: "redact" | "mask" | "block" | "log";
  scanner: Scanner;
  replacement: (type: string) => string;
  /** Token-id prompts (which no rule can read) are let through, and recorded, instead of refused. */
  allowTokenPrompts: boolean;
  /** What the scanner was compiled from, as plain data: a scan worker compiles the same one from it. */
  spec: PiiScanSpec;
  /** The spec as a string: a worker's cache key for its compiled scanner. */
  key: string;
}

/** A PII rule's scanner as structured-clonable data (see src/policy/pool). */
export interface PiiScanSpec {
  patterns: readonly (string | { name: string; regex: string })[];
  regions: readonly string[] | undefined;
  obfuscated: boolean | undefined;
}

/**
 * Scanners by spec, most recently used last. A scanner holds nothing of a request between scans,
 * so rules with the same spec share one, and a reload that keeps a rule's patterns keeps its
 * scanner: compiling the full built-in set analyses every pattern on the main thread (20-40 ms of
 * CPU per rule measured, loaded), which a reload of a config with several PII rules would pay per
 * rule. Bounded, since a reload may bring new custom patterns each time.
 */
const scanners = new Map<string, Scanner>();
export const MAX_CACHED_SCANNERS = 32;

/** The scanner of a PII rule (built-ins resolved by name, custom patterns last), shared by equal specs. */
export function compilePiiScanner(spec: PiiScanSpec, where = ""): Scanner {
  const key = scannerKey(spec);
  const known = scanners.get(key);
  if (known !== undefined) {
    scanners.delete(key);
    scanners.set(key, known);
    return known;
  }
  const steps = buildPiiScanner(spec, where);
  let step = steps.next();
  while (!step.done) step = steps.next();
  return keep(key, step.value);
}

function scannerKey(spec: PiiScanSpec): string {
  return JSON.stringify([spec.patterns, spec.regions ?? null, spec.obfuscated ?? null]);
}

function keep(key: string, scanner: Scanner): Scanner {
  scanners.set(key, scanner);
  if (scanners.size > MAX_CACHED_SCANNERS) scanners.delete(scanners.keys().next().value!);
  return scanner;
}

/**
 * Compiles the scanners of a config's PII rules that are not cached yet, a turn of the event loop
 * (`turn`) between the steps: a reload runs this before it compiles the policies (which then find
 * every scanner cached), so the work a new spec costs (the person lexicon, the patterns' analysis,
 * V8 compiling their regexes, the warm-up scans) does not hold the loop in one piece. Measured by
 * the round-13 review: a reload that first added `person` held the loop 1.3-1.7 s (under tsx, load
 * ~10). A step is still as long as its largest part (one regex compiled, one warm-up scan).
 */
export async function preparePiiScanners(config: GatewayConfig, turn: () => Promise<void>): Promise<void> {
  for (const p of config.policies)
    for (const [index, r] of p.rules.entries()) {
      if (r.type !== "pii_detection") continue;
      const spec: PiiScanSpec = { patterns: r.patterns, regions: r.regions, obfuscated: r.obfuscated };
      const key = scannerKey(spec);
      if (scanners.has(key)) continue;
      const steps = buildPiiScanner(spec, `policy '${p.id}' rule '${ruleIdOf({ policy: p.id, index, rule: r })}': `);
      let step = steps.next();
      while (!step.done) {
        await turn();
        step = steps.next();
      }
      keep(key, step.value);
    }
}

/** A PII rule's scanner, built and warmed in steps (each `yield` is a place to let the event loop turn). */
function* buildPiiScanner(spec: PiiScanSpec, where: string): Generator<void, Scanner> {
  const builtins: BuiltinPiiType[] = [];
  const custom: Recogniser[] = [];
  for (const p of spec.patterns) {
    if (typeof p !== "string") custom.push(customRecogniser(p.name, p.regex));
    else {
      const name = builtinPatternName(p);
      if (name === undefined) throw new Error(`${where}unknown PII pattern '${p}' (built-in patterns: ${builtinPiiTypes.join(", ")})`);
      builtins.push(name);
    }
  }
  // The recognisers first (person's lexicon is built here, the first time), then their analysis.
  const recognisers = recognisersFor(builtins, { regions: spec.regions as never, obfuscated: spec.obfuscated });
  yield;
  const scanner = compileScanner([...recognisers, ...custom]);
  yield;
  // The boundary test the chain runner asks at every cut between two texts (cross-guard.ts), made now:
  // the analysis of the large patterns is the config's cost, not the first request's.
  crossGuardOf(scanner);
  yield;
  // One scan of a text with a value of every built-in type, now: V8 compiles a regex at its first
  // exec and the recognisers build some tables at first use (location's, the street patterns'),
  // 81 ms of CPU on the first scan after start-up measured (an idle gateway's first request). That
  // is the config's cost, paid at start-up or reload (about 1 ms for a reload: V8 caches compiled
  // regexes by source). The scan ends by dropping what the recognisers remembered of the text.
  scanner.scan(WARM_TEXT);
  yield;
  // The stream guard's hold-back (frontier) runs other regexes, the patterns' tails: their first
  // exec on a long text compiled them on the event loop, 148 ms for the built-in set at the first
  // large streamed chunk after start-up. V8 runs a regex on a short subject in its interpreter and
  // compiles it to machine code on its next run, or at once for a subject of 1,000 characters or
  // more: the warm-up gives it a long one (a short one left the 148 ms to the first request).
  scanner.frontier(WARM_TEXT.repeat(3));
  // Person and location decide per word, and V8 optimises those paths only after many words: the
  // first texts full of names cost 49-93 ms of CPU per 30 KiB before, 27-53 after this (~300 ms
  // once). Once per process: their code is module-level, shared by every scanner, so a reload that
  // compiles a new spec does not pay it on the event loop again.
  if (!namesWarmed && (builtins.includes("person") || builtins.includes("location"))) {
    namesWarmed = true;
    const names = namesWarmText();
    for (let k = 0; k < 6; k++) {
      yield;
      scanner.scan(names);
    }
  }
  return scanner;
}

let namesWarmed = false;

/** Invented values of every built-in type (documentation ranges, test numbers, example domains). */
export const WARM_TEXT =
  "Jane Smith, born 3 May 1990, lives at 10 Downing Street, London SW1A 2AA, and in Paris, France. " +
  "Call +44 20 7946 0958 or (212) 555-0143, mail jane.smith@example.com, card 4111 1111 1111 1111, " +
  "SSN 078-05-1120, IBAN GB82 WEST 1234 5698 7654 32, host 192.0.2.10 and 2001:db8::1, passport 123456789, " +
  "NHS 943 476 5919, wallet 1BoatSLRHtKNngkdXEeobR76b53LETtpyT, key AKIAIOSFODNN7EXAMPLE, " +
  "token sk-proj-abcdefghijklmnopqrstuvwxyz0123456789, zip 90210.";

export interface CompiledContentRule extends RuleBase {
  kind: "content_filter";
  action: "block" | "log";
  engine: "builtin" | GuardEngine;
  categories: readonly ContentCategory[];
  /** The classifier's threshold per category: the rule's, else its `threshold`, else the model's documented default. */
  thresholds: Readonly<Record<ContentCategory, number>>;
  /** Guard engines: the classifier decides outside [low, high), the guard model inside. */
  band: readonly [number, number] | undefined;
  /** Guard engines, incremental streaming: characters judged per window (tokens x 4). */
  windowChars: number;
  /** Guard engines: verdicts by hash of the judged request, at most `verdictCacheSize` (0: none). */
  verdictCache: Map<string, ContentCategory[]>;
  verdictCacheSize: number;
  failOpen: boolean;
  target: string | undefined;
}

export type CompiledRule = CompiledPiiRule | CompiledContentRule;

/**
 * A rule that calls a guard model over the network: a chain run in the pool splits around it (the
 * model is asked from the main thread, between the jobs for the rules before and after it).
 */
export function isGuardRule(r: CompiledRule): boolean {
  return r.kind === "content_filter" && r.engine !== "builtin";
}

/**
 * Whether a PII rule comes at or after `from`: a part of a chain run before one may not remember a
 * text as clean (ChainInput.remember), since that rule may still find a value in it.
 */
export function piiRuleFrom(rules: readonly CompiledRule[], from: number): boolean {
  for (let k = from; k < rules.length; k++) if (rules[k]!.kind === "pii_detection") return true;
  return false;
}

function phases(applyTo: "request" | "response" | "both"): Record<Phase, boolean> {
  return { request: applyTo !== "response", response: applyTo !== "request" };
}

function resolveThresholds(perCategory: Partial<Record<ContentCategory, number>> | undefined, all: number | undefined): Record<ContentCategory, number> {
  const out = { ...defaultThresholds() };
  for (const c of Object.keys(out) as ContentCategory[]) out[c] = perCategory?.[c] ?? all ?? out[c];
  return out;
}

/** A rule's id as findings and events name it: its own, or its type and place in the policy. */
export function ruleIdOf(source: RuleSource): string {
  return source.rule.id ?? `${source.rule.type}#${source.index}`;
}

export function compileRule(policy: string, rule: Rule, index: number): CompiledRule {
  const id = ruleIdOf({ policy, index, rule });
  const source: RuleSource = { policy, index, rule };
  if (rule.type === "content_filter")
    return {
      kind: "content_filter",
      source,
      policy,
      rule: id,
      phases: phases(rule.apply_to),
      action: rule.action,
      engine: rule.engine,
      categories: [...new Set(rule.categories)],
      thresholds: resolveThresholds(rule.thresholds, rule.threshold),
      band: rule.classifier_band,
      windowChars: rule.stream_window_tokens * 4,
      verdictCache: new Map(),
      verdictCacheSize: rule.verdict_cache,
      failOpen: rule.fail_open,
      target: rule.target,
    };
  const spec: PiiScanSpec = { patterns: rule.patterns, regions: rule.regions, obfuscated: rule.obfuscated };
  return {
    kind: "pii_detection",
    source,
    policy,
    rule: id,
    phases: phases(rule.apply_to),
    action: rule.action,
    scanner: compilePiiScanner(spec, `policy '${policy}' rule '${id}': `),
    replacement: compileReplacement(rule.replacement),
    allowTokenPrompts: rule.allow_token_prompts === true,
    spec,
    key: JSON.stringify(spec),
  };
}

/** The chain in order: policies as configured, then each policy's rules. */
export function compileRules(config: GatewayConfig): CompiledRule[] {
  if (config.pack?.enabled === false) return [];
  return config.policies.flatMap((p) => p.rules.map((r, i) => compileRule(p.id, r, i)));
}

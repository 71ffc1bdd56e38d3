import type { ContentCategory } from "../config/index.js";
import { judgeText, type ClassifierVerdict } from "./content/index.js";
import type { TextSegment } from "./body-texts.js";
import { firstFindings, runChainHere, type ChainFinding, type ChainInput, type ChainResult, type RuleOutcome } from "./chain-runner.js";
import { isGuardRule, piiRuleFrom, type CompiledRule } from "./compiled-rule.js";
import type { GovernanceEvent } from "./governance-event.js";
import { PolicyError } from "./policy-error.js";
import { OFFLOAD_MIN_CHARS, packEdits, scanPool, unpackEdits } from "./pool/index.js";
import type { Edit } from "./redaction.js";
import type { CancelSignal } from "../wire/index.js";

/**
 * Segments from which a chain goes to the pool whatever their length: each boundary between texts
 * of one flow is scanned over a window of up to 800 characters, so very many short texts cost as
 * much as one long one.
 */
const OFFLOAD_MIN_SEGMENTS = 512;

/** A classifier text from this length is judged by a worker (a guard rule's screening band). */
const JUDGE_OFFLOAD_CHARS = OFFLOAD_MIN_CHARS;

function totalChars(segs: readonly TextSegment[]): number {
  let n = 0;
  for (const s of segs) n += s.text.length;
  return n;
}

/** Whether a body's chain runs in the pool: the same test for every phase and front door. */
export function offloads(rules: readonly CompiledRule[], segs: readonly TextSegment[]): boolean {
  if (segs.length >= OFFLOAD_MIN_SEGMENTS) return true;
  // Custom patterns run on RE2, up to ~50x slower per character than V8's engine: offload sooner.
  const custom = rules.some((r) => r.kind === "pii_detection" && r.spec.patterns.some((p) => typeof p !== "string"));
  return totalChars(segs) >= (custom ? OFFLOAD_MIN_CHARS / 8 : OFFLOAD_MIN_CHARS);
}

/**
 * Runs the rules of one phase over whole texts, in chain order. Small bodies run here, on the main
 * thread, exactly as before. Large ones (or very many texts) run in a pool worker: each run of
 * consecutive rules that need no network call (PII rules, the built-in classifier) is one job
 * that scans, scans across boundaries, redacts and classifies, so no step of a large body holds the
 * event loop; only guard-model rules run here between jobs (an HTTP call, and a worker judging the
 * text for a screening band).
 */
export function runChain(rules: readonly CompiledRule[], input: ChainInput): ChainResult | Promise<ChainResult> {
  // Small bodies: here, and synchronously when no rule waits (no promise per request).
  if (!offloads(rules, input.segments)) return runChainHere(rules, input);
  return runChainPooled(rules, input);
}

async function runChainPooled(rules: readonly CompiledRule[], input: ChainInput): Promise<ChainResult> {
  const active = rules.filter((r) => r.phases[input.phase]);
  let segs = input.segments.map((s) => ({ ...s }));
  let edits: Edit[][][] = input.edits ?? segs.map(() => []);
  const events: GovernanceEvent[] = [];
  let findings: ChainFinding[] = [];
  let total = 0;
  const deferred: Promise<RuleOutcome>[] = [];
  // Each part's findings are cut to the first max in text order; so are all of them at the end.
  const done = (blocked: PolicyError | undefined): ChainResult => ({
    segments: segs,
    events,
    findings: input.maxFindings === undefined ? findings : firstFindings(findings, input.maxFindings),
    blocked,
    deferred,
    edits,
    findingsTotal: total,
  });
  for (let i = 0; i < active.length; ) {
    const rule = active[i]!;
    if (isGuardRule(rule)) {
      const r = await runChainHere([rule], {
        ...input,
        segments: segs,
        edits,
        judge: pooledJudgeFor(input.signal),
      });
      events.push(...r.events);
      // With `defer`, a guard rule's verdict is still on its way: settled by the caller, as inline.
      deferred.push(...r.deferred);
      findings = findings.concat(r.findings);
      total += r.findingsTotal;
      if (r.blocked) return done(rebuilt(r.blocked, events));
      i++;
      continue;
    }
    let j = i;
    while (j < active.length && !isGuardRule(active[j]!)) j++;
    const batch = active.slice(i, j);
    const out = await scanPool().run({
      kind: "chain",
      phase: input.phase,
      rules: batch.map((r) => r.source),
      segments: segs,
      collectFindings: input.collectFindings,
      maxFindings: input.maxFindings,
      edits: input.collectFindings ? packEdits(edits) : undefined,
      // A PII rule after the next guard rule may still find a value in a text this job finds clean.
      remember: !piiRuleFrom(active, j),
      // A client gone drops the job if it still waits (the pipeline passes the signal for bodies this large).
    }, input.signal);
    segs = segs.map((s, k) => (out.texts[k] === null ? s : { ...s, text: out.texts[k]! }));
    if (out.edits) edits = unpackEdits(out.edits);
    events.push(...out.events);
    total += out.findingsTotal;
    const f = out.findings;
    for (let k = 0; k < f.length; k += 4) {
      const r = batch[f[k + 2]!]!;
      findings.push({ policy: r.policy, rule: r.rule, type: out.types[f[k + 3]!]!, start: f[k]!, end: f[k + 1]! });
    }
    if (out.blocked) {
      const r = batch[out.blocked.rule]!;
      return done(new PolicyError(out.blocked.code, out.blocked.message, r, events));
    }
    i = j;
  }
  return done(undefined);
}

/** The classifier's verdict, from a worker for a large text; `cancel` drops the job if the request goes. */
export function pooledJudge(
  text: string,
  categories: readonly ContentCategory[],
  thresholds: Readonly<Record<ContentCategory, number>>,
  firedOnly = false,
  cancel?: CancelSignal,
): ClassifierVerdict | Promise<ClassifierVerdict> {
  if (text.length < JUDGE_OFFLOAD_CHARS) return judgeText(text, categories, thresholds, firedOnly);
  return scanPool().run({ kind: "judge", text, categories: [...categories], thresholds: { ...thresholds } }, cancel);
}

/** pooledJudge with the request's cancellation: a client gone drops its waiting judge jobs. */
export function pooledJudgeFor(cancel: CancelSignal | undefined): NonNullable<ChainInput["judge"]> {
  return cancel ? (text, categories, thresholds, firedOnly) => pooledJudge(text, categories, thresholds, firedOnly, cancel) : pooledJudge;
}

/** A block found by a part of the chain, carrying every event of the whole chain up to it. */
function rebuilt(e: PolicyError, events: readonly GovernanceEvent[]): PolicyError {
  return new PolicyError(e.code as "KT_ERR_POLICY_BLOCKED", e.message, e, events, e.cause);
}

import type { ContentCategory } from "../config/index.js";
import type { TextSegment } from "./body-texts.js";
import type { CompiledContentRule, CompiledPiiRule, CompiledRule, Phase } from "./compiled-rule.js";
import { guardConversation, scoreText, type AskGuard, type GuardMessage } from "./content/index.js";
import type { GovernanceEvent } from "./governance-event.js";
import { askVerdict } from "./guard-call.js";
import { blockedMessage, PolicyError } from "./policy-error.js";
import { scanSource } from "./scan/index.js";
import { applyRedactions, mapBack, replacementFor, type Edit } from "./redaction.js";

export interface ChainFinding {
  policy: string;
  rule: string;
  type: string;
  start: number;
  end: number;
}

export interface ChainInput {
  phase: Phase;
  segments: TextSegment[];
  /** The conversations the guard model judges (one for a request, one per choice for a response). */
  guardConversations: (segments: readonly TextSegment[]) => GuardMessage[][];
  askGuard: AskGuard | undefined;
  signal: AbortSignal | undefined;
  /** Record findings with offsets into each segment's original text (for evaluateText). */
  collectFindings: boolean;
}

export interface ChainResult {
  /** Segments with their final texts (same order as given). */
  segments: TextSegment[];
  events: GovernanceEvent[];
  findings: ChainFinding[];
  /** Set when a rule blocked; the chain stopped there. */
  blocked: PolicyError | undefined;
}

/** A span of a segment's current text, mapped back through the rules' edits to the text as it came in. */
function toOriginal(edits: readonly Edit[][], start: number, end: number): { start: number; end: number } {
  for (let k = edits.length - 1; k >= 0; k--) {
    start = mapBack(start, edits[k]!, "start");
    end = mapBack(end, edits[k]!, "end");
  }
  return { start, end };
}

function add(counts: Record<string, number>, type: string, n = 1): void {
  counts[type] = (counts[type] ?? 0) + n;
}

/** Runs the rules of one phase over whole texts, in chain order; each rule sees the previous one's output. */
export async function runChain(rules: readonly CompiledRule[], input: ChainInput): Promise<ChainResult> {
  const segs = input.segments.map((s) => ({ ...s }));
  const edits: Edit[][][] = segs.map(() => []);
  const events: GovernanceEvent[] = [];
  const findings: ChainFinding[] = [];

  for (const rule of rules) {
    if (!rule.phases[input.phase]) continue;
    const outcome =
      rule.kind === "pii_detection" ? runPii(rule, segs, edits, input, findings) : await runContent(rule, segs, edits, input, findings);
    if (outcome.event) events.push(outcome.event);
    if (outcome.block) return { segments: segs, events, findings, blocked: outcome.block(events) };
  }
  return { segments: segs, events, findings, blocked: undefined };
}

interface RuleOutcome {
  event: GovernanceEvent | undefined;
  block?: (events: GovernanceEvent[]) => PolicyError;
}

function runPii(
  rule: CompiledPiiRule,
  segs: TextSegment[],
  edits: Edit[][][],
  input: ChainInput,
  findings: ChainFinding[],
): RuleOutcome {
  const counts: Record<string, number> = {};
  segs.forEach((seg, i) => {
    const found = scanSource(rule.scanner, seg.text, seg.json);
    if (found.length === 0) return;
    for (const f of found) {
      add(counts, f.type);
      if (input.collectFindings) findings.push({ policy: rule.policy, rule: rule.rule, type: f.type, ...toOriginal(edits[i]!, f.start, f.end) });
    }
    if (rule.action === "redact" || rule.action === "mask") {
      const action = rule.action;
      const r = applyRedactions(seg.text, found, (f) => replacementFor(action, rule.replacement, f, seg.text, seg.json));
      seg.text = r.text;
      edits[i]!.push(r.edits);
    }
  });
  if (Object.keys(counts).length === 0) return { event: undefined };
  const event: GovernanceEvent = { policy: rule.policy, rule: rule.rule, ruleType: "pii_detection", action: rule.action, phase: input.phase, counts };
  if (rule.action !== "block") return { event };
  const msg = blockedMessage(input.phase, rule.policy, rule.rule, Object.keys(counts));
  return { event, block: (events) => new PolicyError("KT_ERR_POLICY_BLOCKED", msg, rule, events) };
}

async function runContent(
  rule: CompiledContentRule,
  segs: TextSegment[],
  edits: Edit[][][],
  input: ChainInput,
  findings: ChainFinding[],
): Promise<RuleOutcome> {
  const counts: Record<string, number> = {};
  const base = { policy: rule.policy, rule: rule.rule, ruleType: "content_filter" as const, phase: input.phase, engine: rule.engine };
  if (rule.engine === "builtin") {
    // Each text is judged on its own: a long conversation must not add up to a block.
    segs.forEach((seg, i) => {
      const { scores, matches } = scoreText(seg.text);
      const fired = rule.categories.filter((c) => (scores[c] ?? 0) >= rule.threshold);
      for (const m of matches) {
        if (!fired.includes(m.category)) continue;
        add(counts, m.category);
        if (input.collectFindings) findings.push({ policy: rule.policy, rule: rule.rule, type: m.category, ...toOriginal(edits[i]!, m.start, m.end) });
      }
    });
  } else {
    for (const conversation of input.guardConversations(segs)) {
      const v = await askVerdict(rule, conversation, input.askGuard, input.signal);
      if (!v.ok) {
        if (rule.failOpen) return { event: { ...base, action: rule.action, counts, failedOpen: true } };
        const event: GovernanceEvent = { ...base, action: "block", counts, failedOpen: false };
        const msg = `policy '${rule.policy}' rule '${rule.rule}': the guard model could not give a verdict`;
        return { event, block: (events) => new PolicyError("KT_ERR_POLICY_ENGINE_UNAVAILABLE", msg, rule, events, v.cause) };
      }
      for (const c of v.categories) add(counts, c);
      if (input.collectFindings)
        for (const c of v.categories) {
          const i = segs.findIndex((s) => s.text !== "");
          if (i !== -1) findings.push({ policy: rule.policy, rule: rule.rule, type: c, ...toOriginal(edits[i]!, 0, segs[i]!.text.length) });
        }
      if (v.categories.length > 0 && rule.action === "block") break;
    }
  }
  const fired = Object.keys(counts) as ContentCategory[];
  if (fired.length === 0) return { event: undefined };
  const event: GovernanceEvent = { ...base, action: rule.action, counts };
  if (rule.action !== "block") return { event };
  const msg = blockedMessage(input.phase, rule.policy, rule.rule, fired);
  return { event, block: (events) => new PolicyError("KT_ERR_POLICY_BLOCKED", msg, rule, events) };
}

/** Guard conversations: the whole request as one; a response as one per choice, after an empty user turn. */
export function requestConversations(segs: readonly TextSegment[]): GuardMessage[][] {
  if (segs.every((s) => s.text === "")) return [];
  return [guardConversation(segs.map((s) => ({ role: s.role, content: s.text })))];
}

export function responseConversations(segs: readonly TextSegment[]): GuardMessage[][] {
  const byChoice = new Map<number, string[]>();
  for (const s of segs) {
    if (s.text === "") continue;
    const list = byChoice.get(s.choice) ?? [];
    list.push(s.text);
    byChoice.set(s.choice, list);
  }
  return [...byChoice.values()].map((texts) => guardConversation([{ role: "assistant", content: texts.join("\n\n") }]));
}

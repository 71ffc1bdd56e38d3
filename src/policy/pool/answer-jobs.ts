import { isUtf8 } from "node:buffer";
import type { HeldAnswer, JsonObject } from "../../wire/index.js";
import { isJsonObject, MAX_RECORDED_CHOICES, sharedMemoryClass } from "../../wire/index.js";
import { responseSegments, withTexts, type TextSegment } from "../body-texts.js";
import { runChainHere } from "../chain-runner.js";
import type { CompiledRule, RuleSource } from "../compiled-rule.js";
import type { GovernanceEvent } from "../governance-event.js";
import { withoutLeakedLogprobs } from "../logprobs.js";
import { scanSource } from "../scan/index.js";
import { forgetHeldBody } from "./body-jobs.js";
import { compiledRule, runScanJob, type ScanJob, type ScanResult } from "./scan-jobs.js";

/**
 * The work on a held answer (src/wire/held-answer.ts), in a pool worker: parsing the upstream's
 * bytes, the response rules over the parsed answer, the logprobs filter, and writing a changed
 * answer anew. Exactly what the main thread does with a small answer (src/policy/policy-engine.ts:
 * check, afterChain, finishResponse), so both give the same bytes; the main thread only ever sees
 * the answer's summary. An answer whose bulk is many small objects (logprobs: `top_logprobs: 20`
 * makes an answer ~50x its text) is read here whole: no skeleton would be smaller than it.
 */

/** A held answer as a job sends it (the bytes are shared, not copied). */
export type AnswerRef = Pick<HeldAnswer, "bytes" | "length" | "nonce" | "version">;

export interface ParseAnswerJob {
  kind: "parse-answer";
  answer: AnswerRef;
}

/**
 * Not a JSON object (the main thread words the protocol error, as for a small answer); else the
 * summary, and when the bytes were not valid UTF-8 the text they decode to (with replacement
 * characters) written as UTF-8 into new shared memory: what goes to the client then, as a small
 * answer's text would.
 */
export type ParseAnswerResult = { fault: true } | { summary: JsonObject; recoded: { bytes: SharedArrayBuffer; length: number } | undefined };

export interface AnswerChainJob {
  kind: "answer-chain";
  answer: AnswerRef;
  /** A run of response rules without a network call (a guard-model rule runs on the main thread, between runs). */
  rules: RuleSource[];
  /** Choices whose texts earlier runs changed. */
  changed: number[];
  /**
   * Set on the last run that may change a text (guard-model rules after it only judge): the
   * phase's PII rules, which decide which logprobs still spell a value (src/policy/logprobs.ts).
   */
  finish: RuleSource[] | undefined;
  /** Pooled memory for a rewritten answer, used when it fits. */
  dest?: SharedArrayBuffer;
  /** The version a rewrite gets, given by the main thread. */
  rewriteVersion: number;
}

export interface AnswerChainResult {
  events: GovernanceEvent[];
  blocked: { rule: number; code: "KT_ERR_POLICY_BLOCKED" | "KT_ERR_POLICY_ENGINE_UNAVAILABLE"; message: string } | undefined;
  changed: number[];
  /** The answer written anew, when the rules or the logprobs filter changed it. `inDest`: into the job's `dest`. */
  written: { bytes: SharedArrayBuffer; length: number; inDest: boolean; version: number } | undefined;
}

export interface AnswerSegmentsJob {
  kind: "answer-segments";
  answer: AnswerRef;
}

export type AnswerJob = ParseAnswerJob | AnswerChainJob | AnswerSegmentsJob;

/** Every job a pool worker runs: the scan and body jobs (scan-jobs.ts) and the answer jobs here. */
export type PoolJob = ScanJob | AnswerJob;
export type PoolResult = ScanResult | ParseAnswerResult | AnswerChainResult;

/** Runs any pool job (the worker's entry, and the main thread's once the pool is closed). */
/** A held body's or answer's request is done with it: this thread's parsed copy of it goes. */
export function forgetHeld(nonce: string): void {
  forgetHeldAnswer(nonce);
  forgetHeldBody(nonce);
}

export function runPoolJob(job: PoolJob): PoolResult | Promise<PoolResult> {
  switch (job.kind) {
    case "parse-answer":
      return parseAnswer(job);
    case "answer-chain":
      return chainOnAnswer(job, compiledRule);
    case "answer-segments":
      return segmentsOfAnswer(job);
    default:
      return runScanJob(job);
  }
}


/**
 * The last answer this worker parsed (or a rule rewrote), by nonce and version: a request's jobs
 * (parse, rules, a front door's conversion) usually run on the same worker, which then parses the
 * answer once. Never mutated by a job (withTexts copies on write); let go after a while.
 */
let last: { key: string; body: JsonObject } | undefined;
let parses = 0;
const FORGET_MS = 10_000;
let forget: ReturnType<typeof setTimeout> | undefined;

function keyOf(a: AnswerRef): string {
  return `${a.nonce}:${a.version}`;
}

/** The request whose answer this is (by nonce) is done with it: its parsed copy goes now, not after FORGET_MS. */
export function forgetHeldAnswer(nonce: string): void {
  if (last?.key.startsWith(`${nonce}:`)) {
    last = undefined;
    if (forget) clearTimeout(forget);
    forget = undefined;
  }
}

function remember(key: string, body: JsonObject): void {
  last = { key, body };
  if (forget) clearTimeout(forget);
  forget = setTimeout(() => (last = undefined), FORGET_MS);
  forget.unref?.();
}

/** This worker's parses of held answers (tests). */
export function heldAnswerParses(): number {
  return parses;
}

/** The text of the answer's bytes as the upstream client decodes a small one (Buffer's UTF-8: no BOM dropped, bad bytes replaced). */
function textOf(a: AnswerRef): string {
  return Buffer.from(a.bytes, 0, a.length).toString("utf8");
}

/** The held answer parsed (it was checked to be a JSON object when first parsed). */
export function parsedAnswer(a: AnswerRef): JsonObject {
  const key = keyOf(a);
  if (last?.key === key) return last.body;
  parses++;
  const body = JSON.parse(textOf(a)) as JsonObject;
  remember(key, body);
  return body;
}

/** What the pipeline and the audit record read of an answer (chat-pipeline.ts: noteResponse, answerOf), and nothing else. */
function summaryOf(body: JsonObject): JsonObject {
  const s: JsonObject = {};
  if (typeof body.id === "string") s.id = body.id;
  if (typeof body.model === "string") s.model = body.model;
  const u = body.usage;
  if (isJsonObject(u)) {
    const usage: JsonObject = {};
    // Counts are numbers; anything else is kept only as the small value it is (read as given).
    // Counts only: the record takes nothing else from here (chat-pipeline.ts, tokenCount).
    for (const k of ["prompt_tokens", "completion_tokens"]) if (typeof u[k] === "number") usage[k] = u[k];
    s.usage = usage;
  }
  if (Array.isArray(body.choices)) {
    const choices: JsonObject[] = [];
    const n = Math.min(body.choices.length, MAX_RECORDED_CHOICES);
    for (let i = 0; i < n; i++) {
      const f = (body.choices[i] as { finish_reason?: unknown } | null)?.finish_reason;
      // A finish reason is a short word (stop, length, tool_calls…): a long string is not one.
      choices.push(typeof f === "string" && f.length <= 64 ? { finish_reason: f } : {});
    }
    s.choices = choices;
  }
  return s;
}

export function parseAnswer(job: ParseAnswerJob): ParseAnswerResult {
  const a = job.answer;
  const bytes = new Uint8Array(a.bytes, 0, a.length);
  const text = textOf(a);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return { fault: true };
  }
  if (!isJsonObject(body)) return { fault: true };
  parses++;
  remember(keyOf(a), body);
  let recoded: { bytes: SharedArrayBuffer; length: number } | undefined;
  if (!isUtf8(bytes)) {
    // Only the text is the answer then (src/upstream/openai-client.ts): its own UTF-8 goes out.
    const length = Buffer.byteLength(text, "utf8");
    const out = new SharedArrayBuffer(sharedMemoryClass(length));
    Buffer.from(out, 0, length).write(text, 0, "utf8");
    recoded = { bytes: out, length };
  }
  return { summary: summaryOf(body), recoded };
}

/** The answer's texts, for a guard-model rule that runs on the main thread. */
export function segmentsOfAnswer(job: AnswerSegmentsJob): TextSegment[] {
  return responseSegments(parsedAnswer(job.answer));
}

/** A run of response rules over the held answer, as the main thread runs them over a small one. */
export async function chainOnAnswer(job: AnswerChainJob, compiled: (s: RuleSource) => CompiledRule): Promise<AnswerChainResult> {
  const body = parsedAnswer(job.answer);
  const rules = job.rules.map(compiled);
  const changed = new Set(job.changed);
  let out = body;
  let events: GovernanceEvent[] = [];
  const segments = responseSegments(body);
  // No texts: no rule runs (policy-engine.ts check), only the logprobs filter.
  if (rules.length > 0 && segments.length > 0) {
    const r = await runChainHere(rules, {
      phase: "response",
      segments,
      // A run holds no guard-model rule: those run on the main thread, between runs.
      guardConversations: () => [],
      askGuard: undefined,
      signal: undefined,
      collectFindings: false,
    });
    if (r.blocked) {
      const b = r.blocked;
      return {
        events: r.events,
        blocked: { rule: rules.findIndex((c) => c.policy === b.policy && c.rule === b.rule), code: b.code as "KT_ERR_POLICY_BLOCKED", message: b.message },
        changed: job.changed,
        written: undefined,
      };
    }
    events = r.events;
    const changes = r.segments.filter((s, i) => s.text !== segments[i]!.text);
    out = withTexts(body, changes);
    for (const c of changes) changed.add(c.choice);
  }
  if (job.finish) {
    const pii = job.finish.map(compiled);
    out = withoutLeakedLogprobs(out, changed, (text) => pii.some((r) => r.kind === "pii_detection" && scanSource(r.scanner, text).length > 0));
  }
  if (out === body) return { events, blocked: undefined, changed: [...changed], written: undefined };
  // What the front door writes for a small changed answer: JSON.stringify of it, as UTF-8.
  const json = JSON.stringify(out);
  const length = Buffer.byteLength(json, "utf8");
  const inDest = job.dest !== undefined && job.dest.byteLength >= length;
  // Of a size class, so the main thread can keep it for reuse (src/wire/shared-memory.ts).
  const bytes = inDest ? job.dest! : new SharedArrayBuffer(sharedMemoryClass(length));
  Buffer.from(bytes, 0, length).write(json, 0, "utf8");
  remember(`${job.answer.nonce}:${job.rewriteVersion}`, out);
  return { events, blocked: undefined, changed: [...changed], written: { bytes, length, inDest, version: job.rewriteVersion } };
}

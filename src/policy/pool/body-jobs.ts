import { isUtf8 } from "node:buffer";
import type { HeldBody, JsonObject, Operation } from "../../wire/index.js";
import { jsonSyntaxDetail, nestingExceeds, sharedMemoryClass } from "../../wire/index.js";
import { requestSegments, withTexts, type TextSegment } from "../body-texts.js";
import { runChainHere, type ChainResult } from "../chain-runner.js";
import type { CompiledRule, RuleSource } from "../compiled-rule.js";
import type { GovernanceEvent } from "../governance-event.js";
import { abandon, follow, lead } from "./follow.js";
import { abandonSplit, scanPart } from "./split-scan.js";
import { editedJsonByteLength, filledByteLength, jsonByteLength, writeFilled, type Replaced } from "./held-json.js";

/**
 * The work on a held body (src/wire/held-body.ts), in a pool worker: parsing the client's bytes,
 * the request rules over the parsed body, and writing the body that goes upstream. Each job reads
 * the body from its shared bytes, so a job may run on any worker; the main thread only ever sees
 * skeletons, whose long strings are placeholders.
 */

/** The held body as a job sends it (the shared bytes are shared, not copied). */
export type HeldRef = Pick<HeldBody, "bytes" | "length" | "nonce" | "holdMin" | "version">;

export interface ParseBodyJob {
  kind: "parse-body";
  body: HeldRef;
  maxDepth: number;
}

/** Why a body could not be read; the front door words the client's error (as for small bodies). */
export type BodyFault = { fault: "empty" | "utf8" | "depth" | "key" | "values" } | { fault: "json"; detail: string };

/**
 * The most objects, arrays and short strings a held body may have outside its long texts. The
 * skeleton (every value but the long texts) crosses to the main thread and back by structured
 * clone and is walked there: a 15 MiB body of ~520,000 one-letter messages held the event loop
 * 240-350 ms per crossing (round-15 outside battery), ~0.2 us a value. At this bound a crossing is
 * ~20 ms. A chat request needs far fewer (a message is three; a tool definition about twenty; a
 * token-id prompt is one array whatever its length: numbers are not counted).
 */
export const MAX_SKELETON_VALUES = 100_000;

/** The client's error for a body past MAX_SKELETON_VALUES (400 / INVALID_ARGUMENT on every front door). */
export const TOO_MANY_VALUES = "the request has more than 100,000 JSON objects, arrays and short strings outside its long texts, the most the gateway reads (a chat message is three, a tool definition ten to twenty); send fewer messages, parts or tools";

export interface HeldResult {
  skeleton: unknown;
  extraBytes: number;
}

export type ParseBodyResult = HeldResult | BodyFault;

export interface BodyChainJob {
  kind: "body-chain";
  body: HeldRef;
  op: Operation;
  rules: RuleSource[];
  /** Pooled memory for a rewritten body, used when it fits (src/wire/shared-memory.ts). */
  dest?: SharedArrayBuffer;
  /** The version a rewrite gets (src/wire/held-body.ts), given by the main thread. */
  rewriteVersion?: number;
  /** A channel to a follower running the classifier beside this job (src/policy/pool/follow.ts). */
  follow?: SharedArrayBuffer;
  /** Pooled memory for the followed text (UTF-16: twice the body's length is always room enough). */
  followText?: SharedArrayBuffer;
  /** ChainInput.remember: false when PII rules of the chain come after this job. */
  remember?: boolean;
  /**
   * Helpers scanning parts of the largest text for the first rule (src/policy/pool/split-scan.ts):
   * one channel each, and pooled memory the leader writes the text into (UTF-16: twice the body's length).
   */
  split?: { channels: SharedArrayBuffer[]; text: SharedArrayBuffer };
}

/** A part of a body-chain job's largest text, scanned for its first rule in another worker (src/policy/pool/split-scan.ts). */
export interface ScanPartJob {
  kind: "scan-part";
  /** The job's first rule: the PII rule whose scan is split. */
  rule: RuleSource;
  channel: SharedArrayBuffer;
  /** The body-chain job's split text: the leader writes the text there. */
  text: SharedArrayBuffer;
}

/** The content classifier of a body-chain job's request, in a second worker (src/policy/pool/follow.ts). */
export interface FollowJob {
  kind: "follow";
  /** The job's first rule: the PII rule whose redactions the classifier reads. */
  rule: RuleSource;
  channel: SharedArrayBuffer;
  /** The body-chain job's followText: the leader writes the text there. */
  text: SharedArrayBuffer;
}

export interface BodyChainResult {
  events: GovernanceEvent[];
  blocked: { rule: number; code: "KT_ERR_POLICY_BLOCKED" | "KT_ERR_POLICY_ENGINE_UNAVAILABLE"; message: string } | undefined;
  /**
   * The rewritten body, when a rule changed a text. `inDest`: written into the job's `dest` (a
   * SharedArrayBuffer posted back is a new object on the main thread, so identity cannot say).
   */
  changed: (HeldResult & { bytes: SharedArrayBuffer; length: number; inDest: boolean; version: number | undefined; written: string | undefined }) | undefined;
}

export interface BodySegmentsJob {
  kind: "body-segments";
  body: HeldRef;
  op: Operation;
}

export interface SerialiseBodyJob {
  kind: "serialise-body";
  body: HeldRef;
  /** The skeleton as the main thread changed it (target model, token cap…). */
  skeleton: JsonObject;
  /** Pooled memory to write the body into when it fits: the result is then its length. */
  dest?: SharedArrayBuffer;
}

/**
 * Work whose code lives above the policy folder (a front door's decoding of a held RPC message):
 * the worker imports the module by URL and calls the named export with `input`.
 */
export interface ModuleJob {
  kind: "module";
  url: string;
  name: string;
  input: unknown;
  /** Bytes of text the job reads, counted against the queue's bound. */
  chars: number;
  /**
   * Work the request is already committed to (its record written as answered): it waits for a
   * worker however full the queue is, since refusing it would answer the client otherwise than
   * the record says. Bounded by the requests already admitted, each holding its memory anyway.
   */
  committed?: boolean;
}

export type BodyJob = ParseBodyJob | BodyChainJob | BodySegmentsJob | SerialiseBodyJob | ModuleJob | FollowJob | ScanPartJob;

export async function runModuleJob(job: ModuleJob): Promise<unknown> {
  const m = (await import(job.url)) as Record<string, (input: unknown) => unknown>;
  return m[job.name]!(job.input);
}

function bytesOf(body: HeldRef): Uint8Array {
  return new Uint8Array(body.bytes, 0, body.length);
}

/**
 * The text of valid UTF-8 in shared memory, as TextDecoder gives it (a leading BOM dropped).
 * Decoded in place: TextDecoder refuses a shared view, and a private copy first would be one more
 * fresh allocation of the body's size (a page fault per 4 KiB: ~22 us each on the 2-core VM the
 * benchmarks run on, 5-6 ms per MiB).
 */
function textOf(body: HeldRef): string {
  const b = Buffer.from(body.bytes, 0, body.length);
  const bom = b.length >= 3 && b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf ? 3 : 0;
  return b.toString("utf8", bom);
}

/**
 * The last held body a job in this worker parsed (or a rule rewrote), by nonce and version: the
 * jobs of one request (parse, request rules, upstream form) usually run on the same worker, and
 * each parse of a 1 MiB body costs 12-19 ms and ~520 page faults here. Never mutated by a job
 * (withTexts copies on write); one body per worker, dropped after the upstream form is written.
 */
let last: { key: string; body: JsonObject; counted?: Counted[] } | undefined;

/**
 * A large held string's JSON bytes (jsonByteLength), known without reading it again: the parse
 * counts the body's large texts, and a rewrite derives its redacted text's count from the
 * original's and the redaction's edits (editedJsonByteLength) instead of a regex pass over 1 MiB.
 * Found by identity (the same string object the parse counted; === compares content only when
 * two different strings have the same length).
 */
interface Counted {
  s: string;
  n: number;
}

/** Strings from this many characters have their counts kept with the body (a few per body at most). */
const COUNTED_MIN_CHARS = 64 * 1024;

function countedOf(s: string, counted: readonly Counted[] | undefined): number | undefined {
  if (counted !== undefined) for (const c of counted) if (c.s.length === s.length && c.s === s) return c.n;
  return undefined;
}
let parses = 0;
let reuses = 0;
/** Rewritten texts whose JSON bytes were derived from the original's count and the edits (tests). */
let derived = 0;

function keyOf(body: HeldRef): string | undefined {
  return body.version === undefined ? undefined : `${body.nonce}:${body.version}`;
}

/** A kept body is let go after this long without a job (a rewrite sent as it is has no last job). */
const FORGET_MS = 10_000;
let forget: ReturnType<typeof setTimeout> | undefined;

/** The request whose body this is (by nonce) is done with it: its parsed copy goes now, not after FORGET_MS. */
export function forgetHeldBody(nonce: string): void {
  if (last?.key.startsWith(`${nonce}:`)) {
    last = undefined;
    if (forget) clearTimeout(forget);
    forget = undefined;
  }
}

function remember(body: HeldRef, parsedBody: JsonObject, counted?: Counted[]): void {
  const key = keyOf(body);
  last = key === undefined ? undefined : { key, body: parsedBody, counted };
  if (forget) clearTimeout(forget);
  forget = last ? setTimeout(() => (last = undefined), FORGET_MS) : undefined;
  forget?.unref?.();
}

/** The held body parsed (its bytes were checked when it was first parsed). */
function parsed(body: HeldRef): JsonObject {
  const key = keyOf(body);
  if (key !== undefined && last?.key === key) {
    reuses++;
    return last.body;
  }
  parses++;
  const out = JSON.parse(textOf(body)) as JsonObject;
  remember(body, out);
  return out;
}

/** This worker's parses of held bodies, the jobs that reused the last one, and the rewritten texts counted from their edits (tests). */
export function heldParseStats(): { parses: number; reuses: number; derived: number } {
  return { parses, reuses, derived };
}

const encoder = new TextEncoder();

/**
 * The skeleton's JSON (small) beside the bytes written from it: the main thread sends the held
 * bytes upstream as they are when its own skeleton still gives this JSON (src/policy/held-chain.ts).
 * Up to this many characters; a larger skeleton is not worth comparing there.
 */
export const WRITTEN_MAX_CHARS = 64 * 1024;

/**
 * The JSON of `skeleton` with its placeholders filled from `strings` (JSON.stringify of the
 * filled object, byte for byte) as UTF-8: into `dest` when it fits (pooled memory already faulted
 * in), else into a new shared buffer. Written piece by piece (src/policy/pool/held-json.ts): the
 * whole body is never one string.
 */
function writeShared(skeleton: unknown, strings: readonly string[], nonce: string, dest: SharedArrayBuffer | undefined, counted?: readonly number[]): { bytes: SharedArrayBuffer; length: number; inDest: boolean; json: string } {
  const json = JSON.stringify(skeleton);
  const sized = filledByteLength(json, strings, nonce, counted);
  if (!sized) {
    // A placeholder names no string (never made by the gateway): fill the object, as before.
    const whole = JSON.stringify(fillPlaceholders(skeleton, strings, nonce));
    const length = Buffer.byteLength(whole);
    const inDest = dest !== undefined && dest.byteLength >= length;
    const bytes = inDest ? dest : new SharedArrayBuffer(sharedMemoryClass(length));
    encoder.encodeInto(whole, new Uint8Array(bytes, 0, length));
    return { bytes, length, inDest, json };
  }
  const { length, pieces } = sized;
  const inDest = dest !== undefined && dest.byteLength >= length;
  // Of a size class, so the main thread can keep it for reuse (src/wire/shared-memory.ts).
  const bytes = inDest ? dest : new SharedArrayBuffer(sharedMemoryClass(length));
  const wrote = writeFilled(pieces, Buffer.from(bytes, 0, length));
  if (wrote !== length) throw new Error(`held body written as ${wrote} bytes, sized ${length}`);
  return { bytes, length, inDest, json };
}

/** The skeleton with each placeholder replaced by its string (a missing one: undefined, as JSON.stringify drops). */
function fillPlaceholders(skeleton: unknown, strings: readonly string[], nonce: string): unknown {
  const prefix = `\u0000kt-held:${nonce}:`;
  const fill = (v: unknown): unknown => {
    if (typeof v === "string") return v.startsWith(prefix) ? strings[Number(v.slice(prefix.length))] : v;
    if (Array.isArray(v)) return v.map(fill);
    if (v !== null && typeof v === "object") {
      const out: Record<string, unknown> = {};
      for (const k of Object.keys(v)) out[k] = fill((v as Record<string, unknown>)[k]);
      return out;
    }
    return v;
  };
  return fill(skeleton);
}

function placeholder(nonce: string, n: number): string {
  return `\u0000kt-held:${nonce}:${n}`;
}

/** No API field has a key this long; one would make the skeleton as large as the body. */
const MAX_KEY_CHARS = 64 * 1024;

/**
 * The skeleton: the body with every string of `holdMin` characters or more replaced by a
 * placeholder naming its rank in walk order.
 */
export function skeletonOf(body: unknown, holdMin: number, nonce: string): HeldResult | BodyFault {
  const r = skeletonWithStrings(body, holdMin, nonce);
  return "fault" in r ? r : { skeleton: r.skeleton, extraBytes: r.extraBytes };
}

/** skeletonOf, and the held strings in the placeholders' order with their jsonByteLength (`known`: counts already known). */
function skeletonWithStrings(body: unknown, holdMin: number, nonce: string, known?: readonly Counted[]): (HeldResult & { strings: string[]; counted: number[] }) | BodyFault {
  let extraBytes = 0;
  let badKey = false;
  let values = 0;
  const strings: string[] = [];
  const counted: number[] = [];
  const walk = (v: unknown): unknown => {
    if (typeof v === "string") {
      if (++values > MAX_SKELETON_VALUES) throw TOO_MANY;
      if (v.length < holdMin) return v;
      const p = placeholder(nonce, strings.push(v) - 1);
      // JSON bytes, escapes included: never fewer than any count of the string's bytes.
      const n = (v.length >= COUNTED_MIN_CHARS ? countedOf(v, known) : undefined) ?? jsonByteLength(v);
      counted.push(n);
      extraBytes += n - jsonByteLength(p);
      return p;
    }
    if (Array.isArray(v)) {
      if (++values > MAX_SKELETON_VALUES) throw TOO_MANY;
      return v.map(walk);
    }
    if (v !== null && typeof v === "object") {
      if (++values > MAX_SKELETON_VALUES) throw TOO_MANY;
      const out: Record<string, unknown> = {};
      for (const k of Object.keys(v)) {
        if (k.length >= MAX_KEY_CHARS) badKey = true;
        out[k] = walk((v as Record<string, unknown>)[k]);
      }
      return out;
    }
    return v;
  };
  let skeleton: unknown;
  try {
    skeleton = walk(body);
  } catch (err) {
    if (err === TOO_MANY) return { fault: "values" };
    throw err;
  }
  return badKey ? { fault: "key" } : { skeleton, extraBytes, strings, counted };
}

/** Thrown out of the skeleton's walk at the first value past MAX_SKELETON_VALUES (the rest is not walked). */
const TOO_MANY = Symbol("too many values");

/** The held strings of a body, in the skeleton's walk order. */
function heldStrings(body: unknown, holdMin: number): string[] {
  const out: string[] = [];
  const walk = (v: unknown): void => {
    if (typeof v === "string") {
      if (v.length >= holdMin) out.push(v);
    } else if (Array.isArray(v)) v.forEach(walk);
    else if (v !== null && typeof v === "object") for (const k of Object.keys(v)) walk((v as Record<string, unknown>)[k]);
  };
  walk(body);
  return out;
}

export function parseBody(job: ParseBodyJob): ParseBodyResult {
  const bytes = bytesOf(job.body);
  if (bytes.length === 0) return { fault: "empty" };
  if (!isUtf8(bytes)) return { fault: "utf8" };
  const text = textOf(job.body);
  if (nestingExceeds(bytes, job.maxDepth)) return { fault: "depth" };
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (err) {
    return { fault: "json", detail: jsonSyntaxDetail(err) };
  }
  parses++;
  const r = skeletonWithStrings(body, job.body.holdMin, job.body.nonce);
  if ("fault" in r) return r;
  if (body !== null && typeof body === "object" && !Array.isArray(body)) {
    // The large texts' counts stay with the body: the rewrite derives its texts' counts from them.
    const counted = r.strings.flatMap((str, i) => (str.length >= COUNTED_MIN_CHARS ? [{ s: str, n: r.counted[i]! }] : []));
    remember(job.body, body as JsonObject, counted.length > 0 ? counted : undefined);
  }
  return { skeleton: r.skeleton, extraBytes: r.extraBytes };
}

/** Rules without a network call, over the whole held body; a changed body is written anew. */
export async function chainOnBody(job: BodyChainJob, compiled: (s: RuleSource) => CompiledRule): Promise<BodyChainResult> {
  let body: JsonObject;
  let rules: CompiledRule[];
  let segments: TextSegment[];
  let leader: ReturnType<typeof lead>;
  let counted: Counted[] | undefined;
  try {
    body = parsed(job.body);
    // The parse's counts of the body's large texts (taken now: the chain may await).
    counted = last !== undefined && last.key === keyOf(job.body) ? last.counted : undefined;
    rules = job.rules.map(compiled);
    segments = requestSegments(body, job.op);
    // With a follower: the largest text scanned in stretches it reads as they are decided, and the
    // classifier's verdict taken from it when it judged exactly the text the chain judges.
    leader = lead(job.follow, rules, segments, job.followText, job.split);
  } catch (err) {
    abandon(job.follow);
    abandonSplit(job.split?.channels);
    throw err;
  }
  const input = {
    phase: "request" as const,
    segments,
    guardConversations: () => [],
    askGuard: undefined,
    signal: undefined,
    collectFindings: false,
    prescanned: leader.prescanned,
    judge: leader.judge,
    remember: job.remember,
  };
  const blockedBy = (b: NonNullable<ChainResult["blocked"]>): BodyChainResult["blocked"] => ({
    rule: rules.findIndex((c) => c.policy === b.policy && c.rule === b.rule),
    code: b.code as "KT_ERR_POLICY_BLOCKED",
    message: b.message,
  });
  try {
    // With a follower, when only content rules (which change no text) come after the first one:
    // the rules before it, then the rewrite written while the follower may still be classifying,
    // then the content rules. The same events, block and bytes as one run (a block discards the
    // rewrite, as it does the texts).
    const k = rules.findIndex((c) => c.kind === "content_filter");
    if (leader.prescanned !== undefined && k > 0 && rules.slice(k).every((c) => c.kind === "content_filter")) {
      const first = await runChainHere(rules.slice(0, k), input);
      if (first.blocked) return { events: first.events, blocked: blockedBy(first.blocked), changed: undefined };
      const changed = rewriteOf(job, body, segments, first.segments, first.edits, counted);
      const rest = await runChainHere(rules.slice(k), { ...input, segments: first.segments, edits: first.edits, prescanned: undefined });
      const events = [...first.events, ...rest.events];
      if (rest.blocked) return { events, blocked: blockedBy(rest.blocked), changed: undefined };
      return { events, blocked: undefined, changed: changed?.() };
    }
    const r = await runChainHere(rules, input);
    if (r.blocked) return { events: r.events, blocked: blockedBy(r.blocked), changed: undefined };
    return { events: r.events, blocked: undefined, changed: rewriteOf(job, body, segments, r.segments, r.edits, counted)?.() };
  } finally {
    leader.release();
  }
}

/**
 * The body with the rules' texts, written into shared memory now; undefined when no text changed.
 * The returned function keeps it as the worker's last body (for the upstream form) and gives the
 * job's result: called only once the rewrite is known to go on.
 */
function rewriteOf(
  job: BodyChainJob,
  body: JsonObject,
  before: readonly TextSegment[],
  after: readonly TextSegment[],
  edits: readonly (readonly (readonly Replaced[])[])[],
  counted: readonly Counted[] | undefined,
): (() => BodyChainResult["changed"]) | undefined {
  const changes = after.filter((s, i) => s.text !== before[i]!.text);
  if (changes.length === 0) return undefined;
  const out = withTexts(body, changes);
  // A large text changed by one redaction: its count from the original's and the edits.
  const known: Counted[] = [];
  after.forEach((seg, i) => {
    const was = before[i]!.text;
    if (seg.text === was || seg.text.length < COUNTED_MIN_CHARS || edits[i]?.length !== 1) return;
    const n0 = countedOf(was, counted);
    const n = n0 === undefined ? undefined : editedJsonByteLength(was, n0, seg.text, edits[i]![0]!);
    if (n !== undefined) {
      known.push({ s: seg.text, n });
      derived++;
    }
  });
  const held = skeletonWithStrings(out, job.body.holdMin, job.body.nonce, known) as HeldResult & { strings: string[]; counted: number[] };
  // Written from the skeleton, as the upstream form is: the same bytes serialiseBody would write
  // for an unchanged skeleton, so the main thread may send these as they are. The texts' JSON
  // bytes were counted for the skeleton just now: not counted again to size the write.
  const { bytes, length, inDest, json } = writeShared(held.skeleton, held.strings, job.body.nonce, job.dest, held.counted);
  return () => {
    // The rewrite is what the next job (the upstream form) reads: kept under its new version.
    const version = job.rewriteVersion;
    remember(
      { ...job.body, version },
      out,
      held.strings.flatMap((str, i) => (str.length >= COUNTED_MIN_CHARS ? [{ s: str, n: held.counted[i]! }] : [])),
    );
    const written = json.length <= WRITTEN_MAX_CHARS ? json : undefined;
    return { skeleton: held.skeleton, extraBytes: held.extraBytes, bytes, length, inDest, version, written };
  };
}

/** The follower of a body-chain job: true when it gave the leader its scores. */
export function followOnBody(job: FollowJob, compiled: (s: RuleSource) => CompiledRule): boolean {
  const rule = compiled(job.rule);
  if (rule.kind !== "pii_detection") return false;
  return follow(job.channel, rule, job.text);
}

/** A helper of a body-chain job: true when it gave the leader its part's findings. */
export function scanPartOfBody(job: ScanPartJob, compiled: (s: RuleSource) => CompiledRule): boolean {
  const rule = compiled(job.rule);
  if (rule.kind !== "pii_detection") return false;
  return scanPart(job.channel, rule, job.text);
}

/** The body's texts, for a guard-model rule that runs on the main thread. */
export function segmentsOfBody(job: BodySegmentsJob): TextSegment[] {
  return requestSegments(parsed(job.body), job.op);
}

/**
 * The body as it goes upstream: the skeleton with each placeholder replaced by its string, as
 * UTF-8: its length when written into `dest`, else a new shared buffer holding exactly it.
 */
export function serialiseBody(job: SerialiseBodyJob): SharedArrayBuffer | number {
  const strings = heldStrings(parsed(job.body), job.body.holdMin);
  // Counted by the parse or the rewrite when this worker did it: not read again to size the write.
  const known = last !== undefined && last.key === keyOf(job.body) ? last.counted : undefined;
  const counted = known === undefined ? undefined : strings.map((str) => (str.length >= COUNTED_MIN_CHARS ? countedOf(str, known) : undefined) ?? jsonByteLength(str));
  // The request's last job on its body: the worker lets it go (a failover parses it again).
  last = undefined;
  const r = writeShared(job.skeleton, strings, job.body.nonce, job.dest, counted);
  // Did not fit the pooled memory: the new shared buffer it went into comes back instead, as a
  // view of exactly the body (a rare case: the skeleton grew past the room left for it).
  return r.inDest ? r.length : r.bytes.slice(0, r.length);
}

/**
 * A large request's classifier in a second worker, following the first worker's PII scan
 * (src/policy/pool/follow.ts), must change nothing: the scan in stretches gives exactly the
 * findings of the whole-text scan, the classifier fed the redacted text in pieces gives exactly
 * the scores of the whole redacted text, and a chain run with a follower gives exactly the texts,
 * events and verdicts of a chain run without one, including when a value split over a boundary
 * or a second rule means the follower's text is not the one judged (the leader then judges it).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { builtinPiiTypes, contentCategories } from "../../src/config/index.js";
import { requestSegments, type TextSegment } from "../../src/policy/body-texts.js";
import { runChainHere } from "../../src/policy/chain-runner.js";
import { compileRules, type CompiledPiiRule, type CompiledRule } from "../../src/policy/compiled-rule.js";
import { ContentClassifier, defaultClassifier } from "../../src/policy/content/index.js";
import { ScanPool } from "../../src/policy/pool/index.js";
import type { BodyChainResult, HeldRef } from "../../src/policy/pool/body-jobs.js";
import { follow, followChannel, FOLLOW_MIN_CHARS, lead, PieceFeed, scanInStretches } from "../../src/policy/pool/follow.js";
import { isPlainText, scanSource } from "../../src/policy/scan/index.js";
import { configWith, rng } from "./helpers.js";

const allProse = [
  "The committee met on Tuesday to review the quarterly figures. ",
  "Revenue grew modestly across most regions, although the northern division reported a decline. ",
  "She walked along the river as the light faded.\n\n",
  "How do I kill a stuck process and shoot a portrait at dusk? ",
  "They threatened to hurt him and burn the house down if he talked. ",
  "Résumé of Zoë Saldaña, naïve café owner; ",
  "emoji \u{1F600} and \u{1D400}\u{1D401} letters, ",
  "p i p e  b o m b, k!ll, b0mb. ",
  "Dear Jane Doe,\n",
  "221B Baker Street, London NW1 6XE. ",
];
const pii = [
  "jane.doe@example.com",
  "4111 1111 1111 1111",
  "123-45-6789",
  "(415) 555-2671",
  "GB82 WEST 1234 5698 7654 32",
  "192.168.10.24",
  "Jane Doe",
  "1600 Pennsylvania Avenue NW, Washington, DC 20500",
];

/** Prose (plain: its own normalised view, but for the two lines of other characters) with PII planted, some of it right at the multiples of `every` (where stretches end). */
function textOf(seed: number, length: number, every: number, exotic = true): string {
  const r = rng(seed);
  const prose = exotic ? allProse : allProse.filter((p) => isPlainText(p));
  let s = "";
  while (s.length < length) {
    const next = (Math.floor(s.length / every) + 1) * every;
    const v = pii[Math.floor(r() * pii.length)]!;
    // A value straddling, starting at or ending at the next stretch end, now and then.
    if (r() < 0.3 && next - s.length < 200) {
      const shift = Math.floor(r() * (v.length + 3)) - 1;
      while (s.length < next - shift) s += r() < 0.5 ? " " : prose[Math.floor(r() * prose.length)]!.slice(0, Math.max(1, next - shift - s.length));
      s += v + " ";
    } else s += r() < 0.15 ? v + (r() < 0.5 ? ". " : "\n") : prose[Math.floor(r() * prose.length)]!;
  }
  return s;
}

const allPii = (action = "redact"): unknown => ({ type: "pii_detection", action, patterns: [...builtinPiiTypes] });
const classifierRule = (action = "log"): unknown => ({ type: "content_filter", action, engine: "builtin", categories: [...contentCategories] });
const rulesOf = (...rules: unknown[]): CompiledRule[] => compileRules(configWith([{ id: "p", rules }]));

describe("a scan in stretches", () => {
  const rule = rulesOf(allPii())[0] as CompiledPiiRule;
  it("finds exactly what the whole-text scan finds, values at the cuts included", () => {
    for (let seed = 1; seed <= 60; seed++) {
      const every = 40 + (seed % 7) * 37;
      const text = textOf(seed, 2000 + (seed % 5) * 700, every);
      const whole = scanSource(rule.scanner, text, false, undefined, true);
      const decided: number[] = [];
      const stretched = scanInStretches(rule, text, every, (found, at) => {
        // Every finding starting before the decided offset is already among those published.
        for (const f of whole) if (f.start < at) expect(found.some((g) => g.start === f.start && g.end === f.end)).toBe(true);
        decided.push(at);
      });
      expect(stretched).toEqual(whole);
      expect(decided.at(-1)).toBe(text.length);
    }
  });
});

describe("the classifier fed in pieces", () => {
  it("scores exactly as the whole text, whatever the pieces (surrogate pairs cut included)", () => {
    const clf = new ContentClassifier(defaultClassifier());
    const whole = new ContentClassifier(defaultClassifier());
    for (let seed = 1; seed <= 80; seed++) {
      const r = rng(seed * 31);
      const text = textOf(seed, 500 + Math.floor(r() * 3000), 97);
      const expected = Array.from(whole.score(text));
      const feed = new PieceFeed(clf);
      let at = 0;
      while (at < text.length) {
        const n = Math.floor(r() * 40);
        feed.push(text.slice(at, at + n));
        at += n;
      }
      expect(Array.from(feed.end(""))).toEqual(expected);
    }
  });
});

function chatSegments(body: unknown): TextSegment[] {
  return requestSegments(body as never, "chat");
}

/** The chain as a leader with a follower runs it, in one thread: the leader's scan first, then the follower. */
async function withFollower(rules: CompiledRule[], segments: TextSegment[]): Promise<{ result: Awaited<ReturnType<typeof runChainHere>>; followed: boolean; used: boolean }> {
  const channel = followChannel();
  const text = new SharedArrayBuffer(2 * Math.max(...segments.map((s) => s.text.length)));
  const leader = lead(channel, rules, segments, text);
  const followed = rules[0]!.kind === "pii_detection" && follow(channel, rules[0] as CompiledPiiRule, text);
  let used = false;
  const result = await runChainHere(rules, {
    phase: "request",
    segments,
    guardConversations: () => [],
    askGuard: undefined,
    signal: undefined,
    collectFindings: false,
    prescanned: leader.prescanned,
    judge: (t, c, th) => {
      used ||= leader.prescanned?.redacted === t;
      return leader.judge(t, c, th);
    },
  });
  leader.release();
  return { result, followed, used };
}

function plainRun(rules: CompiledRule[], segments: TextSegment[]) {
  return runChainHere(rules, { phase: "request", segments, guardConversations: () => [], askGuard: undefined, signal: undefined, collectFindings: false });
}

describe("a chain with a follower", () => {
  it("gives exactly the texts, events and block of the chain without one", async () => {
    let used = 0;
    for (let seed = 1; seed <= 8; seed++) {
      const r = rng(seed * 7);
      // One text in four has characters that normalisation changes: the leader then follows nothing.
      const big = textOf(seed, FOLLOW_MIN_CHARS + Math.floor(r() * 20_000), 997, seed % 4 === 3);
      const messages: { role: string; content: string }[] = [];
      // A system prompt that ends in half an email, the user message starting with its other half: a value split over the boundary.
      if (seed % 3 === 0) messages.push({ role: "system", content: "You are helpful. Mail ops at jane.doe@exam" }, { role: "user", content: "ple.com " + big });
      else if (seed % 3 === 1) messages.push({ role: "system", content: "You are a helpful assistant." }, { role: "user", content: big });
      else messages.push({ role: "user", content: "an earlier turn: kill it" }, { role: "assistant", content: "ok" }, { role: "user", content: big });
      const action = seed % 2 === 0 ? "mask" : "redact";
      const rules = rulesOf(allPii(action), classifierRule(seed % 4 === 0 ? "block" : "log"));
      const segments = chatSegments({ model: "m", messages });
      const expected = await plainRun(rules, segments);
      const got = await withFollower(rules, segments);
      expect(got.followed).toBe(isPlainText(big));
      if (got.used) used++;
      expect(got.result.segments.map((s) => s.text)).toEqual(expected.segments.map((s) => s.text));
      expect(got.result.events).toEqual(expected.events);
      expect(got.result.blocked?.message).toEqual(expected.blocked?.message);
    }
    // The ordinary case (one user message after a system prompt) takes the follower's scores.
    expect(used).toBeGreaterThan(0);
  });

  it("judges the text itself when a second rule changed it after the follower's", async () => {
    const big = textOf(5, FOLLOW_MIN_CHARS + 5000, 997, false);
    const rules = rulesOf(allPii(), { type: "pii_detection", action: "redact", patterns: [{ name: "word", regex: "\\bcommittee\\b" }] }, classifierRule());
    const segments = chatSegments({ model: "m", messages: [{ role: "user", content: big }] });
    const got = await withFollower(rules, segments);
    const expected = await plainRun(rules, segments);
    expect(got.used).toBe(false);
    expect(got.result.segments.map((s) => s.text)).toEqual(expected.segments.map((s) => s.text));
    expect(got.result.events).toEqual(expected.events);
  });

  it("the follower's scores are the whole redacted text's", () => {
    const big = textOf(9, FOLLOW_MIN_CHARS + 3000, 997, false);
    const rules = rulesOf(allPii(), classifierRule());
    const segments = chatSegments({ model: "m", messages: [{ role: "user", content: big }] });
    const channel = followChannel();
    const text = new SharedArrayBuffer(2 * big.length);
    const leader = lead(channel, rules, segments, text);
    expect(follow(channel, rules[0] as CompiledPiiRule, text)).toBe(true);
    const redacted = scanSource((rules[0] as CompiledPiiRule).scanner, big).reduceRight((t, f) => t.slice(0, f.start) + `[REDACTED:${f.type.toUpperCase()}]` + t.slice(f.end), big);
    const n = defaultClassifier().categories.length;
    const scores = Array.from(new Float64Array(channel, 16 * 4, n));
    expect(scores).toEqual(Array.from(new ContentClassifier(defaultClassifier()).score(redacted)));
    leader.release();
  });
});

describe("a held body's chain with a follower in a second worker", { timeout: 120_000 }, () => {
  let pool: ScanPool;
  beforeAll(async () => {
    pool = new ScanPool({ size: 2 });
    pool.warm();
    await Promise.all([0, 1].map(() => pool.run({ kind: "pii", key: "warm-up", spec: { patterns: ["email"], regions: undefined, obfuscated: undefined }, texts: ["warm"], json: [false] })));
  }, 120_000);
  afterAll(() => pool?.close());

  function held(text: string, nonce: string): HeldRef {
    const bytes = new SharedArrayBuffer(Buffer.byteLength(text));
    Buffer.from(bytes).write(text);
    return { bytes, length: bytes.byteLength, nonce, holdMin: 256, version: 1 };
  }

  it("rewrites the body and reports the events exactly as without it", async () => {
    for (let seed = 1; seed <= 4; seed++) {
      // Blocking and logging classifiers; a text that the classifier flags (threats repeated) in the last round.
      const rules = rulesOf(allPii(seed % 2 === 0 ? "mask" : "redact"), classifierRule(seed >= 3 ? "block" : "log")).map((r) => r.source);
      const threat = "I will kill you and burn your house down tonight. ".repeat(seed === 4 ? 40 : 0);
      const body = JSON.stringify({ model: "m", messages: [{ role: "system", content: "Be brief." }, { role: "user", content: threat + textOf(seed + 100, 300_000, 4096, false) }] });
      const plain = await pool.run({ kind: "body-chain", body: held(body, `plain-${seed}`), op: "chat", rules, rewriteVersion: 2 });
      const ref = held(body, `followed-${seed}`);
      const channel = followChannel();
      const followText = new SharedArrayBuffer(2 * ref.length);
      const leader = pool.run({ kind: "body-chain", body: ref, op: "chat", rules, rewriteVersion: 2, follow: channel, followText });
      const followed = pool.run({ kind: "follow", rule: rules[0]!, channel, text: followText });
      const [got, helped] = await Promise.all([leader, followed]);
      expect(typeof helped).toBe("boolean");
      const bytesOf = (r: BodyChainResult) => (r.changed ? Buffer.from(r.changed.bytes, 0, r.changed.length).toString("utf8") : undefined);
      expect(got.events).toEqual(plain.events);
      expect(got.blocked).toEqual(plain.blocked);
      expect(bytesOf(got)).toBe(bytesOf(plain));
      if (seed === 4) expect(plain.blocked).toBeDefined();
    }
  });
});

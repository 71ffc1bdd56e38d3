/**
 * A pool worker keeps the last held body it parsed (src/policy/pool/body-jobs.ts), keyed by the
 * body's nonce and version, so the jobs of one request parse a large body once, not three times.
 * Structure only: the worker's own counts of parses and reuses, and that every job still reads the
 * version of the body it was given (a masked rewrite has the original's length, so a key without
 * the version would hand a later job the wrong text).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compileRules } from "../../src/policy/compiled-rule.js";
import { ScanPool } from "../../src/policy/pool/index.js";
import type { BodyChainResult, HeldRef } from "../../src/policy/pool/body-jobs.js";
import type { JsonObject } from "../../src/wire/index.js";
import { configWith } from "./helpers.js";

const bodyJobs = new URL("../../src/policy/pool/body-jobs.ts", import.meta.url).href;
const CARD = "4111 1111 1111 1111";

let pool: ScanPool;
beforeAll(async () => {
  // One worker: every job lands on it, as a request's jobs usually do on a quiet pool.
  pool = new ScanPool({ size: 1 });
  await pool.run({ kind: "pii", key: "warm-up", spec: { patterns: ["email"], regions: undefined, obfuscated: undefined }, texts: ["warm"], json: [false] });
}, 120_000);
afterAll(() => pool?.close());

const stats = () => pool.run({ kind: "module", url: bodyJobs, name: "heldParseStats", input: undefined, chars: 0 }) as Promise<{ parses: number; reuses: number }>;

function held(nonce: string, version: number): { ref: HeldRef; text: string } {
  let filler = "";
  for (let i = 0; filler.length < 300 * 1024; i++) filler += `line ${i} of a long prompt.\n`;
  const text = JSON.stringify({ model: "m", messages: [{ role: "user", content: `pay with ${CARD} today\n${filler}` }] });
  const bytes = new SharedArrayBuffer(Buffer.byteLength(text));
  Buffer.from(bytes).write(text);
  return { ref: { bytes, length: bytes.byteLength, nonce, holdMin: 256, version }, text };
}

const maskRule = () => compileRules(configWith([{ id: "p", rules: [{ type: "pii_detection", action: "mask", patterns: ["credit_card"] }] }])).map((r) => r.source);

async function chain(ref: HeldRef, rewriteVersion: number): Promise<NonNullable<BodyChainResult["changed"]>> {
  const out = await pool.run({ kind: "body-chain", body: ref, op: "chat", rules: maskRule(), rewriteVersion });
  expect(out.changed).toBeDefined();
  return out.changed!;
}

function upstreamText(r: SharedArrayBuffer | number): string {
  expect(typeof r).not.toBe("number");
  return Buffer.from(r as SharedArrayBuffer).toString("utf8");
}

describe("held body parsed once per request in a worker", { timeout: 120_000 }, () => {
  it("parse, request rules and upstream form parse the body once", async () => {
    const { ref } = held("n-one", 1_000_001);
    const s0 = await stats();
    const parsed = await pool.run({ kind: "parse-body", body: ref, maxDepth: 64 });
    expect("fault" in parsed).toBe(false);
    const changed = await chain(ref, 1_000_002);
    expect(changed.version).toBe(1_000_002);
    const rewrite: HeldRef = { ...ref, bytes: changed.bytes, length: changed.length, version: changed.version };
    const sent = upstreamText(await pool.run({ kind: "serialise-body", body: rewrite, skeleton: changed.skeleton as JsonObject }));
    expect(sent).not.toContain(CARD);
    expect(sent).toContain("1111 today");
    const s1 = await stats();
    expect(s1.parses - s0.parses).toBe(1);
    expect(s1.reuses - s0.reuses).toBe(2);
  });

  it("a job given another version of the body reads that version, not the one kept", async () => {
    const { ref, text } = held("n-two", 1_000_003);
    await pool.run({ kind: "parse-body", body: ref, maxDepth: 64 });
    const changed = await chain(ref, 1_000_004);
    // The mask keeps every character's place: same length, different text.
    expect(changed.length).toBe(ref.length);
    const s0 = await stats();
    // The original's version while the rewrite is kept: the original's text.
    const segments = await pool.run({ kind: "body-segments", body: ref, op: "chat" });
    expect(segments.map((s) => s.text).join("\n")).toContain(CARD);
    // And the rewrite's version after that: the rewrite's.
    const rewrite: HeldRef = { ...ref, bytes: changed.bytes, length: changed.length, version: changed.version };
    const sent = upstreamText(await pool.run({ kind: "serialise-body", body: rewrite, skeleton: changed.skeleton as JsonObject }));
    expect(sent).not.toContain(CARD);
    expect(JSON.parse(sent).messages[0].content.length).toBe(JSON.parse(text).messages[0].content.length);
    const s1 = await stats();
    expect(s1.parses - s0.parses).toBe(2);
    expect(s1.reuses - s0.reuses).toBe(0);
  });
});

describe("a held body's jobs go to the worker that parsed it", { timeout: 120_000 }, () => {
  let two: ScanPool;
  beforeAll(async () => {
    two = new ScanPool({ size: 2 });
    // Both workers booted: two jobs at once land on one each.
    await Promise.all([0, 1].map(() => two.run({ kind: "pii", key: "warm-up", spec: { patterns: ["email"], regions: undefined, obfuscated: undefined }, texts: ["warm"], json: [false] })));
  }, 120_000);
  afterAll(() => two?.close());

  /** Both workers' counts, summed: two jobs posted together run one on each. */
  const statsOfBoth = async () => {
    const job = { kind: "module", url: bodyJobs, name: "heldParseStats", input: undefined, chars: 0 } as const;
    const [a, b] = (await Promise.all([two.run(job), two.run(job)])) as { parses: number; reuses: number }[];
    return { parses: a!.parses + b!.parses, reuses: a!.reuses + b!.reuses };
  };

  it("two bodies parsed side by side, then their rules run in the other order: no body parsed twice", async () => {
    const a = held("n-aff-a", 2_000_001).ref;
    const b = held("n-aff-b", 2_000_002).ref;
    const s0 = await statsOfBoth();
    // Posted together: one worker parses each.
    await Promise.all([two.run({ kind: "parse-body", body: a, maxDepth: 64 }), two.run({ kind: "parse-body", body: b, maxDepth: 64 })]);
    // Then one at a time, b first: the first free worker would be a's; each must go to its own.
    const cb = await chainOn(two, b, 2_000_003);
    const ca = await chainOn(two, a, 2_000_004);
    expect(cb.version).toBe(2_000_003);
    expect(ca.version).toBe(2_000_004);
    const s1 = await statsOfBoth();
    expect(s1.parses - s0.parses).toBe(2);
    expect(s1.reuses - s0.reuses).toBe(2);
  });
});

async function chainOn(p: ScanPool, ref: HeldRef, rewriteVersion: number): Promise<NonNullable<BodyChainResult["changed"]>> {
  const out = await p.run({ kind: "body-chain", body: ref, op: "chat", rules: maskRule(), rewriteVersion });
  expect(out.changed).toBeDefined();
  return out.changed!;
}

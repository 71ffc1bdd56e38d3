import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compilePolicyEngine } from "../../src/policy/index.js";
import { ScanPool, runPiiJob, scanPool, type PiiJob } from "../../src/policy/pool/index.js";
import { builtinPiiTypes, contentCategories } from "../../src/config/index.js";
import { defaultThresholds, judgeText } from "../../src/policy/content/index.js";
import { configWith } from "./helpers.js";

const pool = new ScanPool(2);
// A worker boots the policy modules (under tsx, compiling them): seconds on a loaded machine.
beforeAll(async () => {
  pool.warm();
  scanPool().warm();
  await pool.run({ kind: "judge", text: "warm", categories: [...contentCategories], thresholds: defaultThresholds() });
}, 120_000);
afterAll(() => pool.close());

const job = (texts: string[]): PiiJob => ({
  kind: "pii",
  key: "all",
  spec: { patterns: [...builtinPiiTypes, { name: "ticket", regex: "TCK-\\d{6}" }], regions: undefined, obfuscated: undefined },
  texts,
  json: texts.map((_, i) => i % 2 === 1),
});

describe("scan worker pool", { timeout: 120_000 }, () => {
  it("gives exactly the inline findings", async () => {
    const texts = [
      "mail jane.doe@example.com, card 4111 1111 1111 1111, ssn 123-45-6789, ticket TCK-123456",
      '{"to":"x@example.org","note":"ip 10.1.2.3"}',
      "nothing here at all",
    ];
    const inline = runPiiJob(job(texts));
    const pooled = await pool.run(job(texts));
    expect(pooled.map((r) => [...r.found])).toEqual(inline.map((r) => [...r.found]));
    // email, card, ssn, ticket in the first text; email and ip in the JSON one; none in the third.
    expect(pooled.map((r) => r.found.length / 3)).toEqual([4, 2, 0]);
    // The classifier in a worker judges exactly as inline.
    for (const text of ["I will kill you and stab you with a knife", "a calm day"]) {
      const judge = { kind: "judge" as const, text, categories: [...contentCategories], thresholds: defaultThresholds() };
      expect(await pool.run(judge)).toEqual(judgeText(text, judge.categories, judge.thresholds));
    }
    expect((await pool.run({ kind: "judge", text: "I will kill you and stab you with a knife", categories: [...contentCategories], thresholds: defaultThresholds() })).fired.length).toBeGreaterThan(0);
  });

  it("scans a large worst-case text while the event loop keeps turning", async () => {
    const text = "-----BEGIN PRIVATE KEY-----\n".repeat(40_000);
    let turns = 0;
    let done = false;
    const tick = () => {
      if (done) return;
      turns++;
      setImmediate(tick);
    };
    setImmediate(tick);
    const r = await pool.run(job([text]));
    done = true;
    // The main thread went round its loop while the worker scanned (inline, it could not have once).
    expect(turns).toBeGreaterThan(10);
    expect(r[0]!.found.length).toBeGreaterThan(0);
  });

  it("jobs beyond the pool's size queue and all complete", async () => {
    const texts = Array.from({ length: 6 }, (_, i) => `a${i}@example.com `.repeat(5000));
    const all = await Promise.all(texts.map((t) => pool.run(job([t]))));
    all.forEach((r, i) => expect(r[0]!.found.length / 3).toBe(5000));
    expect(pool.queued).toBe(0);
  });

  it("the policy engine sends a large body to the pool and redacts it as it would inline", async () => {
    const engine = compilePolicyEngine(configWith([{ id: "p", rules: [{ type: "pii_detection", action: "redact", patterns: ["email"] }] }]));
    const big = "write to bob@example.com please. ".repeat(4000);
    let turns = 0;
    let done = false;
    const tick = () => {
      if (done) return;
      turns++;
      setImmediate(tick);
    };
    setImmediate(tick);
    const r = await engine.checkRequest({ model: "m", messages: [{ role: "user", content: big }] }, "chat");
    done = true;
    const out = (r.body.messages as { content: string }[])[0]!.content;
    expect(out).toBe("write to [REDACTED:EMAIL] please. ".repeat(4000));
    expect(r.events[0]!.counts).toEqual({ email: 4000 });
    expect(turns).toBeGreaterThan(0);
  });
});

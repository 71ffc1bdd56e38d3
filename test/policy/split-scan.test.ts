/**
 * A long text's PII scan cut into parts that other pool workers scan at once
 * (src/policy/pool/split-scan.ts) must find exactly what one scan of the whole text finds: values
 * planted across, at and beside every cut, helpers that never start, and a held body's chain with
 * helpers against the same chain without them (rewritten bytes and events).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { builtinPiiTypes, contentCategories } from "../../src/config/index.js";
import { compileRules, type CompiledPiiRule, type CompiledRule } from "../../src/policy/compiled-rule.js";
import { ScanPool } from "../../src/policy/pool/index.js";
import type { BodyChainResult, HeldRef } from "../../src/policy/pool/body-jobs.js";
import { helperStarted, splitChannel, splitHelpers, splitScan } from "../../src/policy/pool/split-scan.js";
import { isPlainText, scanSource } from "../../src/policy/scan/index.js";
import { configWith, rng } from "./helpers.js";

const prose = [
  "The committee met on Tuesday to review the quarterly figures. ",
  "Revenue grew modestly across most regions, although the northern division reported a decline. ",
  "She walked along the river as the light faded.\n\n",
  "Dear Jane Doe,\n",
  "221B Baker Street, London NW1 6XE. ",
  "Call me on 415 555 2671 ext. 12 tomorrow. ",
  "Ref 1.2.3.4.5.6.7.8 and 10.0.0.1.2 were rejected. ",
];
const pii = [
  "jane.doe@example.com",
  "4111 1111 1111 1111",
  "123-45-6789",
  "(415) 555-2671",
  "GB82 WEST 1234 5698 7654 32",
  "192.168.10.24",
  "Jane Doe",
  "Mr John Smith",
  "1600 Pennsylvania Avenue NW, Washington, DC 20500",
  "born 12/03/1981",
  "0x52908400098527886E0F7030069857D2E4169EE7",
];

/** Prose with PII, and the positions of planted values (start, end) to cut at or beside. */
function textOf(seed: number, length: number): { text: string; planted: [number, number][] } {
  const r = rng(seed);
  let s = "";
  const planted: [number, number][] = [];
  while (s.length < length) {
    if (r() < 0.2) {
      const v = pii[Math.floor(r() * pii.length)]!;
      planted.push([s.length, s.length + v.length]);
      s += v + (r() < 0.3 ? ". " : r() < 0.5 ? " " : "\n");
    } else s += prose[Math.floor(r() * prose.length)]!;
  }
  return { text: s, planted };
}

const allPii = (action = "redact"): unknown => ({ type: "pii_detection", action, patterns: [...builtinPiiTypes] });
const classifierRule = (action = "log"): unknown => ({ type: "content_filter", action, engine: "builtin", categories: [...contentCategories] });
const rulesOf = (...rules: unknown[]): CompiledRule[] => compileRules(configWith([{ id: "p", rules }]));

describe("a scan split over workers", { timeout: 180_000 }, () => {
  let pool: ScanPool;
  beforeAll(async () => {
    pool = new ScanPool({ size: 3 });
    pool.warm();
    await Promise.all([0, 1, 2].map(() => pool.run({ kind: "pii", key: "warm-up", spec: { patterns: ["email"], regions: undefined, obfuscated: undefined }, texts: ["warm"], json: [false] })));
  }, 120_000);
  afterAll(() => pool?.close());

  const rule = rulesOf(allPii())[0] as CompiledPiiRule;

  /** splitScan with `helpers` helper jobs in the pool, each begun (waiting for the text) before the leader starts. */
  async function split(text: string, cuts: number[], started = true, margin?: number): Promise<{ found: ReturnType<typeof splitScan>; helped: boolean[] }> {
    const channels = cuts.map(() => splitChannel());
    const buffer = new SharedArrayBuffer(2 * text.length);
    const jobs = started ? channels.map((channel) => pool.run({ kind: "scan-part", rule: rule.source, channel, text: buffer })) : [];
    const until = Date.now() + 30_000;
    while (started && !channels.every(helperStarted)) {
      if (Date.now() > until) throw new Error("helpers never started");
      await new Promise((r) => setTimeout(r, 2));
    }
    const found = splitScan(rule, text, channels, buffer, cuts, margin);
    return { found, helped: await Promise.all(jobs) };
  }

  it("finds exactly what the whole-text scan finds, with values at, across and beside every cut", async () => {
    let crossed = 0;
    for (let seed = 1; seed <= 40; seed++) {
      const r = rng(seed * 13);
      const { text, planted } = textOf(seed, 6000 + Math.floor(r() * 6000));
      expect(isPlainText(text)).toBe(true);
      const whole = scanSource(rule.scanner, text, false, undefined, true);
      // One to three cuts, each at a planted value's start, inside it, at its end, or a character off.
      const n = 1 + (seed % 3);
      const cuts = new Set<number>();
      for (let k = 0; k < n; k++) {
        const [a, b] = planted[Math.floor(r() * planted.length)]!;
        const at = [a, a + 1, a - 1, Math.floor((a + b) / 2), b - 1, b, b + 1][Math.floor(r() * 7)]!;
        cuts.add(Math.min(text.length - 1, Math.max(1, at)));
      }
      const sorted = [...cuts].sort((x, y) => x - y);
      for (const c of sorted) if (whole.some((f) => f.start < c && f.end > c)) crossed++;
      // Parts read to the default margin past their end, or cut close to it (values cut at the
      // margin too: decided in the whole text).
      const margin = [undefined, 30, 200, 1000][seed % 4];
      const { found, helped } = await split(text, sorted, true, margin);
      expect(helped.every(Boolean)).toBe(true);
      expect(found).toEqual(whole);
    }
    // Findings crossing a cut were there to be joined (the leader scanned on past the helpers' starts).
    expect(crossed).toBeGreaterThan(5);
  });

  it("decides nothing from a part's text cut short that the whole text would decide otherwise", async () => {
    // Long values (addresses, IBANs, card numbers) starting just before a cut, with the part's text
    // ending inside them: the cut text alone would find a shorter value or none.
    let tried = 0;
    for (let seed = 200; seed < 212; seed++) {
      const { text, planted } = textOf(seed, 8000);
      const whole = scanSource(rule.scanner, text, false, undefined, true);
      const long = planted.filter(([a, b]) => b - a >= 19 && a > 100 && b < text.length - 100);
      for (const [a, b] of long.slice(0, 3)) {
        const cut = a + 5;
        const margin = Math.max(1, Math.floor((b - a) / 2));
        const { found, helped } = await split(text, [cut], true, margin);
        expect(helped).toEqual([true]);
        expect(found).toEqual(whole);
        tried++;
      }
    }
    expect(tried).toBeGreaterThan(10);
  });

  it("scans on past a cut until its cursor is one the helper's scan passed through", async () => {
    // Whole scan of "abbbbcd": "abbbb" at 0, then "cd". A helper cut inside the b's finds "bbbbc",
    // which swallows the "c" of "cd": the leader, whose cursor (after "abbbb") is inside it, must
    // scan on rather than take the helper's findings from there.
    const custom = rulesOf({ type: "pii_detection", action: "redact", patterns: [{ name: "ab", regex: "ab+" }, { name: "bc", regex: "b+c" }, { name: "cd", regex: "cd" }] })[0] as CompiledPiiRule;
    const text = "xx abbbbcd yy ".repeat(40);
    const whole = scanSource(custom.scanner, text, false, undefined, true);
    expect(whole.filter((f) => f.type === "cd").length).toBe(40);
    for (const cut of [5, 6, 7, 8, 9, 19, 20, 21, 22]) {
      const channel = splitChannel();
      const buffer = new SharedArrayBuffer(2 * text.length);
      const job = pool.run({ kind: "scan-part", rule: custom.source, channel, text: buffer });
      while (!helperStarted(channel)) await new Promise((r) => setTimeout(r, 2));
      expect(splitScan(custom, text, [channel], buffer, [cut])).toEqual(whole);
      expect(await job).toBe(true);
    }
  });

  it("scans the parts itself when the helpers never start", async () => {
    const { text } = textOf(77, 20_000);
    const whole = scanSource(rule.scanner, text, false, undefined, true);
    const { found } = await split(text, [5000, 12_000], false);
    expect(found).toEqual(whole);
  });

  it("asks for one helper per free worker, at most one per 128 KiB part beyond the first", () => {
    expect(splitHelpers(100_000, 1)).toBe(0);
    expect(splitHelpers(1 << 20, 1)).toBe(1);
    expect(splitHelpers(1 << 20, 0)).toBe(0);
    expect(splitHelpers(1 << 20, 15)).toBe(7);
    expect(splitHelpers(300_000, 3)).toBe(1);
  });

  function held(text: string, nonce: string): HeldRef {
    const bytes = new SharedArrayBuffer(Buffer.byteLength(text));
    Buffer.from(bytes).write(text);
    return { bytes, length: bytes.byteLength, nonce, holdMin: 256, version: 1 };
  }

  it("a held body's chain with helpers rewrites the body and reports the events exactly as without them", async () => {
    let helpedAtAll = 0;
    for (let seed = 1; seed <= 4; seed++) {
      const rules = rulesOf(allPii(seed % 2 === 0 ? "mask" : "redact"), classifierRule(seed >= 3 ? "block" : "log")).map((r) => r.source);
      const threat = "I will kill you and burn your house down tonight. ".repeat(seed === 4 ? 40 : 0);
      const big = threat + textOf(seed + 100, 300_000).text;
      const body = JSON.stringify({ model: "m", messages: [{ role: "system", content: "Be brief." }, { role: "user", content: big }] });
      const plain = await pool.run({ kind: "body-chain", body: held(body, `plain-${seed}`), op: "chat", rules, rewriteVersion: 2 });
      const ref = held(body, `split-${seed}`);
      const helpers = 1 + (seed % 2);
      const split = { channels: Array.from({ length: helpers }, splitChannel), text: new SharedArrayBuffer(2 * ref.length) };
      const leader = pool.run({ kind: "body-chain", body: ref, op: "chat", rules, rewriteVersion: 2, split });
      const parts = split.channels.map((channel) => pool.run({ kind: "scan-part", rule: rules[0]!, channel, text: split.text }));
      const [got, ...helped] = await Promise.all([leader, ...parts]);
      for (const h of helped) expect(typeof h).toBe("boolean");
      helpedAtAll += helped.filter((h) => h === true).length;
      const bytesOf = (r: BodyChainResult) => (r.changed ? Buffer.from(r.changed.bytes, 0, r.changed.length).toString("utf8") : undefined);
      expect(got.events).toEqual(plain.events);
      expect(got.blocked).toEqual(plain.blocked);
      expect(bytesOf(got)).toBe(bytesOf(plain));
      if (seed === 4) expect(plain.blocked).toBeDefined();
    }
    // Free workers start their part at once: helpers did the scanning, not the leader alone.
    expect(helpedAtAll).toBeGreaterThan(0);
  });
});

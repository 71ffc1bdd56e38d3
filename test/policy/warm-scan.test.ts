import { describe, expect, it } from "vitest";
import { builtinPiiTypes } from "../../src/config/index.js";
import { compilePiiScanner, MAX_CACHED_SCANNERS, WARM_TEXT } from "../../src/policy/compiled-rule.js";

// compilePiiScanner scans WARM_TEXT once so that V8's compilation of the patterns and the
// recognisers' lazily built tables are paid when a config is applied, not by the first request
// (81 ms of CPU on an idle gateway's first request before). That only works while the text walks
// every recogniser to a finding: a new built-in type needs a value here.
describe("the warm-up scan at compile time", () => {
  it("finds a value of every built-in type", () => {
    const scanner = compilePiiScanner({ patterns: [...builtinPiiTypes], regions: undefined, obfuscated: undefined });
    const found = new Set(scanner.scan(WARM_TEXT).map((f) => f.type));
    expect(builtinPiiTypes.filter((t) => !found.has(t))).toEqual([]);
  });

  it("walks each type alone to its finding, and leaves nothing behind", () => {
    for (const t of builtinPiiTypes) {
      const scanner = compilePiiScanner({ patterns: [t], regions: undefined, obfuscated: undefined });
      expect(scanner.scan(WARM_TEXT).some((f) => f.type === t)).toBe(true);
      // The warm text is not remembered: a text without values finds nothing afterwards.
      expect(scanner.scan("nothing to see in this plain sentence")).toEqual([]);
    }
  });
});

describe("scanners shared by spec", () => {
  const spec = (patterns: string[], regions?: string[]) => ({ patterns, regions, obfuscated: undefined });

  it("gives rules with equal specs one scanner, and a different spec its own", () => {
    const a = compilePiiScanner(spec(["email", "phone"]));
    expect(compilePiiScanner(spec(["email", "phone"]))).toBe(a);
    expect(compilePiiScanner(spec(["phone", "email"]))).not.toBe(a);
    expect(compilePiiScanner(spec(["email", "phone"], ["US"]))).not.toBe(a);
    expect(compilePiiScanner({ patterns: ["email", { name: "ticket", regex: "TCK-\\d{6}" }], regions: undefined, obfuscated: undefined })).not.toBe(a);
  });

  it("keeps at most MAX_CACHED_SCANNERS, dropping the least recently used", () => {
    const first = compilePiiScanner({ patterns: [{ name: "n0", regex: "Q0-\\d{4}" }], regions: undefined, obfuscated: undefined });
    for (let i = 1; i <= MAX_CACHED_SCANNERS; i++) compilePiiScanner({ patterns: [{ name: `n${i}`, regex: `Q${i}-\\d{4}` }], regions: undefined, obfuscated: undefined });
    // n0 was pushed out by MAX_CACHED_SCANNERS newer specs: compiled anew, finding the same.
    const again = compilePiiScanner({ patterns: [{ name: "n0", regex: "Q0-\\d{4}" }], regions: undefined, obfuscated: undefined });
    expect(again).not.toBe(first);
    expect(again.scan("id Q0-1234 here").map((f) => f.type)).toEqual(first.scan("id Q0-1234 here").map((f) => f.type));
  });
});

describe("the names warm-up (rules with person or location)", () => {
  it("is a fixed text of about 16 Ki characters in which person and location find many values", async () => {
    const { namesWarmText } = await import("../../src/policy/pii/index.js");
    const text = namesWarmText();
    expect(text).toBe(namesWarmText());
    expect(text.length).toBeGreaterThanOrEqual(16 * 1024);
    const scanner = compilePiiScanner({ patterns: ["person", "location"], regions: undefined, obfuscated: undefined });
    const found = scanner.scan(text);
    // Enough decisions for V8 to optimise the per-word paths: hundreds of each type.
    expect(found.filter((f) => f.type === "person").length).toBeGreaterThan(100);
    expect(found.filter((f) => f.type === "location").length).toBeGreaterThan(100);
  });
});

describe("scanners prepared before a reload compiles", () => {
  it("are built in steps with turns of the event loop between them, and compiled rules take them from the cache", async () => {
    const { preparePiiScanners } = await import("../../src/policy/index.js");
    const { configWith } = await import("./helpers.js");
    const patterns = ["email", { name: "order", regex: "ORD-\\d{7}" }];
    const cfg = configWith([{ id: "p", rules: [{ type: "pii_detection", action: "redact", patterns }] }]);
    let turns = 0;
    await preparePiiScanners(cfg, async () => {
      turns++;
    });
    // Recognisers, analysis, boundary test, warm-up scan, tail warm-up: a turn between each two.
    expect(turns).toBeGreaterThanOrEqual(4);
    const prepared = compilePiiScanner({ patterns, regions: undefined, obfuscated: undefined });
    expect(prepared.scan("ship ORD-1234567 to a@b.io").map((f) => f.type).sort()).toEqual(["email", "order"]);
    // Already there: a second prepare does nothing.
    turns = 0;
    await preparePiiScanners(cfg, async () => {
      turns++;
    });
    expect(turns).toBe(0);
  });

  it("refuses an unknown pattern with the message compiling gives", async () => {
    const { preparePiiScanners } = await import("../../src/policy/index.js");
    const cfg = { policies: [{ id: "p", rules: [{ type: "pii_detection", patterns: ["emial"] }] }] } as never;
    await expect(preparePiiScanners(cfg, async () => {})).rejects.toThrow("policy 'p' rule 'pii_detection#0': unknown PII pattern 'emial'");
  });
});

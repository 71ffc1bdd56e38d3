import { writeFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { RE2JS } from "re2js";
import { ConfigError, parseConfig } from "../../src/config/index.js";
import { threadsAtOneCharacter } from "../../src/config/regex-cost.js";
import { compilePiiScanner } from "../../src/policy/compiled-rule.js";
import { compilePolicyEngine } from "../../src/policy/index.js";
import { runKt } from "../helpers/child-gateway.js";
import { warmScanPool } from "../helpers/scan-pool.js";
import { configWith } from "../policy/helpers.js";

const yaml = (regex: string) => `providers:
  targets:
    - id: t
      provider: openllm:chat:m
      base_url: http://127.0.0.1:9/v1
policies:
  - id: p
    rules:
      - type: pii_detection
        patterns: [{ name: custom, regex: '${regex}' }]
`;

describe("custom regexes run in linear time", () => {
  // Long texts go to the scan pool: booted first, so the tests' limits cover the matching only.
  beforeAll(warmScanPool, 120_000);

  it("(a+)+$ over a long run of a's ends (V8's backtracking would take 2^n steps) and finds what it should", async () => {
    const engine = compilePolicyEngine(configWith([{ id: "p", rules: [{ type: "pii_detection", action: "redact", patterns: [{ name: "boom", regex: "(a+)+$" }] }] }]));
    const hostile = "a".repeat(5000) + "!";
    const r = await engine.evaluateText(hostile, "request");
    expect(r.decision).toBe("allow");
    const ok = await engine.evaluateText("x " + "a".repeat(40), "request");
    expect(ok.redactedText).toBe("x [REDACTED:BOOM]");
    expect(ok.findings).toEqual([{ policy: "p", rule: "pii_detection#0", type: "boom", start: 2, end: 42 }]);
  });

  it("matches as the JavaScript engine would for ordinary patterns, at every position the scanner asks", () => {
    const scanner = compilePiiScanner({ patterns: [{ name: "ticket", regex: "\\bTCK-\\d{6}\\b" }, "email"], regions: undefined, obfuscated: undefined });
    const text = "see TCK-123456 and xTCK-654321, TCK-1234567, mail a@b.example then TCK-000001";
    const js = [...text.matchAll(/\bTCK-\d{6}\b/g)].map((m) => [m.index, m.index! + m[0].length]);
    const found = scanner.scan(text).filter((f) => f.type === "ticket").map((f) => [f.start, f.end]);
    expect(found).toEqual(js);
    expect(scanner.scan(text).some((f) => f.type === "email")).toBe(true);
  });

  it("a pattern RE2 cannot run is refused at validation, naming the field and the reason", () => {
    for (const [regex, why] of [
      ["(?=a)a", /unsupported Perl syntax/],
      ["(a)\\1", /invalid escape sequence/],
      ["(?<=x)a", /invalid named capture/],
    ] as const) {
      const err = (() => {
        try {
          parseConfig(yaml(regex), "policy-config.yaml");
        } catch (e) {
          return e;
        }
      })();
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).message).toMatch(/policies\[0\]\.rules\[0\]\.patterns\[0\]\.regex: is not a regular expression the linear-time engine \(RE2 syntax\) can run/);
      expect((err as ConfigError).message).toMatch(why);
    }
  });

  it("a counted repetition over 100 is refused at validation, naming the bound (it sets the engine's cost per character)", () => {
    for (const [regex, bound] of [
      ["[a-z]{1000}", 1000],
      ["[\\s\\S]{101}", 101],
      ["x{2,500}", 500],
      ["(?:ab){200,}", 200],
    ] as const) {
      const err = (() => {
        try {
          parseConfig(yaml(regex), "policy-config.yaml");
        } catch (e) {
          return e;
        }
      })();
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).message).toMatch(new RegExp(`patterns\\[0\\]\\.regex: has a counted repetition of ${bound}, over the 100`));
    }
    // At the bound, in a class or escaped: accepted.
    for (const regex of ["[a-z]{100}", "EMP-[0-9]{6}", "[{]{2}[0-9]{1,100}", "\\{1000\\}", "a{1,3}[}{1000]"]) expect(() => parseConfig(yaml(regex), "policy-config.yaml")).not.toThrow();
  });

  it("nested, chained and \\Q-hidden repetitions are refused by the threads they keep alive; word lists are not", () => {
    const refused = (regex: string) => {
      try {
        parseConfig(yaml(regex), "policy-config.yaml");
      } catch (e) {
        return (e as ConfigError).message;
      }
      return undefined;
    };
    // Each passed the per-repetition bound before and cost 20-110 us a character (round-15 review).
    for (const [regex, threads] of [
      ["(?:[a-z]{10}){100}", 1000],
      ["(?:(?:[a-z]{10}){10}){10}", 1000],
      ["[a-z]{100}".repeat(10), 1000],
      ["[a-z]{100}".repeat(40), 4000],
      ["\\w{60}-\\w{60}-\\w{60}", 180],
    ] as const)
      expect(refused(regex)).toMatch(new RegExp(`patterns\\[0\\]\\.regex: can keep ${threads} matches in progress at one character .*over the 128`));
    // A repetition hidden behind \Q[\E is read as one (the bracket is literal text, not a class).
    expect(refused("\\Q[\\E|\\w{1000}")).toMatch(/has a counted repetition of 1000, over the 100/);
    // Word lists keep only as many as share a letter; a {100} may be followed by more.
    const nato = "(?i)\\b(?:alpha|bravo|charlie|delta|echo|foxtrot|golf|hotel|india|juliet|kilo|lima|mike|november|oscar|papa|quebec|romeo|sierra|tango|uniform|victor|whiskey|xray|yankee|zulu)\\b";
    for (const regex of [nato, "[a-z]{100}x", "\\b\\d{3}-\\d{2}-\\d{4}\\b", "\\p{L}{50}", "(?i)k{100}", "\\Q{1000}\\E"]) expect(refused(regex)).toBeUndefined();
  });

  it("the thread count read from re2js's program is what the patterns make (pins the program's shape)", () => {
    const count = (p: string) => threadsAtOneCharacter(RE2JS.compile(p));
    expect(count("[a-z]{100}")).toBe(100);
    expect(count("[a-z]{100}x")).toBe(101);
    expect(count("(?:[a-z]{10}){100}")).toBe(1000);
    expect(count("(?i)k{100}")).toBe(100);
    expect(count(".{10}\\n")).toBe(10);
    expect(count("[\\s\\S]{10}\\n")).toBe(11);
    expect(count("(?i)(?:alpha|bravo|charlie|delta|echo)")).toBeLessThan(12);
    expect(count("\\b\\d{3}-\\d{2}-\\d{4}\\b")).toBe(9);
  });

  it("kt config validate refuses a lookaround pattern and accepts (a+)+$", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kt-re2-"));
    writeFileSync(join(dir, "bad.yaml"), yaml("(?=a)a"));
    writeFileSync(join(dir, "ok.yaml"), yaml("(a+)+$"));
    const bad = await runKt(["config", "validate", join(dir, "bad.yaml")]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr + bad.stdout).toMatch(/RE2 syntax/);
    const ok = await runKt(["config", "validate", join(dir, "ok.yaml")]);
    expect(ok.code).toBe(0);
  });
});

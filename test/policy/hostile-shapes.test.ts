import { describe, expect, it } from "vitest";
import { compilePiiScanner } from "../../src/policy/compiled-rule.js";

// The shapes an attack battery used to hold the event loop; per-byte costs are in bench/hostile.
describe("worst-case shapes keep their meaning after the speed fixes", () => {
  const secret = compilePiiScanner({ patterns: ["secret"], regions: undefined, obfuscated: undefined });
  const card = compilePiiScanner({ patterns: ["credit_card"], regions: undefined, obfuscated: undefined });

  it("a PEM block is one finding, even after a run of BEGIN lines with no END", () => {
    const block = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nBKcwggSjAgEAAoIBAQC7\n-----END PRIVATE KEY-----";
    const text = "-----BEGIN PRIVATE KEY-----\n".repeat(50) + block + " tail";
    const found = secret.scan(text);
    const last = found[found.length - 1]!;
    expect(text.slice(last.start, last.end)).toBe(block);
    // Each dangling BEGIN line is still taken for the start of a key and redacted.
    expect(found.length).toBe(51);
  });

  it("a BEGIN inside a block no longer stretches the first match over it; both keys are still covered", () => {
    const text = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----BEGIN RSA PRIVATE KEY-----\nBBBB\n-----END RSA PRIVATE KEY-----";
    const found = secret.scan(text);
    expect(found.map((f) => text.slice(f.start, f.end))).toEqual([
      "-----BEGIN PRIVATE KEY-----\nAAAA",
      "-----BEGIN RSA PRIVATE KEY-----\nBBBB\n-----END RSA PRIVATE KEY-----",
    ]);
  });

  it("grouped digits that fail Luhn are passed over; a valid card inside the run is found", () => {
    const run = "4111 1111 ".repeat(100);
    expect(card.scan(run)).toEqual([]);
    const text = run + "then 4111 1111 1111 1111 end";
    const found = card.scan(text);
    expect(found.map((f) => text.slice(f.start, f.end))).toContain("4111 1111 1111 1111");
  });
});

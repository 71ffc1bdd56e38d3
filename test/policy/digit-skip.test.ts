import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compileScanner, requiresDigit, type Finding } from "../../src/policy/scan/index.js";
import { builtinPiiTypes, recognisersFor } from "../../src/policy/pii/index.js";

// The scanner passes over, in a text without an ASCII digit, the sources whose every pattern
// needs one (ScannerOptions.digitSkip). That must never change a finding: the built-in set with
// the skip finds exactly what it finds without it, on texts with and without digits.

describe("requiresDigit", () => {
  it("holds for patterns every match of which has a digit, and errs towards false", () => {
    for (const p of ["\\d", "[0-9]{3}", "a(?:b|c)?[2-9]", "(?:x\\d|y[0-5])z", "(?:ab)?\\d+", "[\\d]"]) expect(requiresDigit(p), p).toBe(true);
    for (const p of ["\\d|abc", "\\d?", "\\d*x", "(?=\\d)", "(?<=\\d)x", "[0-9A-Z]", "[^a]", "\\x30", ".", "\\w", "[0-]", "[-9]", "(a)\\1\\d|q"])
      expect(requiresDigit(p), p).toBe(false);
  });

  it("finds digit-less matches of a pattern it says needs no digit, with the skip on", () => {
    const scanner = compileScanner([{ type: "t", pattern: "\\d{2}|abc", maxLength: 3, seek: (t, f) => t.indexOf("a", f) }]);
    expect(scanner.scan("xx abc yy").map((f) => [f.start, f.end])).toEqual([[3, 6]]);
  });

  it("is true for the built-in digit shapes and false for the ones that can match without a digit", () => {
    const all = recognisersFor([...builtinPiiTypes]);
    const needs = (type: string) => all.filter((r) => r.type === type).map((r) => requiresDigit(r.pattern));
    for (const t of ["credit_card", "iban", "ssn", "uk_nhs", "us_passport", "phone", "date_of_birth", "crypto_wallet"]) expect(needs(t), t).not.toContain(false);
    // A ship's name is a PO box's address (`USS Enterprise`); names, places, emails, secrets have no digit.
    expect(needs("street_address")).toEqual([true, true, false]);
    for (const t of ["person", "location", "email", "secret"]) expect(needs(t), t).not.toContain(true);
  });
});

const plain = (f: Finding[]) => f.map((x) => [x.start, x.end, x.type]);

/** Pieces of text: PII values with and without digits, near misses, the gateway's placeholders, prose. */
const pieces = [
  "Jane Smith",
  "Dr. Watson",
  "Paris, France",
  "London",
  "Musterstraße",
  "Berliner Allee",
  "Calle Mayor",
  "USS Enterprise",
  "P.O. Box",
  "PO Box 42",
  "born",
  "date of birth",
  "jane.doe@example.com",
  "jane [at] example [dot] com",
  "[REDACTED:EMAIL]",
  "[REDACTED:CREDIT_CARD]",
  "<EMAIL_ADDRESS>",
  "fe80::abcd",
  "abcd::ef",
  "::",
  "AKIAIOSFODNN7EXAMPLE",
  "AKIAIOSFODNNXEXAMPLE",
  "sk-proj-abcdefghijklmnopqrstuvwxyzabcdefgh",
  "Bearer abcdefghijklmnopqrstuvwx",
  "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.abcdefghijklmnop",
  "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----",
  "4111 1111 1111 1111",
  "078-05-1120",
  "GB82 WEST 1234 5698 7654 32",
  "+44 20 7946 0958",
  "(212) 555-0143",
  "192.0.2.10",
  "3 May 1990",
  "10 Downing Street",
  "SW1A 2AA",
  "90210",
  "Flat 3",
  "Suite",
  "Please update the billing contact",
  "You said:",
  "my name is jane doe",
  "call me Rose",
  " ",
  ", ",
  ". ",
  "\n",
  "-",
  "_",
  "é",
  "\u2019",
];

describe("the digit skip changes no finding", () => {
  const all = recognisersFor([...builtinPiiTypes]);
  const skipping = compileScanner(all);
  const seeking = compileScanner(all, { digitSkip: false });
  const texts = fc
    .tuple(fc.array(fc.oneof(fc.constantFrom(...pieces), fc.string({ maxLength: 6 })), { maxLength: 24 }), fc.constantFrom(" ", ""))
    .map(([xs, sep]) => xs.join(sep));

  it("on random texts of PII values, near misses and prose (property, 2,000 texts, most without a digit)", () => {
    let withoutDigit = 0;
    let found = 0;
    fc.assert(
      fc.property(fc.boolean(), texts, (dropDigits, t) => {
        const text = dropDigits ? t.replace(/[0-9]/g, "") : t;
        if (!/[0-9]/.test(text)) withoutDigit++;
        const a = skipping.scan(text);
        expect(plain(a), text).toEqual(plain(seeking.scan(text)));
        const out: Finding[] = [];
        skipping.scanUntil(text, 0, text.length, out);
        expect(plain(out), text).toEqual(plain(a));
        found += a.length;
      }),
      { numRuns: 2000, seed: 20 },
    );
    expect(withoutDigit).toBeGreaterThan(1000);
    expect(found).toBeGreaterThan(500);
  });

  it("on the bench's answer and prompt", () => {
    for (const text of [
      "You said: Please update the billing contact to [REDACTED:EMAIL] and charge card [REDACTED:CREDIT_CARD] for the renewal.",
      "Please update the billing contact to jane.doe@example.com and charge card 4111 1111 1111 1111 for the renewal.",
      "Write to Jane Smith at Musterstraße, or USS Enterprise, or fe80::abcd.",
    ])
      expect(plain(skipping.scan(text)), text).toEqual(plain(seeking.scan(text)));
  });
});

import fc from "fast-check";
import { parsePhoneNumberFromString } from "libphonenumber-js/min";
import { describe, expect, it } from "vitest";
import { seekDigitLed } from "../../src/policy/pii/candidates.js";
import { seekSecret } from "../../src/policy/pii/secret-seek.js";
import { builtinPiiTypes, recognisersFor } from "../../src/policy/pii/index.js";
import { compileScanner, type Recogniser } from "../../src/policy/scan/index.js";

/**
 * The shared candidate finders (pii/candidates.ts) replace running every shape's regex at every
 * position. They may report too much, never too little: the scanner with them must find exactly
 * what it finds when each of those recognisers is an alternative of the combined regex, which is
 * tried everywhere.
 */
const withSeeks = recognisersFor(builtinPiiTypes, { regions: ["US", "GB", "DE", "FR", "IN"] });
const shared = new Set([seekDigitLed, seekSecret]);
const withoutSeeks: Recogniser[] = withSeeks.map((r) => {
  if (!r.seek || !shared.has(r.seek)) return r;
  const { seek: _seek, ...rest } = r;
  return rest;
});
const fast = compileScanner(withSeeks);
const everywhere = compileScanner(withoutSeeks);

const pieces = [
  "4111 1111 1111 1111", "4111-1111-1111-1111", "4111111111111111", "5500 0000 0000 0004", "123-45-6789", "123 45 6789", "SSN 123456789",
  "943 476 5919", "NHS 9434765919", "passport 340020013", "passport A12345678", "192.168.10.24", "10.0.0.1.5", "v1.2.3.4",
  "(415) 555-2671", "+1 415 555 2671", "+44 20 7946 0018", "( 415 ) 555-2671", "+(44) 20", "call 020 7946 0018", "phone 4155552671 x12",
  "GB82 WEST 1234 5698 7654 32", "gb82west12345698765432", "DE89-3704-0044-0532-0130-00", "NW1 6XE", "SW1A 1AA", "ZIP 62704", "10115 Berlin",
  "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy", "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
  "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx", "0x52908400098527886E0F7030069857D2E4169EE7",
  "sk-proj-abcdefghijklmnopqrstuvwx", "sk_live_abcdefghijklmnop1234", "rk_test_abcdefghijklmnop1234", "AKIAIOSFODNN7EXAMPLE",
  "ghp_abcdefghijklmnopqrstuvwxyz0123456789", "github_pat_abcdefghijklmnopqrstuv12", "xoxb-1234567890-abcdefghij",
  "AIzaSyA-abcdefghijklmnopqrstuvwxyz12345", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",
  "-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf\n-----END RSA PRIVATE KEY-----",
  "-----BEGIN PRIVATE KEY-----\n", "Bearer abcdefghijklmnop0123", "bearer abcdefghijklmnop0123",
  "sk-", "k_", "gh", "_", "github", "xox", "eyJ", "J", "A", "B", "b", "e", "s", "x", "+", "(", ")", "-", ".", "/", "_", ":", "@",
  "GB00 ", "GB00", "AKIA12 ", "0x", "bc1qqqq ", "123 Main Street ",
  "0", "1", "3", "4", "9", "12", "2024-01-15", "15.01.2024", " ", "\n", ", ", "the order ", "Release 4.2 ", "jane@example.com",
];

describe("shared candidate finders", () => {
  it("find every match the combined regex finds (property)", () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...pieces), { minLength: 1, maxLength: 30 }), (parts) => {
        const text = parts.join("");
        expect(fast.scan(text)).toEqual(everywhere.scan(text));
      }),
      { numRuns: 3000 },
    );
  });

  it("report where the literal starts, not where it was found", () => {
    // `github_pat_` is found at its first underscore, `eyJ` at its J, `sk-` at its dash.
    expect(seekSecret("ab github_pat_abcdefghijklmnopqrstuv12", 0)).toBe(3);
    expect(seekSecret("token: eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl", 0)).toBe(7);
    expect(seekSecret("github_ sk-abcdefghijklmnopqrstuvwxyz", 0)).toBe(8);
    expect(seekSecret("sk-abcdefghijklmnopqrstuvwxyz", 1)).toBe(-1);
    // The literal alone, without the body its pattern needs, is no candidate.
    expect(seekSecret("eyJa.".repeat(100), 0)).toBe(-1);
    // The secrets' seek decides every pattern: a literal whose match fails further on is no candidate either.
    expect(seekSecret("token: eyJhbGciOiJIUzI1NiJ9", 0)).toBe(-1);
    expect(seekSecret("-----BEGIN ".repeat(100), 0)).toBe(-1);
    expect(seekSecret("-----BEGIN PUBLIC KEY-----\n".repeat(20), 0)).toBe(-1);
    expect(seekSecret("AKIA12 ".repeat(100), 0)).toBe(-1);
    expect(seekSecret("x -----BEGIN PRIVATE KEY-----\n", 0)).toBe(2);
    expect(seekDigitLed("call +44 (0) 20", 0)).toBe(5);
    expect(seekDigitLed("IBAN GB82", 0)).toBe(5);
    expect(seekDigitLed("no digits here", 0)).toBe(-1);
  });

  it("the digit-led seek finds a lone digit wherever it stands, by hand, by regex or by indexOf (each distance from `from`)", () => {
    for (const len of [20, 100, 140, 300])
      for (let k = 0; k < len; k++)
        for (const from of [0, 3, 17]) {
          const text = ",".repeat(k) + "7" + ",".repeat(len - k - 1);
          expect(seekDigitLed(text, from), `${len} ${k} ${from}`).toBe(k >= from ? k : -1);
        }
  });
});

describe("phone: the NANP short cut", () => {
  it("libphonenumber takes every ten digits with area code and exchange 2-9 as a possible +1 number written (AAA) EEE-NNNN", () => {
    // phone.ts answers these without asking the library; this is what it would have said.
    let checked = 0;
    for (const region of ["US", "CA"] as const)
      for (let area = 200; area <= 999; area++)
        for (const exchange of ["200", "555", "911", String(200 + ((area * 7) % 800))]) {
          const d = `${area}${exchange}${String((area * 13) % 10000).padStart(4, "0")}`;
          const n = parsePhoneNumberFromString(d, region);
          expect(n?.isPossible(), d).toBe(true);
          expect(n?.countryCallingCode, d).toBe("1");
          expect(n?.formatNational(), d).toBe(`(${d.slice(0, 3)}) ${d.slice(3, 6)}-${d.slice(6)}`);
          checked++;
        }
    expect(checked).toBe(2 * 800 * 4);
  });
});

describe("a shared seek's joined patterns", () => {
  // The scanner finds the members matching at a candidate one after another with the joined
  // patterns of the members after the last one found; each recogniser as a source of its own (its
  // seek wrapped, so nothing is joined) is tried alone at the same candidates. Same findings.
  const alone = compileScanner(
    withSeeks.map((r) => (r.seek ? { ...r, seek: (t: string, f: number, s?: object) => r.seek!(t, f, s) } : r)),
  );
  const digitsAndSeps = fc
    .array(fc.constantFrom("0", "1", "2", "4", "5", "7", "9", "9", "4", " ", "-", ".", "(", ")", "+", "/", "A", "B", "G", "x", "\n"), { minLength: 5, maxLength: 60 })
    .map((a) => a.join(""));
  it("find what each member tried alone finds (property)", () => {
    fc.assert(
      fc.property(fc.oneof(digitsAndSeps, fc.array(fc.constantFrom(...pieces), { minLength: 1, maxLength: 20 }).map((p) => p.join(""))), (text) => {
        expect(fast.scan(text)).toEqual(alone.scan(text));
      }),
      { numRuns: 1000 },
    );
  });
});

describe("members of one seek that overlap", () => {
  // Recognisers sharing a seek whose matches at one position overlap, some validated: the longest
  // valid one must win (ties to the first listed), exactly as when each is tried alone.
  const seekA = (t: string, f: number) => t.indexOf("a", f);
  const patterns = ["a1", "a1{2}", "a1+", "a(?:1|b)*", "ab?1{0,3}b", "a(?=1)", "a1(?!1)", "ab"];
  const validators: (((t: string, s: number, e: number) => number) | undefined)[] = [
    undefined,
    (_t, s, e) => ((e - s) % 2 === 0 ? e : -1),
    (_t, s, e) => (e - s > 3 ? e - 1 : e),
    (_t, s, e) => (e - s > 2 ? -1 : e),
  ];
  it("find the same as each member alone (property)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom(...patterns), fc.nat(validators.length - 1)), { minLength: 2, maxLength: 6 }),
        fc.array(fc.constantFrom("a", "1", "b", "1", " "), { maxLength: 40 }).map((a) => a.join("")),
        (members, text) => {
          const recs: Recogniser[] = members.map(([pattern, v], i) => ({ type: `t${i}`, pattern, maxLength: 50, seek: seekA, ...(validators[v] ? { validate: validators[v] } : {}) }));
          const joined = compileScanner(recs);
          const single = compileScanner(recs.map((r) => ({ ...r, seek: (t: string, f: number) => seekA(t, f) })));
          expect(joined.scan(text)).toEqual(single.scan(text));
        },
      ),
      { numRuns: 600 },
    );
  });
});

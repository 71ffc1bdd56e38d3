import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { lexicon } from "../fixtures/lexicon/index.js";
import { builtinPiiTypes, customRecogniser, recognisersFor } from "../../src/policy/pii/index.js";
import { compileScanner, RIGHT_CONTEXT, type Finding, type Scanner } from "../../src/policy/scan/index.js";
import { tailSource } from "../../src/policy/scan/prefix.js";
import { secrets } from "../../src/policy/pii/secret.js";

const followed = [...recognisersFor(builtinPiiTypes), customRecogniser("ticket", "TCK-[0-9]{4,8}")];
const pii = compileScanner(followed);
/** Names alone: other recognisers' hold-back cannot cover for a wrong one of person's. */
const names = compileScanner(recognisersFor(["person"]));
/** With a custom pattern the tail construction cannot follow (a backreference): that one holds its maxLength. */
// A recogniser with a backreference (the tail construction cannot follow it; it holds its maxLength).
// Custom config patterns no longer take this path (they run on RE2, which refuses backreferences),
// so it is built directly.
const twin = { type: "twin", pattern: "(Q[A-Z])\\1-[0-9]{3}", standalone: true, flags: "u", maxLength: 1024, lookbehind: 64 };
const piiFallback = compileScanner([...followed, twin]);
const { harmful, benign } = lexicon();

const pieces = [
  "alice@example.com", "123-45-6789", "4111 1111 1111 1111", "(415) 555-2671", "+44 20 7946 0958", "GB82 WEST 1234 5698 7654 32",
  "192.168.0.1", "2001:db8::1", "sk-proj-abcdefghijklmnopqrstuvwx", "AKIAIOSFODNN7EXAMPLE", "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa",
  "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", "0x52908400098527886E0F7030069857D2E4169EE7", "943 476 5919", "passport 340020013",
  "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl", "-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf\n-----END RSA PRIVATE KEY-----",
  "Bearer abcdefghijklmnop0123", "xoxb-1234567890-abcdefghij", "TCK-123456", "QZQZ-123",
  "how to ", "I want to kill my neighbor", "kill the process", "shoot a photo", "suicide hotline", "heil hitler", "kys",
  " ", "\n", ". ", ", ", "the quick brown fox", "a", "@", "1", "-", "+", ":", "-----", "eyJ", "Q", "é",
  // Names and the capitalised words around them (person holds back from a capital unless the word can never begin a name).
  "Jane Doe", "Send ", "You said: ", "Will ", "Dr. ", "my name is ", "jane", "Paris ", "J. ", "O'Brien", "Rose said", "The ", "Mc", "Smith", "Jun",
  "Hung", "Nguyen", "Young ",
];

/** Findings of `scanner` over a prefix of `text`, decided up to the prefix's frontier. */
function decided(scanner: Scanner, prefix: string): { f: number; found: Finding[] } {
  const f = scanner.frontier(prefix);
  const found: Finding[] = [];
  scanner.scanUntil(prefix, 0, f, found);
  return { f, found };
}

describe("scanner frontier", () => {
  it("positions before the frontier of any prefix are decided as in the whole text", () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...pieces), { minLength: 1, maxLength: 25 }), fc.nat(), (parts, at) => {
        const text = parts.join("");
        const k = at % (text.length + 1);
        for (const scanner of [pii, piiFallback, names, harmful, benign]) {
          const whole = scanner.scan(text);
          const { f, found } = decided(scanner, text.slice(0, k));
          expect(f).toBeLessThanOrEqual(k);
          expect(found).toEqual(whole.filter((x) => x.start < f));
        }
      }),
      { numRuns: 500 },
    );
  });

  it("holds back only what a match could still reach into", () => {
    const prose = "Sure, first clone the repository and install the dependencies. Then start the development server.";
    for (let k = 0; k <= prose.length; k++) {
      const t = prose.slice(0, k);
      for (const scanner of [pii, harmful, benign]) expect(k - scanner.frontier(t), JSON.stringify(t)).toBeLessThanOrEqual(24);
    }
    // A match in progress is held from where it starts.
    expect(pii.frontier("key: -----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf")).toBe(5);
    expect(pii.frontier("mail bob@exa")).toBe(5);
    expect(pii.frontier("token eyJhbGciOi")).toBe(6);
    expect(pii.frontier("done. -----BEG")).toBe(6);
    expect(harmful.frontier("Here is how to")).toBe(8);
    // A word that cannot begin any phrase is released as soon as it is complete.
    expect(harmful.frontier("Here is the list ")).toBe(17);
    // "plan a …" opens a phrase ("plan a bombing"): held until the next word rules it out.
    expect(harmful.frontier("Here is the plan ")).toBe(12);
    expect(harmful.frontier("Here is the plan for ")).toBe(21);
    expect(piiFallback.frontier("x".repeat(2000))).toBe(2000 - 1028);
    // A capitalised word that can never begin a name is released once the two characters after it
    // are in; one that may (a given name, a surname) waits for the words that decide it.
    expect(pii.frontier("You said: Send the")).toBe(15);
    expect(pii.frontier("You")).toBe(0);
    expect(pii.frontier("Please ask Jane")).toBe(11);
    expect(pii.frontier("Please ask Jane about")).toBe(11);
  });

  it("a long value's opening is held however far back it is (PEM, bearer token, JWT)", () => {
    // The recognisers that may hold kilobytes have a tail regex of their own (scanner.ts,
    // SHORT_TAIL_HOLD): an opening further back than the short ones' hold must still be found.
    const pemLine = "MIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf\n";
    const b64 = "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789";
    const openings: [string, (n: number) => string][] = [
      ["-----BEGIN RSA PRIVATE KEY-----\n", (n) => pemLine.repeat(Math.ceil(n / pemLine.length)).slice(0, n)],
      ["Bearer ", (n) => b64.repeat(Math.ceil(n / b64.length)).slice(0, n)],
      ["eyJhbGciOiJIUzI1NiJ9.", (n) => b64.repeat(Math.ceil(n / b64.length)).slice(0, n)],
    ];
    const lead = "Here it is, as you asked: ";
    for (const [open, body] of openings) {
      for (const n of [10, 900, 1020, 1100, 2500, 4000]) {
        const text = lead + open + body(n);
        expect(pii.frontier(text), `${open.trim()} + ${n}`).toBe(lead.length);
        // Only what is new since the last frontier is looked at again, as the stream guard does.
        expect(pii.frontier(text, lead.length - 3)).toBe(lead.length);
      }
    }
  });

  it("a long-holding tail started at its openings' first place (indexOf) finds what the regex alone finds", () => {
    // Round 14: over a stretch of LEADS_FROM characters or more, the tail regex of the recognisers
    // that may hold kilobytes (PEM, bearer, JWT) is started where `-----BEGIN `, `[Bb]earer ` or
    // `eyJ` first stands, or where the text's end cuts one off; `eyJ` is searched as `yJ`.
    const plainTails = compileScanner(followed, { tailLeads: false });
    // The secrets alone too: there no other recogniser's hold-back covers for a wrong start.
    const longOnes = compileScanner(secrets);
    const longPlain = compileScanner(secrets, { tailLeads: false });
    const b64 = "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789";
    const bits = [
      "The quarterly report shows steady growth in the northern region. ", "eye ", "yJ", "eyJ", "eeyJ", "xeyJ", "-eyJ", "eyJhbGciOiJIUzI1NiJ9.", "ey", "e",
      "Bearer ", "bearer ", "Bearer", "bearer", "Bear", "-----BEGIN ", "-----BEGIN RSA PRIVATE KEY-----\n", "----BEGIN ", "-----", "--", "-", "BEGIN ",
      "-----END RSA PRIVATE KEY-----\n", "\n", " ", b64, b64.slice(0, 7), "Jane Doe ", "alice@example.com ",
    ];
    const cut = (l: string) => Array.from({ length: l.length }, (_, k) => l.slice(0, k + 1));
    const ends = ["", ...cut("-----BEGIN "), ...cut("Bearer "), ...cut("bearer "), ...cut("eyJ"), "xe", "ey "];
    let held = 0;
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...bits), { minLength: 8, maxLength: 60 }), fc.constantFrom(...ends), fc.nat(), fc.nat(), (parts, end, a, b) => {
        // Long enough for the shortcut: a filler of prose first.
        const text = "Sure, here it is. ".repeat(40) + parts.join("") + end;
        const k = text.length - (a % 200);
        const t = text.slice(0, k);
        const from = b % (t.length + 1);
        const want = plainTails.frontier(t, from);
        expect(pii.frontier(t, from), `${JSON.stringify(t.slice(-80))} from ${from}`).toBe(want);
        const wantLong = longPlain.frontier(t, from);
        expect(longOnes.frontier(t, from), `secrets: ${JSON.stringify(t.slice(-80))} from ${from}`).toBe(wantLong);
        if (wantLong < t.length) held++;
      }),
      { numRuns: 3000, seed: 1401 },
    );
    expect(held).toBeGreaterThan(1000);
    // Each opening, whole or cut off by the end, far behind a long stretch of prose.
    const filler = "The quarterly report shows steady growth in the northern region. ".repeat(40);
    // An opening that stays open to the end of a long stretch (the shortcut needs LEADS_FROM
    // characters after where the search starts), searched from just before, at and after it.
    const opens = [...ends, "-----BEGIN RSA PRIVATE KEY-----\n", "-----BEGIN RSA ", "eyJhbGciOiJIUzI1NiJ9.", "xeyJ", "-----END RSA PRIVATE KEY-----\n"];
    const lines = `${b64}\n`.repeat(20);
    let open = 0;
    for (const e of opens)
      for (const tail of ["", b64, `${b64}\n${b64}`, "PRIVATE KEY-----", lines, `PRIVATE KEY-----\n${lines}`, b64.repeat(20)]) {
        const t = filler + e + (e === "" ? "" : tail);
        for (const from of [0, 100, filler.length - 2, filler.length - 1, filler.length, filler.length + 1, filler.length + 2]) {
          expect(pii.frontier(t, from), `${e}+${tail.length} from ${from}`).toBe(plainTails.frontier(t, from));
          const want = longPlain.frontier(t, from);
          expect(longOnes.frontier(t, from), `secrets: ${e}+${tail.length} from ${from}`).toBe(want);
          if (want >= from && want < t.length) open++;
        }
      }
    expect(open).toBeGreaterThan(100);
  });

  it("a validator that reads past the match is decided only once the characters it reads are in", () => {
    // Two validators that read the character after the match, each way round: "refuses at the end of
    // a text, accepts with more" (K123 is a code only when "!" follows) and "accepts at the end,
    // refuses with more" (Z123 is one unless a digit follows). The tail regexes cannot see this; the
    // scan's horizon holds both. Built directly: config patterns have no validators.
    const after = (text: string, end: number) => (end < text.length ? text[end] : undefined);
    const own = [
      { type: "bang", pattern: "K[0-9]{3}", maxLength: 4, validate: (t: string, _s: number, e: number) => (after(t, e) === "!" ? e : -1) },
      { type: "zed", pattern: "Z[0-9]{3}", maxLength: 4, validate: (t: string, _s: number, e: number) => (/[0-9]/.test(after(t, e) ?? "") ? -1 : e) },
    ];
    // Alone (the built-ins' own hold-back would cover "K123" here: a capital may begin a name) and
    // with every built-in.
    const readers = compileScanner(own);
    const withBuiltins = compileScanner([...recognisersFor(builtinPiiTypes), ...own]);
    const parts = ["K123", "!", "Z123", "4", " ", "x", "alice@example.com", "943 476 5919", "1"];
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...parts), { minLength: 1, maxLength: 12 }), fc.nat(), (ps, at) => {
        const text = ps.join("");
        const k = at % (text.length + 1);
        const prefix = text.slice(0, k);
        for (const scanner of [readers, withBuiltins]) {
          const whole = scanner.scan(text);
          const found: Finding[] = [];
          const cursor = scanner.scanUntil(prefix, 0, scanner.frontier(prefix), found, prefix.length - RIGHT_CONTEXT);
          expect(cursor).toBeLessThanOrEqual(k);
          expect(found).toEqual(whole.filter((x) => x.start < cursor));
        }
      }),
      { numRuns: 1000 },
    );
    // Without the horizon, "K123" at the end of a text is refused and released: the hole it closes.
    const refused: Finding[] = [];
    expect(readers.scanUntil("see K123", 0, 8, refused)).toBe(8);
    expect(refused).toEqual([]);
    expect(readers.scan("see K123!").map((f) => f.type)).toEqual(["bang"]);
    const held: Finding[] = [];
    expect(readers.scanUntil("see K123", 0, 8, held, 8 - RIGHT_CONTEXT)).toBe(4);
  });

  it("tail regexes: unsupported constructs are reported, not guessed", () => {
    expect(tailSource("(a)\\1")).toBeUndefined();
    expect(tailSource("(?i:a)")).toBeUndefined();
    const t = new RegExp(`^(?:${tailSource("ab{2,3}c(?!d)")!})`);
    for (const s of ["a", "ab", "abb", "abbb", "abbc"]) expect(t.test(s), s).toBe(true);
    for (const s of ["abbbb", "ac", "abbcx", "b"]) expect(t.test(s), s).toBe(false);
  });
});

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { prose } from "../../bench/prose.js";
import { builtinPiiTypes, recognisersFor, type BuiltinPiiType } from "../../src/policy/pii/index.js";
import { secrets } from "../../src/policy/pii/secret.js";
import { isJsonText } from "../../src/policy/pii/json-text.js";
import { jwtDecided, jwtHeaderValid } from "../../src/policy/pii/secret-seek.js";
import { compileScanner, RIGHT_CONTEXT, type Finding, type Recogniser, type Scanner } from "../../src/policy/scan/index.js";
import { secrets as refSecrets } from "./pii-reference/secret.js";

// Issue #13: the secrets' seek (src/policy/pii/secret-seek.ts) decides every secret pattern by
// hand, and the scanner takes its decision instead of running the patterns. Every finding (start,
// end, type, recogniser) must be what the patterns give: held here to the patterns tried at every
// position (no seek, no decision), to the frozen recognisers of test/policy/pii-reference/, and,
// through the full built-in set, to that set with the frozen secrets in their place.

const bare = (rs: readonly Recogniser[]): Recogniser[] => rs.map(({ seek: _s, decided: _d, forget: _f, ...r }) => r);
const now = compileScanner(secrets);
const everywhere = compileScanner(bare(secrets), { prefilter: false });
const frozen = compileScanner(refSecrets);
const fullSet = recognisersFor(builtinPiiTypes as readonly BuiltinPiiType[]);
const swap = new Map<Recogniser, Recogniser>(secrets.map((r, i) => [r, refSecrets[i]!]));
const fullNow = compileScanner(fullSet);
const fullFrozen = compileScanner(fullSet.map((r) => swap.get(r) ?? r));

const plain = (f: Finding[]) => f.map((x) => `${x.start}-${x.end}:${x.type}#${x.recogniser}`);

function agree(text: string, full = false): number {
  const found = plain(now.scan(text));
  const what = JSON.stringify(text.length > 300 ? text.slice(0, 300) + "…" : text);
  expect(found, `everywhere: ${what}`).toEqual(plain(everywhere.scan(text)));
  expect(found, `frozen: ${what}`).toEqual(plain(frozen.scan(text)));
  // A text that may still grow: candidates whose match could end past the horizon stay open.
  const a: Finding[] = [];
  const b: Finding[] = [];
  const h = Math.max(0, text.length - RIGHT_CONTEXT);
  expect(now.scanUntil(text, 0, text.length, a, h), `horizon: ${what}`).toBe(frozen.scanUntil(text, 0, text.length, b, h));
  expect(plain(a), `horizon: ${what}`).toEqual(plain(b));
  if (full) expect(plain(fullNow.scan(text)), `full set: ${what}`).toEqual(plain(fullFrozen.scan(text)));
  return found.length;
}

const UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=";
const B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
const TOKEN = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~+/-";
/** Lengths around every bound the patterns have, and small ones. */
const lengths = [0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 19, 20, 21, 22, 23, 34, 35, 36, 37, 98, 99, 100, 101, 199, 200, 201, 243, 244, 245, 249, 250, 251, 252];
const body = fc
  .tuple(fc.constantFrom(UPPER, B64, B64URL, TOKEN, "abc", "A1", "-_", "aZ9", "="), fc.constantFrom(...lengths), fc.integer({ min: 0, max: 2 ** 30 }))
  .map(([cls, n, seed]) => {
    let s = "";
    for (let i = 0; i < n; i++) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      s += cls[seed % cls.length]!;
    }
    return s;
  });
const label = fc
  .array(fc.constantFrom("RSA ", "EC ", "ENCRYPTED ", "A ", "ABCDEFGHIJKLMNOP ", "ABCDEFGHIJKLMNOPQ ", "OPENSSH ", " ", "a ", "PRIVATE ", "KEY "), { maxLength: 4 })
  .chain((words) => fc.constantFrom("PRIVATE KEY", "PUBLIC KEY", "PRIVATE KEY ", "PRIVATE  KEY", "").map((tail) => words.join("") + tail));
const pemLine = fc.tuple(fc.constantFrom("-----BEGIN ", "-----END ", "----BEGIN ", "------BEGIN ", "-----BEGIN", "-----END"), label, fc.constantFrom("-----", "----", "------", "-----\n", "-----\r\n", "")).map((p) => p.join(""));
const pieces = [
  "sk-", "sk-proj-", "sk_live_", "sk_test_", "rk_live_", "pk_test_", "xk_live_", "ghp_", "gho_", "ghx_", "github_pat_", "github_",
  "xoxa-", "xoxb-", "xoxp-", "xoxz-", "AKIA", "ASIA", "AGPA", "AIDA", "AROA", "ANPA", "ANVA", "AIPA", "AXIA", "AIza", "AIz",
  "Bearer ", "bearer ", "Bearer", "eyJ", "eyJhbGciOiJIUzI1NiJ9", "eyJ0eXAiOiJKV1QifQ", "eyJhIjoxfQ", "eyJ!", "-----", "PRIVATE KEY-----",
  "\n", "\r\n", "\r", ".", "..", "=", "==", "====", "_", "-", " ", "e", "s", "x", "g", "A", "B", "b", "k", "J", "é", "\u00e9A",
];
/** A literal with a body right after it: most reach a match or miss it by one bound. */
const keyed = fc.tuple(fc.constantFrom(...pieces.slice(0, 37)), body, fc.constantFrom("", " ", ".", "_", "-", "=", "\n")).map((p) => p.join(""));
const jwt = fc
  .tuple(fc.constantFrom("eyJhbGciOiJIUzI1NiJ9", "eyJ0eXAiOiJKV1QifQ", "eyJhIjoxfQ", "eyJ"), body, fc.constantFrom(".", "", ".."), body, fc.constantFrom(".", ""), body)
  .map((p) => p.join(""));
const pemBlock = fc.tuple(pemLine, fc.array(fc.tuple(fc.constantFrom("\n", "\r\n", "\r", ""), body), { maxLength: 4 }), pemLine).map(([h, lines, f]) => h + lines.map((l) => l.join("")).join("") + f);
const textArb = fc
  .array(fc.oneof(fc.constantFrom(...pieces), body, pemLine, keyed, jwt, pemBlock, fc.string({ maxLength: 4 })), { maxLength: 24 })
  .map((a) => a.join(""));

describe("the secrets' decisions give the patterns' findings", () => {
  it("on random texts of literals, labels, runs at every bound, separators (property)", () => {
    let found = 0;
    fc.assert(
      fc.property(textArb, (t) => {
        found += agree(t);
      }),
      { numRuns: 4000, seed: 1320 },
    );
    // The generator reaches matches, not only near-misses.
    expect(found).toBeGreaterThan(400);
  });

  it("through the full built-in set (property)", () => {
    fc.assert(
      fc.property(textArb, (t) => {
        agree(t, true);
      }),
      { numRuns: 300, seed: 1321 },
    );
  });

  it("on each pattern's edges", () => {
    const b64 = (n: number) => "QUJD".repeat(Math.ceil(n / 4)).slice(0, n);
    const key = (n: number) => "abcdefghij0123456789".repeat(Math.ceil(n / 20)).slice(0, n);
    const header = "-----BEGIN RSA PRIVATE KEY-----";
    const footer = "-----END RSA PRIVATE KEY-----";
    const texts = [
      // PEM: bodies near the block's 16 KiB, a BEGIN inside, dashes of every run length, footers alone.
      `${header}\n${b64(16384 - 1)}${footer}`,
      `${header}${b64(16384)}${footer}`,
      `${header}${b64(16385)}${footer}`,
      `${header}\n${"-".repeat(16390)}END RSA PRIVATE KEY-----`,
      `${header}\n${"-".repeat(16380)}END RSA PRIVATE KEY-----`,
      `${header}\n${"ab-".repeat(6000)}${footer}`,
      `${header}\nAAAA\n------BEGIN PRIVATE KEY-----\nBBBB\n${footer}`,
      `${header}\nAAAA\n-----BEGINX\nBBBB\n${footer}`,
      `${header}\nAAAA\n-----END PUBLIC KEY-----\nBBBB\n-----END PRIVATE KEY-----`,
      `${header}\n${Array.from({ length: 205 }, (_, i) => b64(1 + (i % 101))).join("\n")}\n${footer}`,
      `${header}\r\n${b64(100)}\r\n${b64(101)}\n\r\n${b64(5)}`,
      `${footer}\n`.repeat(30),
      `-----BEGIN A B C PRIVATE KEY-----\n-----BEGIN A B C D PRIVATE KEY-----\n-----BEGIN PRIVATE KEY KEY-----`,
      `-----BEGIN PRIVATE PRIVATE KEY-----x-----BEGIN PRIVATE KEY X PRIVATE KEY-----y`,
      // Keys: runs at and past their bounds, a look-ahead's refused character after them.
      ...[19, 20, 200, 201].map((n) => `x sk-${key(n)} sk-${key(n)}_ sk-${key(n)}-`),
      ...[15, 16, 99, 100].map((n) => `sk_live_${key(n)} rk_test_${key(n)}_ pk_live_${key(n)}-`),
      ...[35, 36, 251, 252].map((n) => `ghp_${key(n)} ghs_${key(n)}_ gho_${key(n)}.`),
      ...[21, 22, 244, 245].map((n) => `github_pat_${key(n)} github_pat_${key(n)}_x`),
      ...[9, 10, 250, 251].map((n) => `xoxb-${key(n)} xoxr-${key(n)}-x`),
      "AKIAIOSFODNN7EXAMPLE AKIAIOSFODNN7EXAMPLEX ASIAIOSFODNN7EXAMPL9 AXIAIOSFODNN7EXAMPLE 1AKIAIOSFODNN7EXAMPLE",
      "AIzaSyA-234567890_bcdefghijklmnopqrstu AIzaSyA-234567890_bcdefghijklmnopqrstu- _AIzaSyA-234567890_bcdefghijklmnopqrst",
      ...[15, 16, 4095, 4096, 4097].map((n) => `Bearer ${key(n)}=== bearer ${key(n)}==== Bearer ${key(n)}`),
      // JWTs: every part at its bounds, headers that are not JSON, or JSON without alg or typ.
      ...[7, 8, 1024, 1025].map((n) => `eyJhbGciOiJIUzI1NiJ9${"a".repeat(Math.max(0, n - 17))}.ab.c eyJhbGciOiJIUzI1NiJ9.${key(n)}.x`),
      ...[1, 2, 4096, 4097].map((n) => `eyJhbGciOiJIUzI1NiJ9.${key(n)}.${key(3)} eyJ0eXAiOiJKV1QifQ.${key(n)}.`),
      ...[0, 1024, 1025].map((n) => `eyJhbGciOiJIUzI1NiJ9.ab.${key(n)} eyJhbGciOiJIUzI1NiJ9.ab.${key(n)}-`),
      "eyJhIjoxfQ.ab.cd eyJhbGciOiJIUzI1NiJ9x.ab.cd -eyJhbGciOiJIUzI1NiJ9.ab.cd eyJhbGciOiJIUzI1NiJ9..cd",
    ];
    let found = 0;
    for (const t of texts) found += agree(t, true);
    expect(found).toBeGreaterThan(60);
  });

  it("on the hostile shapes, repeated and not", () => {
    const r = (seed: number) => () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    const rand = r(7);
    const pick = (s: string, n: number) => Array.from({ length: n }, () => s[Math.floor(rand() * s.length)]).join("");
    const units = ["-----BEGIN PRIVATE KEY-----\n", "-----BEGIN ", "-", "eyJa.", "AKIA12 ", "sk-abc ", "ghp_abc ", "Bearer x ", "-----END PRIVATE KEY-----\n"];
    for (const u of units) agree(u.repeat(Math.ceil(4000 / u.length)), true);
    let t = "";
    while (t.length < 40000)
      t += [
        () => `-----BEGIN ${pick(UPPER + " ", Math.floor(rand() * 20))}PRIVATE KEY-----\n`,
        () => `-----END ${pick(UPPER, 3)} PRIVATE KEY-----\n`,
        () => pick(B64, 1 + Math.floor(rand() * 70)) + "\n",
        () => `eyJ${pick(B64URL, Math.floor(rand() * 12))}.${pick(B64URL, Math.floor(rand() * 5))}.${pick(B64URL, 2)} `,
        () => ["AKIA", "ghp_", "sk-", "xoxb-", "AIza", "sk_live_", "Bearer "][Math.floor(rand() * 7)]! + pick(UPPER + "abc_-", Math.floor(rand() * 40)) + " ",
        // bench/shapes.ts's JWT shapes (headers mostly not JSON) and key prefixes with random bodies
        () => `eyJ${pick(B64URL, 8 + Math.floor(rand() * 8))}.${pick(B64URL, 2 + Math.floor(rand() * 8))}.${pick(B64URL, Math.floor(rand() * 8))} `,
        () => ["AKIA", "ASIA", "ghp_", "gho_", "github_pat_", "sk-", "sk-proj-", "xoxb-", "xoxp-", "AIza", "sk_live_", "rk_test_", "Bearer ", "bearer "][Math.floor(rand() * 14)]! + pick(UPPER + "abcdef_-", Math.floor(rand() * 24)) + " ",
        () => pick(B64URL + ".", 1 + Math.floor(rand() * 80)),
      ][Math.floor(rand() * 8)]!();
    expect(agree(t, true)).toBeGreaterThan(50);
    agree(prose(16 * 1024), true);
  });

  it("isJsonText answers what JSON.parse does", () => {
    const parses = (s: string) => {
      try {
        JSON.parse(s);
        return true;
      } catch {
        return false;
      }
    };
    // JSON with whitespace, edits and cuts; random strings over JSON's characters; random bytes decoded.
    const jsonish = fc.oneof(
      fc.json(),
      fc.jsonValue().map((v) => JSON.stringify(v, null, 1)),
      fc.tuple(fc.json(), fc.nat(), fc.constantFrom("", " ", "\t", "\n", "\r", "\u000b", ",", "]", "}", "\"", "\\", "0", "-", ".", "e", "+", "u", "\u0000", "\u2028", "\ud800"), fc.nat(3)).map(
        ([j, at, ins, del]) => j.slice(0, at % (j.length + 1)) + ins + j.slice((at % (j.length + 1)) + del),
      ),
      fc.array(fc.constantFrom(..."{}[]\":,.-+0123456789eEtrufalsn \t\n\r\\/bfu\u0001\u00e9"), { maxLength: 30 }).map((a) => a.join("")),
      fc.uint8Array({ maxLength: 24 }).map((b) => Buffer.from(b).toString("utf8")),
      fc.uint8Array({ maxLength: 24 }).map((b) => "{\"" + Buffer.from(b).toString("utf8")),
    );
    let valid = 0;
    fc.assert(
      fc.property(jsonish, (s) => {
        const want = parses(s);
        if (want) valid++;
        expect(isJsonText(s), JSON.stringify(s)).toBe(want);
      }),
      { numRuns: 20000, seed: 1323 },
    );
    expect(valid).toBeGreaterThan(5000);
    for (const s of ["0", "-0", "01", "1.", ".1", "1e", "1e+", "1E-7", "-", "tru", "nulll", '"\\u12G4"', '"\\u12a4"', '"\\x"', "[1,]", "{,}", '{"a":1,}', "[[[[]]]]", "[".repeat(500) + "]".repeat(500), " ", ""])
      expect(isJsonText(s), s).toBe(parses(s));
  });

  it("a JWT header's last decoded byte is read as Buffer decodes it", () => {
    // jwtDecided refuses without decoding when the header's last byte cannot end a JSON object, and
    // jwtHeaderValid without JSON.parse when the header is not JSON (isJsonText).
    const json = fc.oneof(
      fc.jsonValue().map((v) => JSON.stringify({ alg: "HS256", v })),
      fc.dictionary(fc.string({ maxLength: 4 }), fc.jsonValue({ maxDepth: 1 })).map((d) => JSON.stringify(d)),
      fc.constantFrom('{"typ":"JWT"}', '{"alg":"none"} ', '{"alg":"x"}\n\t\r', '{"a":1}', '{"\\u0061lg":1}', "{}", '{"alg":1'),
    );
    const header = fc.oneof(
      fc.tuple(json, fc.constantFrom("", " ", "\n", "  \t", "x", "}")).map(([j, ws]) => Buffer.from(j + ws).toString("base64url")),
      fc.tuple(json, fc.integer({ min: 0, max: 3 })).map(([j, cut]) => Buffer.from(j).toString("base64url").slice(0, Math.max(11, Buffer.from(j).toString("base64url").length - cut))),
      body.map((b) => "eyJ" + b),
    );
    let valid = 0;
    fc.assert(
      fc.property(header, (h) => {
        const t = `${h}.ab.cd`;
        // The validator as the frozen copy has it: JSON.parse, its throw caught.
        let want = -1;
        try {
          const header: unknown = JSON.parse(Buffer.from(h, "base64url").toString("utf8"));
          if (header !== null && typeof header === "object" && ("alg" in header || "typ" in header)) want = t.length;
        } catch {
          // not JSON
        }
        if (want !== -1) valid++;
        expect(jwtHeaderValid(t, 0, t.length), h).toBe(want);
        expect(jwtDecided(t, 0, t.length), h).toBe(want);
      }),
      { numRuns: 5000, seed: 1322 },
    );
    expect(valid).toBeGreaterThan(500);
  });

  it("near misses of every literal, and refused JWTs ending at the horizon's every side", () => {
    // Round 12: the seek reads each anchor's neighbours before deciding it, and passes over a JWT
    // its validator refuses unless the match ends within RIGHT_CONTEXT of the text's end.
    const key = "abcdefghij0123456789ABCDEFGHIJ_-abcdefghij";
    const misses = [
      "sk-", "sk_", "s-", "k-", "Sk-", "ssk-", "_sk-", "xsk-", "rk-", "pk_live_", "sk_live", "sk__live_", "xk_test_",
      "xoxa-", "xoxz-", "xo-", "ox-", "xxoxb-", "-xoxb-", "xox-", "xoxb_", "x-", "ghp_", "ghq_", "hp_", "gh_", "g_", "ghp-",
      "github_", "github_pat_", "ithub_pat_", "xgithub_pat_", "github-pat_", "eyJ", "eyj", "ey J", "yJ", "eJ", "xeyJ", "-eyJ",
      "AKIA", "AKIa", "aKIA", "1AKIA", "AXIA", "ASI", "AIza", "AIZa", "AI", "A-Iza", "_AIza", "-AIza", "Bearer ", "bearer ",
      "Bearer", "bEarer ", "Bearer\t", "beare ", "-----BEGIN ", "----BEGIN ", "------BEGIN ", "-- ---BEGIN ", "-----BEGINPRIVATE",
    ];
    const texts: string[] = [];
    for (const m of misses) for (const sep of ["", " ", "x", "-", "_", "."]) texts.push(`${sep}${m}${key} ${m}${key.slice(0, 20)}${sep}`);
    // JWT shapes, header JSON or not, refused or not, ending 0 to 8 characters before the text's end.
    const headers = ["eyJhbGciOiJIUzI1NiJ9", "eyJ0eXAiOiJKV1QifQ", "eyJhIjoxfQ", "eyJabcdefgh", "eyJhbGciOiJIUzI1NiJ9x", "eyJhIjoxfS"];
    for (const h of headers) for (let k = 0; k <= 8; k++) texts.push(`x ${h}.ab.cd${" ".repeat(k)}`, `${h}.abc.${"d".repeat(k)}`, `${h}.ab.cd ${h}.ab.${"e".repeat(k)}`);
    // And one match of every literal each pattern allows, at the text's start and after a space.
    const up = "ABCDEFGHIJKLMNOP0123456789";
    const valid = [
      `sk-${key.slice(0, 20)}`, `sk-proj-${key.slice(0, 20)}`, ..."srp".split("").flatMap((c) => [`${c}k_live_${"a1".repeat(8)}`, `${c}k_test_${"a1".repeat(8)}`]),
      ..."pousr".split("").map((c) => `gh${c}_${"a1B".repeat(12)}`), `github_pat_${"a_1".repeat(8)}`, ..."abposr".split("").map((c) => `xox${c}-${"a-1".repeat(4)}`),
      ...["KIA", "SIA", "GPA", "IDA", "ROA", "NPA", "NVA", "IPA"].map((c) => `A${c}${up.slice(0, 16)}`), `AIza${key.slice(0, 35)}`,
      `Bearer ${key.slice(0, 16)}`, `bearer ${key.slice(0, 16)}==`, "eyJhbGciOiJIUzI1NiJ9.ab.cd", "-----BEGIN PRIVATE KEY-----\nAAAA",
    ];
    for (const v of valid) texts.push(v, ` ${v} ${v}`);
    let found = 0;
    for (const t of texts) found += agree(t, true);
    expect(found).toBeGreaterThan(100);
    for (const v of valid) expect(now.scan(` ${v}`), v).toHaveLength(1);
  });

  it("where anchors come densely: the dense regex's look-aheads at every bound (property and edges)", () => {
    // Round 14: where anchor characters come one after another the seek finds them with one regex
    // (anchorRe) whose look-aheads carry the PEM header, AWS, Google and bearer patterns, so that a
    // near-miss is passed over there. Each text here starts with anchor characters that fail, which
    // puts the seek in that mode, and keeps some between its cases so that it stays there.
    const dense = "A_A_J-A_B_";
    fc.assert(
      fc.property(textArb, (t) => {
        agree(dense + t);
        agree(dense + t.split(" ").join(" " + dense));
      }),
      { numRuns: 1500, seed: 1324 },
    );
    const up = (n: number) => "ABCDEFGHIJKLMNOP0123456789QRSTUVWXYZ".repeat(3).slice(0, n);
    const g = (n: number) => "aZ9_-".repeat(20).slice(0, n);
    const tok = (n: number) => "aZ9._~+/-".repeat(500).slice(0, n);
    const word = (n: number) => "Q7".repeat(9).slice(0, n);
    const cases: string[] = [];
    for (const c of ["KIA", "SIA", "GPA", "IDA", "ROA", "NPA", "NVA", "IPA", "XIA", "KIa", "Iza", "IZa"])
      for (const n of [15, 16, 17, 35, 36]) for (const after of ["", " ", "a", "9", "_", "-", "."]) for (const before of [" ", "x", "1", "_", "-"]) cases.push(`${before}A${c}${n < 30 ? up(n) : g(n)}${after}`);
    for (const n of [14, 15, 16, 17]) for (const b of ["Bearer ", "bearer ", "Bearer  ", "BEARER "]) cases.push(`${b}${tok(n)}==`, `${b}${tok(n)} `);
    const labels = ["", "RSA ", `${word(16)} `, `${word(17)} `, `A B C `, `A B C D `, `${word(16)} ${word(16)} ${word(16)} `, "rsa ", "RSA  ", " "];
    for (const l of labels)
      for (const dashes of ["----", "-----", "------", "-------------"])
        for (const tail of ["PRIVATE KEY-----", "PRIVATE KEY----", "PRIVATE KEY", "PUBLIC KEY-----"]) cases.push(`${dashes}BEGIN ${l}${tail}\nQUJD\n`);
    let found = 0;
    for (let k = 0; k < cases.length; k += 12) found += agree(dense + cases.slice(k, k + 12).join(dense), k % 48 === 0);
    expect(found).toBeGreaterThan(100);
  });

  it("secrets that start at their anchor, next to and inside the literals of those that start before it", () => {
    // seekSecret tries the anchors after the one it found only when that secret starts before its
    // anchor (round 14): a PEM line, an AWS, Google or bearer key, which start at theirs, next to
    // `sk-`, `xox?-`, `[srp]k_`, `gh?_`, `github_` and `eyJ` wherever they overlap.
    const key = "abcdefghij0123456789ABCDEFGHIJ_-abcdefghij";
    const starts = ["-----BEGIN PRIVATE KEY-----\nQUJD", "AKIAIOSFODNN7EXAMPLE", `AIza${key.slice(0, 35)}`, `Bearer ${key}`, `bearer ${key}`];
    const backs = ["sk-", "xoxb-", "xoxa-", "sk_live_", "ghp_", "github_", "github_pat_", "eyJ", "k-", "b-", "b_", "k_", "y"];
    let found = 0;
    for (const s of starts)
      for (const b of backs)
        for (const cut of [0, 1, 2, 3, 4, 5, 6]) {
          // The back literal cut so that its anchor falls inside the found secret, or just after it.
          found += agree(`x ${b.slice(0, b.length - cut)}${s}${b.slice(b.length - cut)}${key} ${s.slice(0, cut + 1)}${b}${key}`, cut === 0);
        }
    expect(found).toBeGreaterThan(200);
  });

  it("and a wrong decision is caught", () => {
    const broken = secrets.map((r) => ({ ...r, decided: (t: string, s: number) => { const e = r.decided!(t, s); return e === undefined || e <= s ? e : e - 1; } }));
    const t = "key AKIAIOSFODNN7EXAMPLE and -----BEGIN PRIVATE KEY-----\nAAAA\n";
    expect(plain(compileScanner(broken).scan(t))).not.toEqual(plain(everywhere.scan(t)));
  });
});

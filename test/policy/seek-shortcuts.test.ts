import { describe, expect, it } from "vitest";
import { compileScanner, type Finding } from "../../src/policy/scan/index.js";
import { decidePerson, person } from "../../src/policy/pii/person.js";
import { streetAddress } from "../../src/policy/pii/street-address.js";
import * as piiIndex from "../../src/policy/pii/index.js";
import { rng } from "./helpers.js";

// The short cuts that make repeated shapes cheap (issue #13: PEM header lines, `4111 1111 `
// repeated) must not change a finding: each recogniser, with its seek and its memory of recent
// decisions, gives exactly what its pattern tried at every position with a fresh decision gives.

const fragments = [
  "-----BEGIN PRIVATE KEY-----\n",
  "-----END RSA PRIVATE KEY-----\n",
  "KEY-----",
  "4111 1111 ",
  "4111-1111-",
  "12 34 56 ",
  "221B Baker Street, London NW1 6XE. ",
  "Flat 3 12 High Street ",
  "1600 Pennsylvania Avenue NW, Washington, DC 20500 ",
  "350 5th Avenue ",
  "42 1st St ",
  "12345 ",
  "123456-12345 Oak Street ",
  "42-7B, 12th Street ",
  "100/20 Elm Road ",
  "Jane Doe ",
  "Jane Street ",
  "Rose said ",
  "Rose Garden ",
  "Paris Hilton ",
  "Paris is big ",
  "Will Turner ",
  "Will Street ",
  "Mark Twain ",
  "Mark Lane ",
  "Dear Jane Doe,\n",
  "Jean-Luc Picard said so. ",
  "my name is jane doe. ",
  "my name is ",
  "call me maybe ",
  "Will Turner and Rose Tyler met Dr. Watson. ",
  "PRIVATE KEY ",
  "The Committee met. ",
  "JANE DOE ",
  "Mr. O'Brien, ",
  "résumé of Zoë Saldaña ",
  " ",
  "\n",
];

function textOf(seed: number): string {
  const r = rng(seed);
  // A few fragments, repeated: the same windows come back again and again.
  const pick = Array.from({ length: 5 }, () => fragments[Math.floor(r() * fragments.length)]!);
  let s = "";
  const n = 20 + Math.floor(r() * 60);
  for (let i = 0; i < n; i++) s += pick[Math.floor(r() * pick.length)]!;
  return s;
}

/** The same context before different candidates of one length, and the hostile shapes themselves. */
const P = "The quarterly report was filed on time, as always. ";
const fixed = [
  `${P}Will Turner met us. ${P}Will Street is long. ${P}Will Turner met us. ${P}Will Street is long.`,
  `${P}Mark Twain wrote. ${P}Mark Lane is here. ${P}Mark Twain wrote.`,
  // The same context before the same candidate, different after it (the window's right end).
  `${P}Will said hello. ${P}Will went home. ${P}Will said hello. ${P}Will went home.`,
  "-----BEGIN PRIVATE KEY-----\n".repeat(40),
  "Jane Rose Will Paris Main Street ".repeat(30),
  "4111 1111 ".repeat(300),
  `${"4111 1111 ".repeat(30)}42 1st St ${"4111 1111 ".repeat(30)}123456-12345 Oak Street`,
];

const plain = (f: Finding[]) => f.map((x) => [x.start, x.end, x.type]);

/** Both scanners give the same findings on the fixed hostile texts and 400 seeded ones; returns how many were found. */
function agreeOnAll(seeking: ReturnType<typeof compileScanner>, everywhere: ReturnType<typeof compileScanner>): number {
  let found = 0;
  for (let seed = -fixed.length; seed <= 400; seed++) {
    const t = seed < 0 ? fixed[-seed - 1]! : textOf(seed);
    const a = seeking.scan(t);
    expect(plain(a), t).toEqual(plain(everywhere.scan(t)));
    found += a.length;
  }
  return found;
}

describe("seek short cuts give the pattern's own findings", () => {
  it("street addresses: digit runs with no letter near are passed over, nothing else changes", () => {
    const seeking = compileScanner([streetAddress[0]!]);
    const everywhere = compileScanner([{ ...streetAddress[0]!, seek: undefined }], { prefilter: false });
    expect(agreeOnAll(seeking, everywhere)).toBeGreaterThan(50);
  });

  it("person names: the same answer with the memory of recent windows as with a fresh decision everywhere", () => {
    const seeking = compileScanner([person]);
    const everywhere = compileScanner([{ ...person, seek: undefined, validate: decidePerson }], { prefilter: false });
    expect(agreeOnAll(seeking, everywhere)).toBeGreaterThan(50);
  });
});

describe("the seeks' memory of their last decision (SeekMemo)", () => {
  // What each memo still answers for `text` at any position: empty once a scan has ended, so a
  // scanned text (PII included) is not kept referenced by a module-level memo after its scan.
  const { recognisersFor, builtinPiiTypes } = piiIndex;
  const all = recognisersFor([...builtinPiiTypes]);
  const deciders = all.filter((r) => r.decided !== undefined);
  const held = (text: string) => {
    const out: string[] = [];
    for (const r of deciders) for (let p = 0; p < text.length; p++) if (r.decided!(text, p) !== undefined) out.push(`${r.type}@${p}`);
    return out;
  };
  const texts = [
    "Lives at 123 Main Street in Paris with Jane Smith",
    "Please ask Jane Smith about it.",
    "Contact: Jane Smith, 221B Baker Street, London NW1 6XE",
    "born 1990-02-03 in London, now at 42 1st St",
  ];

  it("is dropped when a scan ends: whole, streamed with a horizon, and a frontier search", () => {
    const scanner = compileScanner(all);
    expect(deciders.length).toBeGreaterThanOrEqual(3);
    // A seek that remembers must say how to forget.
    expect(deciders.filter((r) => r.forget === undefined).map((r) => r.type)).toEqual([]);
    for (const text of texts) {
      expect(scanner.scan(text).length, text).toBeGreaterThan(0);
      expect(held(text), `whole scan: ${text}`).toEqual([]);
      const out: Finding[] = [];
      scanner.scanUntil(text, 0, scanner.frontier(text), out, text.length - 4);
      expect(held(text), `streamed: ${text}`).toEqual([]);
      scanner.frontier(text);
      expect(held(text), `frontier: ${text}`).toEqual([]);
      scanner.scanPacked(text);
      expect(held(text), `packed: ${text}`).toEqual([]);
    }
  });
});

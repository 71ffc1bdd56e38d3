import { randomBytes } from "node:crypto";
import { readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeHeapSnapshot } from "node:v8";
import { describe, expect, it } from "vitest";
import { compilePolicyEngine } from "../../src/policy/index.js";
import { configWith } from "./helpers.js";

// No detected value stays referenced from the recognisers' module state once a request is done
// (docs/policies.md; scan-memo.ts). Each request's text carries a random marker that exists as a
// JavaScript string only while the request runs; a heap snapshot taken after all of them must not
// hold any marker. The needle is bytes, never a string of this test. A review found person and
// location keeping their last text, and person its recent windows and upper-case words.

const letters = (b: Buffer, upper = false) => Buffer.from([...b].map((x) => (upper ? 65 : 97) + (x % 26)));

const cases: [string, (m: string) => string, boolean?][] = [
  ["email", (m) => `Note ${m}: mail jane.doe@example.com and nothing else.`],
  ["person", (m) => `Note ${m}: Dear Jane Doe, thanks.`],
  ["person", (m) => `NOTE ${m.toUpperCase()} DEAR JANE DOE, THANKS.`],
  ["street_address", (m) => `Note ${m}: ship to 1600 Pennsylvania Avenue NW, Washington, DC 20500.`],
  // A list of streets: each is followed by the next one's number, so the postcode line is tried there (and remembered).
  ["street_address", (m) => `Note ${m}: 12 Main Street 34 Elm Road 56 High Street.`],
  ["iban", (m) => `Note ${m}: pay GB82 WEST 1234 5698 7654 32 today.`],
  // A checksum-valid IBAN run on by a letter: the precheck passes, the pattern does not.
  ["iban", (m) => `Note ${m}: ref GB82WEST12345698765432x please.`, false],
  ["ssn", (m) => `Note ${m}: ssn 123-45-6789.`],
  ["location", (m) => `Note ${m}: we met in Springfield, Illinois last May.`],
  ["date_of_birth", (m) => `Note ${m}: born on 12 March 1984.`],
  ["postal_code", (m) => `Note ${m}: post it to SW1A 1AA please.`],
  ["phone", (m) => `Note ${m}: call +44 20 7946 0958 now.`],
  ["crypto_wallet", (m) => `Note ${m}: send to 1BoatSLRHtKNngkdXEeobR76b53LETtpyT.`],
  ["secret", (m) => `Note ${m}: key sk-proj-abcdefghijklmnopqrstuvwxyz0123.`],
];

/** One request; only whether its rule redacted something leaves here (the answer holds the marker). */
async function request(type: string, text: string): Promise<boolean> {
  const engine = compilePolicyEngine(configWith([{ id: "p", rules: [{ type: "pii_detection", action: "redact", patterns: [type] }] }]));
  const r = engine.startRequest({ model: "m", messages: [{ role: "user", content: text }] } as never, "chat");
  const out = (r instanceof Promise ? await r : r) as unknown as { body: { messages: { content: string }[] } };
  return out.body.messages[0]!.content.includes("[REDACTED:");
}

describe("recogniser state after a request", () => {
  it("holds no text of any request once it is done (heap snapshot)", async () => {
    const markers: { type: string; needle: Buffer }[] = [];
    for (const [type, make, finds = true] of cases) {
      const raw = randomBytes(16);
      const upper = make("x").startsWith("NOTE");
      markers.push({ type, needle: letters(raw, upper) });
      // The rule found its value (the case tests what it means to test), or, the run-on IBAN, not.
      expect(await request(type, make(letters(raw).toString("latin1")))).toBe(finds);
    }
    // RegExp's last-match statics hold the last subject searched: not the recognisers' state.
    /x/.exec("x");
    const file = writeHeapSnapshot(join(tmpdir(), `kt-retention-${process.pid}-${Date.now()}.heapsnapshot`));
    const heap = readFileSync(file);
    rmSync(file);
    expect(markers.filter((m) => heap.includes(m.needle)).map((m) => m.type)).toEqual([]);
  }, 120_000);
});

/**
 * A held body's JSON is written piece by piece into shared memory (src/policy/pool/held-json.ts)
 * instead of JSON.stringify() of the whole body then encoding it. The bytes must be exactly
 * JSON.stringify's, for every string: escapes, control characters, surrogate pairs and lone
 * surrogates (escaped as \udxxx), multi-byte UTF-8 at every cut. Checked against JSON.stringify on
 * random strings and skeletons, and through the worker's jobs on a large body.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compileRules } from "../../src/policy/compiled-rule.js";
import { applyRedactions } from "../../src/policy/redaction.js";
import { chainOnBody, heldParseStats, parseBody, serialiseBody, skeletonOf } from "../../src/policy/pool/body-jobs.js";
import { editedJsonByteLength, filledByteLength, jsonByteLength, writeFilled, writeJsonString } from "../../src/policy/pool/held-json.js";
import { compiledRule } from "../../src/policy/pool/scan-jobs.js";
import type { JsonObject } from "../../src/wire/index.js";
import { configWith } from "./helpers.js";

/** Strings rich in what JSON escapes or encodes in several bytes. */
const tricky = fc.array(
  fc.oneof(
    fc.constantFrom('"', "\\", "\n", "\r", "\t", "\b", "\f", "\u0000", "\u001f", "\u007f", "\u2028", "é", "€", "😀", "\ud800", "\udc00", "\udbff", "\udfff", "/", "<"),
    fc.string({ unit: "binary", maxLength: 4 }),
    fc.string({ maxLength: 20 }),
  ),
  { maxLength: 40 },
).map((parts) => parts.join(""));

function written(s: string): Buffer {
  const buf = Buffer.alloc(jsonByteLength(s) + 8, 0xaa);
  const end = writeJsonString(s, buf, 3);
  return buf.subarray(3, end);
}

describe("held JSON writer", () => {
  it("jsonByteLength and writeJsonString give JSON.stringify's bytes", () => {
    fc.assert(
      fc.property(tricky, (s) => {
        const want = Buffer.from(JSON.stringify(s));
        expect(jsonByteLength(s)).toBe(want.length);
        expect(written(s).equals(want)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it("lone and paired surrogates at the ends and side by side", () => {
    for (const s of ["\ud800", "\udc00", "\ud800\udc00", "\udc00\ud800", "\ud800\ud800\udc00", "\ud800\udc00\udc00", "a\ud83d", "\ude00b", "x\ud83d\ude00\n\ud83d"]) {
      const want = Buffer.from(JSON.stringify(s));
      expect(jsonByteLength(s)).toBe(want.length);
      expect(written(s).toString("latin1")).toBe(want.toString("latin1"));
    }
  });

  it("a skeleton filled in place equals JSON.stringify of the filled object", () => {
    const nonce = "abc123";
    fc.assert(
      fc.property(fc.array(tricky, { minLength: 1, maxLength: 5 }), fc.array(tricky, { maxLength: 5 }), (held, short) => {
        // A chat-like body: held strings (long, placeholders) among short ones, keys included.
        const skeleton = {
          model: short[0] ?? "m",
          messages: held.map((_, i) => ({ role: short[i % Math.max(1, short.length)] ?? "user", content: `\u0000kt-held:${nonce}:${i}` })),
          [short[1] ?? "k"]: [1, -0, 2.5e-7, null, true, short[2] ?? ""],
        };
        const filled = { ...skeleton, messages: skeleton.messages.map((m, i) => ({ ...m, content: held[i]! })) };
        const want = Buffer.from(JSON.stringify(filled));
        const sized = filledByteLength(JSON.stringify(skeleton), held, nonce)!;
        expect(sized.length).toBe(want.length);
        const buf = Buffer.alloc(sized.length);
        expect(writeFilled(sized.pieces, buf)).toBe(want.length);
        expect(buf.equals(want)).toBe(true);
        // With the strings' counts handed in (a rewrite counted them for its skeleton): the same size and bytes.
        const counted = filledByteLength(JSON.stringify(skeleton), held, nonce, held.map(jsonByteLength))!;
        expect(counted.length).toBe(want.length);
        const again = Buffer.alloc(counted.length);
        expect(writeFilled(counted.pieces, again)).toBe(want.length);
        expect(again.equals(want)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it("a redacted text's count derived from the original's and the edits is JSON.stringify's, or not given", () => {
    const hasSurrogate = (s: string) => /[\ud800-\udfff]/.test(s);
    let given = 0;
    fc.assert(
      fc.property(tricky, fc.array(fc.tuple(fc.nat(60), fc.nat(8), tricky), { maxLength: 6 }), (text, spans) => {
        // Ordered, non-overlapping spans of the text, each replaced (values in, replacements out of every kind).
        const findings: { start: number; end: number; r: string }[] = [];
        let at = 0;
        for (const [gap, len, r] of spans) {
          const start = Math.min(text.length, at + gap);
          const end = Math.min(text.length, start + len);
          if (findings.length > 0 && start === findings.at(-1)!.end && end === start) continue;
          findings.push({ start, end, r });
          at = end;
        }
        const { text: after, edits } = applyRedactions(text, findings.map((f) => ({ start: f.start, end: f.end, type: "x", recogniser: 0 })), (f) => findings.find((g) => g.start === f.start && g.end === f.end)!.r);
        const n = editedJsonByteLength(text, jsonByteLength(text), after, edits);
        if (n !== undefined) {
          given++;
          expect(n).toBe(Buffer.byteLength(JSON.stringify(after)));
        } else expect(hasSurrogate(text) || hasSurrogate(after)).toBe(true);
        // Edits that are not the ones made give no count at all, or the right one.
        const other = editedJsonByteLength(text, jsonByteLength(text), after + "x", edits);
        expect(other).toBeUndefined();
      }),
      { numRuns: 2000 },
    );
    expect(given).toBeGreaterThan(200);
  });

  it("a placeholder that names no string is not spliced (the caller fills the object)", () => {
    expect(filledByteLength(JSON.stringify({ a: "\u0000kt-held:n:3" }), ["x"], "n")).toBeUndefined();
    expect(filledByteLength(JSON.stringify({ a: "\u0000kt-held:n:01" }), ["x", "y"], "n")).toBeUndefined();
  });
});

describe("held body jobs write JSON.stringify's bytes", () => {
  // About 1.2 MiB: prose with escapes, non-Latin-1 text, an emoji, a lone surrogate and a card to redact.
  let filler = "";
  for (let i = 0; filler.length < 600_000; i++) filler += `Line ${i}: "quoted" \\ back\tslash, café €, 😀 and \u0001 then \ud800 alone.\n`;
  const body = {
    model: "m",
    messages: [
      { role: "system", content: "short system text" },
      { role: "user", content: `pay with 4111 1111 1111 1111 today\n${filler}` },
      { role: "user", content: filler.slice(0, 300) },
    ],
    max_tokens: 16,
  };
  const json = JSON.stringify(body);
  const bytes = new SharedArrayBuffer(Buffer.byteLength(json));
  Buffer.from(bytes).write(json);
  const ref = { bytes, length: bytes.byteLength, nonce: "n-held-json", holdMin: 256, version: 7_000_001 };
  const rules = compileRules(configWith([{ id: "p", rules: [{ type: "pii_detection", action: "redact", patterns: ["credit_card"] }] }])).map((r) => r.source);

  it("the upstream form of an unchanged body equals JSON.stringify of the parsed body", () => {
    const parsed = parseBody({ kind: "parse-body", body: ref, maxDepth: 64 });
    expect("fault" in parsed).toBe(false);
    const skeleton = { ...((parsed as { skeleton: JsonObject }).skeleton), model: "upstream-model" };
    const dest = new SharedArrayBuffer(ref.length + 1024);
    const n = serialiseBody({ kind: "serialise-body", body: ref, skeleton, dest });
    expect(typeof n).toBe("number");
    const want = Buffer.from(JSON.stringify({ ...JSON.parse(json), model: "upstream-model" }));
    expect(Buffer.from(dest, 0, n as number).equals(want)).toBe(true);
    // Too small a destination: a buffer of its own, the same bytes.
    const own = serialiseBody({ kind: "serialise-body", body: ref, skeleton, dest: new SharedArrayBuffer(16) });
    expect(Buffer.from(own as SharedArrayBuffer).equals(want)).toBe(true);
  });

  it("a redaction's rewrite equals JSON.stringify of the redacted body, and names the skeleton it was written from", async () => {
    parseBody({ kind: "parse-body", body: ref, maxDepth: 64 });
    const derived = heldParseStats().derived;
    const out = await chainOnBody({ kind: "body-chain", body: ref, op: "chat", rules, dest: new SharedArrayBuffer(ref.length + 1024), rewriteVersion: 7_000_002 }, compiledRule);
    const c = out.changed!;
    expect(c.inDest).toBe(true);
    const redacted = JSON.parse(json);
    redacted.messages[1].content = redacted.messages[1].content.replace("4111 1111 1111 1111", "[REDACTED:CREDIT_CARD]");
    const got = Buffer.from(c.bytes, 0, c.length);
    // Booleans, not the strings: a failure must not print a megabyte.
    expect(got.equals(Buffer.from(JSON.stringify(redacted)))).toBe(true);
    expect(c.written).toBe(JSON.stringify(c.skeleton));
    // Its extra bytes are the held strings' JSON beyond their placeholders', as counted before.
    const sk = skeletonOf(redacted, 256, "n-held-json");
    expect("fault" in sk ? -1 : sk.extraBytes).toBe(c.extraBytes);
    // ...though the redacted text's count came from the parse's and the card's edit, not a new count.
    expect(heldParseStats().derived).toBe(derived + 1);
    expect(c.extraBytes).toBe(
      Buffer.byteLength(JSON.stringify(redacted.messages[1].content)) +
        Buffer.byteLength(JSON.stringify(redacted.messages[2].content)) -
        Buffer.byteLength(JSON.stringify("\u0000kt-held:n-held-json:0")) -
        Buffer.byteLength(JSON.stringify("\u0000kt-held:n-held-json:1")),
    );
    // The upstream form written from that skeleton is the rewrite's bytes.
    const dest = new SharedArrayBuffer(c.length + 1024);
    const n = serialiseBody({ kind: "serialise-body", body: { ...ref, bytes: c.bytes, length: c.length, version: c.version }, skeleton: c.skeleton as JsonObject, dest });
    expect(Buffer.from(dest, 0, n as number).equals(got)).toBe(true);
    expect(JSON.stringify(c.skeleton).length).toBeLessThan(1000);
  });
});

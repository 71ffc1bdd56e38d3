import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { normalise, toSource, ViewBuilder } from "../../src/policy/scan/index.js";
import { scanSource } from "../../src/policy/scan/index.js";
import * as reference from "./normalise-reference.js";

// The normaliser's fast path (a table per BMP character, view characters copied into a reused
// buffer, a reused map for scanSource) must give exactly the view and offsets the per-character
// version gave, for whole texts and for texts appended in any pieces.
const units = [
  "a", "Z", "1", "4", " ", "\n", "\t", ".", "@", "-", "%", "%4", "%40", "%C3%BC", "%E2%80%8B", "+", "?", "=", "&", "\\", "\\u0040", "\\n", "\\u200b",
  "\u200b", "\u200d", "\u00ad", "\ufeff", "\u202e", "\ufe0f", "\uff14", "\uff20", "\uff41", "\u00a0", "\u3000", "\u2011", "\u2014", "\u2212", "\u3002",
  "é", "ü", "ß", "ﬁ", "½", "㎏", "\u2028", "\u0301", "漢", "字", "а", "р", "😀", "\ud835\udc00", "\ud800", "\udc00", "\uff21\uff22",
  "plain ascii text of some length that is longer than thirty-two characters ",
];
const text = fc.array(fc.constantFrom(...units), { maxLength: 80 }).map((a) => a.join(""));

function same(t: string, json: boolean, step = 1): void {
  const a = normalise(t, json);
  const b = reference.normalise(t, json);
  expect(a.text).toBe(b.text);
  expect(a.map === undefined).toBe(b.map === undefined);
  for (let i = 0; i < a.text.length; i += i < 100 || i > a.text.length - 100 ? 1 : step)
    for (const j of [i + 1, Math.min(a.text.length, i + 7)]) expect(toSource(a, i, j)).toEqual(reference.toSource(b, i, j));
}

describe("normaliser fast path", () => {
  it("gives the reference's view and offsets for whole texts (property)", () => {
    fc.assert(
      fc.property(text, fc.boolean(), (t, json) => same(t, json)),
      { numRuns: 400 },
    );
  });

  it("gives the reference's view and offsets when built piece by piece (property)", () => {
    fc.assert(
      fc.property(text, fc.array(fc.nat(400)), fc.boolean(), (t, cuts, json) => {
        const ours = new ViewBuilder(json);
        const theirs = new reference.ViewBuilder(json);
        const points = [...new Set(cuts.map((c) => c % (t.length + 1)))].sort((x, y) => x - y);
        let src = "";
        let at = 0;
        let c1 = 0;
        let c2 = 0;
        for (const p of [...points, t.length]) {
          src += t.slice(at, p);
          at = p;
          c1 += ours.append(src.slice(c1), c1, false);
          c2 += theirs.append(src.slice(c2), c2, false);
          expect(c1).toBe(c2);
          expect(ours.view).toBe(theirs.view);
        }
        c1 += ours.append(src.slice(c1), c1, true);
        c2 += theirs.append(src.slice(c2), c2, true);
        expect(ours.view).toBe(theirs.view);
        expect(ours.isIdentity).toBe(theirs.isIdentity);
        for (let i = 0; i < ours.view.length; i++) {
          expect(ours.toSourceStart(i, t.length)).toBe(theirs.toSourceStart(i, t.length));
          expect(ours.toSourceEnd(i + 1)).toBe(theirs.toSourceEnd(i + 1));
        }
      }),
      { numRuns: 300 },
    );
  });

  it("gives the reference's view for long texts of every shape the benches use, and a reused map does not leak between calls", () => {
    const shapes = ["\u200b\uff14", "\uff14", "%40", "élève café ", "a\u0301", "\ud800a\udc00b", "😀 ", "?q=a+b+", "x".repeat(40) + "\u200b"];
    for (const u of shapes) {
      const t = u.repeat(Math.ceil(30_000 / u.length));
      same(t, false, 61);
    }
    // scanSource reuses one map: two texts in turn map their findings by their own views.
    const scanner = { scan: (v: string) => [{ type: "x", start: v.indexOf("4"), end: v.indexOf("4") + 1, recogniser: 0 }] } as never;
    const t1 = "\u200b\u200b\uff14 tail";
    const t2 = "ab\u200b4";
    expect(scanSource(scanner, t1)[0]).toMatchObject({ start: 2, end: 3 });
    expect(scanSource(scanner, t2)[0]).toMatchObject({ start: 3, end: 4 });
    expect(scanSource(scanner, t1)[0]).toMatchObject({ start: 2, end: 3 });
  });
});

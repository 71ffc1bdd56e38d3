/**
 * The template lines (access line, audit record) write values through jsonString/jsonValue and
 * times through isoTime instead of JSON.stringify and Date#toISOString: the text must be the same,
 * character for character, for every value.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isoTime, jsonString, jsonValue } from "../../src/wire/index.js";

const awkward = ["", '"', "\\", "\n", "\u0000", "\u001f", "\u007f", "\u2028", "\u2029", "\ud800", "\udfff", "a\ud83d\ude00b", "\ud83d", "é", "…", "\u0001x"];

describe("JSON text of single values", () => {
  it("jsonString is JSON.stringify for any string", () => {
    for (const s of awkward) expect(jsonString(s)).toBe(JSON.stringify(s));
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: "binary" }), fc.string({ unit: "grapheme" }), fc.string({ unit: fc.constantFrom(...awkward) })), (s) => {
        expect(jsonString(s)).toBe(JSON.stringify(s));
      }),
      { numRuns: 2000 },
    );
  });

  it("jsonValue is JSON.stringify for strings, numbers, booleans, null, arrays and objects", () => {
    const fixed: unknown[] = [0, -0, 1.5, -3, 1e21, 1e-7, 2 ** 53, Number.MAX_VALUE, Number.MIN_VALUE, NaN, Infinity, -Infinity, true, false, null, [1, "a"], { a: 1 }];
    for (const v of fixed) expect(jsonValue(v)).toBe(JSON.stringify(v));
    fc.assert(
      fc.property(fc.oneof(fc.double(), fc.integer(), fc.string(), fc.boolean(), fc.constant(null)), (v) => {
        expect(jsonValue(v)).toBe(JSON.stringify(v));
      }),
      { numRuns: 2000 },
    );
  });

  it("isoTime is Date#toISOString, within a second and across seconds, and fails as it does", () => {
    const fixed = [0, 1, 999, 1000, 1001, -1, -999, -1000, -1001, 1_764_500_000_123, 253_402_300_799_999, 253_402_300_800_000, -62_167_219_200_000, -62_167_219_200_001, 8.64e15];
    for (const ms of fixed) expect(isoTime(ms)).toBe(new Date(ms).toISOString());
    // Consecutive times share the cached second; jumps replace it.
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.integer({ min: -1e13, max: 1e13 }), fc.integer({ min: 1_764_500_000_000, max: 1_764_500_003_000 })), { maxLength: 50 }), (list) => {
        for (const ms of list) expect(isoTime(ms)).toBe(new Date(ms).toISOString());
      }),
      { numRuns: 500 },
    );
    expect(isoTime(1.5)).toBe(new Date(1.5).toISOString());
    for (const bad of [NaN, Infinity, 8.64e15 + 1]) expect(() => isoTime(bad)).toThrow(RangeError);
  });
});

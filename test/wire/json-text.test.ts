/**
 * The template lines (access line, audit record) write values through jsonString/jsonValue and
 * times through isoTime instead of JSON.stringify and Date#toISOString: the text must be the same,
 * character for character, for every value.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isoTime, isoTimeMs, jsonString, jsonTenths, jsonValue } from "../../src/wire/index.js";

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

  it("jsonTenths is JSON.stringify of the value rounded to a tenth, for any number", () => {
    const fixed = [0, -0, 0.04, 0.05, 0.06, 0.95, 0.96, 1, 1.25, 1.35, 9.95, 99.99, 3.456, 214748364.7, 214748364.75, 214748364.8, 1e9, 1e21, 2 ** 53, -0.04, -0.05, -0.06, -1.5, NaN, Infinity, -Infinity, Number.MIN_VALUE, Number.MAX_VALUE];
    for (const v of fixed) expect(jsonTenths(v)).toBe(JSON.stringify(Math.round(v * 10) / 10));
    fc.assert(
      fc.property(fc.oneof(fc.double(), fc.double({ min: 0, max: 1e6, noNaN: true }), fc.double({ min: 0, max: 300_000, noNaN: true }), fc.integer({ min: 0, max: 2 ** 31 + 10 }).map((n) => n / 10), fc.integer()), (v) => {
        expect(jsonTenths(v)).toBe(JSON.stringify(Math.round(v * 10) / 10));
      }),
      { numRuns: 20000 },
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

  it("isoTimeMs is Date.parse, for isoTime's texts in and across seconds and for any other text", () => {
    const fixed = [0, 1, 999, 1000, 1001, -1, -999, -1000, -1001, 1_764_500_000_123, 253_402_300_799_999, -62_167_219_200_000, 8.64e15];
    for (const ms of fixed) expect(isoTimeMs(isoTime(ms))).toBe(Date.parse(new Date(ms).toISOString()));
    const odd = ["", "x", "2026-12-01T02:05:07.123", "2026-12-01T02:05:07.12Z", "2026-12-01T02:05:07.1234Z", "2026-12-01T02:05:07.1a3Z", "2026-12-01T02:05:07.123z", "2026-12-01T02:05:07.123+", "2026-12-01T02:05:07.123 ",
      "2026-12-01T02:05:07.123+01:00", "2026-12-01T02:05:07Z", "2026-12-01 02:05:07.123Z", "+002026-12-01T02:05:07.123Z", "2026-02-30T02:05:07.123Z", "2026-12-01T24:00:00.000Z", "2026-12-01T02:05:07./23Z", "2026-12-01T02:05:07.:23Z"];
    // Each odd text right after a valid one of the same second, so the remembered prefix is in play.
    for (const t of odd) {
      expect(isoTimeMs("2026-12-01T02:05:07.500Z")).toBe(Date.parse("2026-12-01T02:05:07.500Z"));
      expect(Object.is(isoTimeMs(t), Date.parse(t)), t).toBe(true);
    }
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.integer({ min: -1e13, max: 1e13 }), fc.integer({ min: 1_764_500_000_000, max: 1_764_500_003_000 }), fc.integer({ min: -2_000, max: 2_000 })), { maxLength: 50 }),
        fc.string({ maxLength: 30 }),
        (list, junk) => {
          for (const ms of list) {
            const t = isoTime(ms);
            expect(isoTimeMs(t)).toBe(Date.parse(t));
            const mangled = t.slice(0, 20) + junk;
            expect(Object.is(isoTimeMs(mangled), Date.parse(mangled)), mangled).toBe(true);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});

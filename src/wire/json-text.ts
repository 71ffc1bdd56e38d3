/*
 * JSON text of single values, for lines the gateway writes from templates (the access line, the
 * audit record): the same text JSON.stringify gives, without its call into the runtime for the
 * common case. JSON.stringify of a string or a number leaves JavaScript for C++ (about a thousand
 * instructions a value, counted under callgrind); a line of fifteen values paid that fifteen times.
 */

/** What JSON.stringify escapes in a string: `"`, `\`, control characters, and lone surrogates (any surrogate here: the slow path decides). */
const ESCAPED = /["\\\u0000-\u001f\ud800-\udfff]/;

/** `JSON.stringify(s)` for a string. */
export function jsonString(s: string): string {
  return ESCAPED.test(s) ? JSON.stringify(s) : `"${s}"`;
}

/**
 * `JSON.stringify(v)` for a value that is not undefined, a function or a symbol: strings, finite
 * numbers and booleans without the runtime call, anything else (objects, NaN, a bigint's error) by
 * JSON.stringify itself.
 */
export function jsonValue(v: unknown): string {
  switch (typeof v) {
    case "string":
      return jsonString(v);
    case "number":
      // Number-to-string is the algorithm JSON uses for a finite number (-0 included: "0").
      return Number.isFinite(v) ? `${v}` : "null";
    case "boolean":
      return v ? "true" : "false";
    default:
      return JSON.stringify(v);
  }
}

/**
 * `JSON.stringify(Math.round(ms * 10) / 10)`: a time in milliseconds to a tenth, as the access line
 * writes it. A whole number of tenths below 2^31 is written from its two integer parts: the
 * shortest text of q + d/10 is `q.d` (no shorter text is nearer that double), and V8 writes a
 * fraction through its slow number-to-text path (hundreds of instructions) where a small integer
 * is a cache lookup. Anything else (negative, huge, NaN) through jsonValue.
 */
export function jsonTenths(ms: number): string {
  const n = Math.round(ms * 10);
  if (n >= 0 && n < 2147483648) {
    const d = n % 10;
    const q = (n - d) / 10;
    return d === 0 ? `${q}` : `${q}.${d}`;
  }
  return jsonValue(n / 10);
}

let isoSecond = Number.NaN;
let isoPrefix = "";

/**
 * `new Date(ms).toISOString()`: the date and time to the second are formatted once per second
 * (Date's formatter is a runtime call costing several thousand instructions), the milliseconds
 * appended. Anything but an integer in years 0000-9999 goes through Date itself, errors included.
 */
export function isoTime(ms: number): string {
  if (!Number.isSafeInteger(ms)) return new Date(ms).toISOString();
  const second = Math.floor(ms / 1000);
  if (second !== isoSecond) {
    const full = new Date(ms).toISOString();
    if (full.length !== 24) return full;
    isoSecond = second;
    isoPrefix = full.slice(0, 20);
    return full;
  }
  const milli = ms - second * 1000;
  return `${isoPrefix}${milli < 10 ? "00" : milli < 100 ? "0" : ""}${milli}Z`;
}

let parsedPrefix = "";
let parsedSecondMs = Number.NaN;

/**
 * `Date.parse(text)`, for the times isoTime writes (the audit log reads each record's back for its
 * segment's newest time): a text of the form `YYYY-MM-DDTHH:MM:SS.mmmZ` whose first 20 characters
 * are those of the last one parsed is that second plus its milliseconds, without Date's parser (a
 * runtime call per record). Anything else, and each new second, goes through Date.parse itself.
 */
export function isoTimeMs(text: string): number {
  if (text.length === 24 && text.charCodeAt(23) === 90 /* Z */ && parsedPrefix !== "" && text.startsWith(parsedPrefix)) {
    const a = text.charCodeAt(20) - 48;
    const b = text.charCodeAt(21) - 48;
    const c = text.charCodeAt(22) - 48;
    if (a >= 0 && a <= 9 && b >= 0 && b <= 9 && c >= 0 && c <= 9) return parsedSecondMs + a * 100 + b * 10 + c;
  }
  const ms = Date.parse(text);
  // A second is remembered only from a text that is exactly its millisecond's ISO form.
  if (text.length === 24 && Number.isSafeInteger(ms) && text === new Date(ms).toISOString()) {
    parsedPrefix = text.slice(0, 20);
    parsedSecondMs = ms - (((ms % 1000) + 1000) % 1000);
  }
  return ms;
}

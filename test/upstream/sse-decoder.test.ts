import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MAX_SSE_EVENT_CHARS, SseDecoder, SseEventTooLarge, Utf8Reads, type SseEvent } from "../../src/upstream/index.js";
import { cutText } from "../helpers/cut-text.js";

const enc = new TextEncoder();

function decodeAll(parts: Uint8Array[]): SseEvent[] {
  const d = new SseDecoder();
  const out: SseEvent[] = [];
  for (const p of parts) out.push(...d.push(p));
  out.push(...d.end());
  return out;
}

describe("SseDecoder", () => {
  it("decodes vLLM's stream with usage chunk and [DONE]", () => {
    const wire =
      'data: {"id":"chatcmpl-X","choices":[{"index":0,"delta":{"content":"Hello"}}]}\n\n' +
      'data: {"id":"chatcmpl-X","choices":[],"usage":{"prompt_tokens":12}}\n\n' +
      "data: [DONE]\n\n";
    const events = decodeAll([enc.encode(wire)]);
    expect(events.map((e) => e.data)).toEqual([
      '{"id":"chatcmpl-X","choices":[{"index":0,"delta":{"content":"Hello"}}]}',
      '{"id":"chatcmpl-X","choices":[],"usage":{"prompt_tokens":12}}',
      "[DONE]",
    ]);
  });

  it("accepts CR, LF and CRLF line ends, comments, event names, multi-line data and no space after the colon", () => {
    const wire = ": keep-alive\r\nevent: error\r\ndata: line one\rdata:line two\n\r\nid: 7\ndata: x\n\n";
    const events = decodeAll([enc.encode(wire)]);
    expect(events).toEqual([
      { event: "error", data: "line one\nline two", id: undefined },
      { event: undefined, data: "x", id: "7" },
    ]);
  });

  it("keeps a CRLF split across two network chunks as one line end", () => {
    const events = decodeAll([enc.encode("data: a\r"), enc.encode("\ndata: b\r\n\r\n")]);
    expect(events).toEqual([{ event: undefined, data: "a\nb", id: undefined }]);
  });

  it("reassembles UTF-8 split inside a character", () => {
    const bytes = enc.encode("data: héllo 😀 wörld\n\n");
    const events = decodeAll([...bytes].map((b) => Uint8Array.of(b)));
    expect(events[0]!.data).toBe("héllo 😀 wörld");
  });

  it("drops an event that never got its blank line and reports the truncation", () => {
    const d = new SseDecoder();
    expect(d.push(enc.encode("data: whole\n\ndata: cut"))).toHaveLength(1);
    expect(d.pending).toBe(true);
    expect(d.end()).toEqual([]);
  });

  it("gives the same events for every chunking of the same bytes (property)", () => {
    const line = fc.string({ unit: fc.constantFrom("a", "é", "😀", " ", ":", "{", "}", '"'), maxLength: 12 });
    const event = fc.record({ data: fc.array(line, { minLength: 1, maxLength: 3 }), comment: fc.boolean(), eol: fc.constantFrom("\n", "\r\n", "\r") });
    fc.assert(
      fc.property(fc.array(event, { maxLength: 6 }), fc.array(fc.nat(), { maxLength: 10 }), (evs, cuts) => {
        const wire = evs
          .map((e) => (e.comment ? `: note${e.eol}` : "") + e.data.map((d) => `data: ${d}${e.eol}`).join("") + e.eol)
          .join("");
        const bytes = enc.encode(wire);
        const whole = decodeAll([bytes]);
        expect(whole.map((e) => e.data)).toEqual(evs.map((e) => e.data.join("\n")));
        expect(decodeAll(cutText(bytes, cuts))).toEqual(whole);
      }),
      { numRuns: 300 },
    );
  });

  it("decodes reads exactly as one streaming TextDecoder does, on every split of every byte string (property)", () => {
    // Bytes that make and break UTF-8: ASCII, line ends, continuation bytes, lead bytes of every
    // length, bytes never valid, and a BOM's, so that reads end inside, after and between characters.
    const byte = fc.oneof(
      fc.constantFrom(0x41, 0x0a, 0x0d, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbb, 0xbf, 0xc0, 0xc2, 0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff),
      fc.integer({ min: 0, max: 255 }),
    );
    const bom = fc.constantFrom([], [0xef, 0xbb, 0xbf], [0xef, 0xbb]);
    fc.assert(
      fc.property(bom, fc.array(byte, { maxLength: 40 }), fc.array(fc.nat(), { maxLength: 8 }), (head, body, cuts) => {
        const bytes = Uint8Array.from([...head, ...body]);
        const parts = cutText(bytes, cuts);
        const ref = new TextDecoder("utf-8", { fatal: false, ignoreBOM: false });
        const reads = new Utf8Reads();
        for (const p of parts) expect(reads.decode(p)).toBe(ref.decode(p, { stream: true }));
        expect(reads.end()).toBe(ref.decode());
      }),
      { numRuns: 3000 },
    );
    // A BOM is dropped at the stream's start only, whichever path decodes it.
    const r = new Utf8Reads();
    expect(r.decode(enc.encode("\uFEFFa\n"))).toBe("a\n");
    expect(r.decode(enc.encode("\uFEFFb\n"))).toBe("\uFEFFb\n");
    expect(r.decode(Uint8Array.of(0xef, 0xbb))).toBe("");
    expect(r.decode(Uint8Array.of(0xbf, 0x0a))).toBe("\uFEFF\n");
  });

  it("never throws on arbitrary bytes (fuzz)", () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 8 }), (parts) => {
        const events = decodeAll(parts);
        for (const e of events) expect(typeof e.data).toBe("string");
      }),
      { numRuns: 300 },
    );
  });

  it("joins a line that spans many reads once, exactly (a 512 Ki-character event in 16 KiB reads)", () => {
    const payload = "é😀ab".repeat(128 * 1024 / 4).repeat(4);
    const bytes = enc.encode(`data: first\n\ndata: ${payload}\n\n`);
    const parts: Uint8Array[] = [];
    for (let i = 0; i < bytes.length; i += 16 * 1024) parts.push(bytes.subarray(i, i + 16 * 1024));
    const events = decodeAll(parts);
    expect(events.map((e) => e.data.length)).toEqual([5, payload.length]);
    expect(events[1]!.data === payload).toBe(true);
  });

  it("bounds an event: past the bound it reports the overflow, keeps what came before, and decodes nothing more", () => {
    const d = new SseDecoder(100);
    const out = d.push(enc.encode(`data: ok\n\ndata: ${"x".repeat(60)}\n`));
    expect(out.map((e) => e.data)).toEqual(["ok"]);
    expect(d.overflow).toBeUndefined();
    // A second data line of the same event takes it past 100 characters.
    expect(d.push(enc.encode(`data: ${"y".repeat(60)}`))).toEqual([]);
    expect(d.overflow).toBeInstanceOf(SseEventTooLarge);
    expect(d.push(enc.encode("\n\ndata: later\n\n"))).toEqual([]);
    expect(d.end()).toEqual([]);
    // One line that never ends, in small reads, overflows as well.
    const e = new SseDecoder(100);
    for (let i = 0; i < 10; i++) e.push(enc.encode("z".repeat(15)));
    expect(e.overflow).toBeInstanceOf(SseEventTooLarge);
    expect(MAX_SSE_EVENT_CHARS).toBe(1024 * 1024);
  });

  it("bounds an event that crosses the bound and ends within the same read", () => {
    // Found by a review: the bound was checked only at the end of each read.
    const d = new SseDecoder(100);
    expect(d.push(enc.encode(`data: ${"a".repeat(90)}\n`))).toEqual([]);
    expect(d.push(enc.encode(`data: ${"b".repeat(5000)}\n\ndata: after\n\n`))).toEqual([]);
    expect(d.overflow).toBeInstanceOf(SseEventTooLarge);
    const one = new SseDecoder(100);
    expect(one.push(enc.encode(`data: ok\n\ndata: ${"c".repeat(5000)}\n\ndata: after\n\n`)).map((e) => e.data)).toEqual(["ok"]);
    expect(one.overflow).toBeInstanceOf(SseEventTooLarge);
  });
});

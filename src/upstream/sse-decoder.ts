/**
 * A Server-Sent Events decoder that follows the WHATWG event-stream parsing rules: lines end in
 * CR, LF or CRLF (a CR at the end of one network chunk may be followed by its LF in the next),
 * UTF-8 may split anywhere, `:` lines are comments, several `data:` lines join with `\n`, and a
 * blank line dispatches the event. Events with no data are not dispatched.
 */
export interface SseEvent {
  event: string | undefined;
  data: string;
  id: string | undefined;
}

/**
 * The largest event a stream may send, in characters (its data lines and any line not yet ended).
 * A vLLM chunk is one token's delta per choice (with logprobs, a few KiB); one event is parsed on
 * the event loop, so its size is what one parse may cost.
 */
export const MAX_SSE_EVENT_CHARS = 1024 * 1024;

/** An event larger than the decoder's bound: the stream is malformed (or hostile). */
export class SseEventTooLarge extends Error {
  constructor(readonly limit: number) {
    super(`a stream event larger than ${limit} characters`);
  }
}

/**
 * UTF-8 reads to text, as one streaming TextDecoder (BOM stripped at the stream's start, replacement
 * characters for bad bytes) would give. A read that ends in an ASCII byte while nothing is held
 * from the read before is decoded whole by Buffer's decoder, ~3x cheaper per read than the
 * streaming TextDecoder (which goes through ICU); an SSE read nearly always ends in "\n". The
 * TextDecoder is made, and used, only for reads that end inside a character, and the one after.
 * Equal to the TextDecoder on every split of every byte string (test/upstream/sse-decoder.test.ts).
 */
export class Utf8Reads {
  private decoder: InstanceType<typeof TextDecoder> | undefined;
  /** The decoder may hold the start of a character (its last read did not end in ASCII). */
  private held = false;
  /** Nothing decoded yet: a BOM at the start is dropped. */
  private fresh = true;

  decode(bytes: Uint8Array): string {
    const n = bytes.length;
    if (n === 0) return "";
    if (!this.held && bytes[n - 1]! < 0x80) {
      const b = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, n);
      const s = b.toString("utf8");
      if (this.fresh) {
        this.fresh = false;
        if (s.charCodeAt(0) === 0xfeff) return s.slice(1);
      }
      return s;
    }
    // A BOM is the stream's only at its start: a decoder made later keeps one.
    this.decoder ??= new TextDecoder("utf-8", { fatal: false, ignoreBOM: !this.fresh });
    this.fresh = false;
    this.held = bytes[n - 1]! >= 0x80;
    return this.decoder.decode(bytes, { stream: true });
  }

  /** The stream's end: a character left unfinished becomes a replacement character. */
  end(): string {
    if (!this.held) return "";
    this.held = false;
    return this.decoder!.decode();
  }
}

export class SseDecoder {
  private readonly text = new Utf8Reads();
  /** The pieces of a line not ended yet, as they came: each read is searched for line ends once. */
  private partial: string[] = [];
  private partialChars = 0;
  private skipLeadingLf = false;
  private data: string[] = [];
  private dataChars = 0;
  private eventType: string | undefined;
  private lastId: string | undefined;

  constructor(private readonly maxEventChars = MAX_SSE_EVENT_CHARS) {}

  /**
   * Set once an event outgrows the bound: the events completed before it were returned, the rest
   * of the stream is not decoded (the caller ends the stream with an error).
   */
  overflow: SseEventTooLarge | undefined;

  /** Feeds bytes; returns the events completed by them (none once `overflow` is set). */
  push(bytes: Uint8Array): SseEvent[] {
    return this.feed(this.text.decode(bytes));
  }

  /** Ends the stream; an event without its closing blank line is discarded, as the spec says. */
  end(): SseEvent[] {
    const out = this.feed(this.text.end());
    this.partial = [];
    this.partialChars = 0;
    this.data = [];
    this.dataChars = 0;
    return out;
  }

  /** True when bytes have arrived that do not yet form a complete event (a truncated stream). */
  get pending(): boolean {
    return this.partialChars > 0 || this.data.length > 0;
  }

  private feed(chunk: string): SseEvent[] {
    const out: SseEvent[] = [];
    if (this.overflow) return out;
    let start = 0;
    if (this.skipLeadingLf && chunk.length > 0) {
      if (chunk.charCodeAt(0) === 10) start = 1;
      this.skipLeadingLf = false;
    }
    // Line ends found by indexOf (native, a word at a time) rather than a loop over characters:
    // ~8% of the main thread's time relaying a stream of one-character deltas. A CR is looked for
    // again only once passed: -2 not yet searched, -1 none left in this read.
    let cr = -2;
    for (;;) {
      const lf = chunk.indexOf("\n", start);
      if (cr !== -1 && cr < start) cr = chunk.indexOf("\r", start);
      const end = cr < 0 ? lf : lf < 0 ? cr : Math.min(lf, cr);
      if (end < 0) break;
      let line = chunk.slice(start, end);
      if (this.partialChars > 0) {
        // A line that began in earlier reads: joined once, when it ends (not re-searched per read).
        this.partial.push(line);
        line = this.partial.join("");
        this.partial = [];
        this.partialChars = 0;
      }
      this.line(line, out);
      // An event past the bound within this read: the events before it stand, nothing after.
      if (this.overflow) return out;
      if (chunk.charCodeAt(end) === 13) {
        if (end + 1 < chunk.length) start = chunk.charCodeAt(end + 1) === 10 ? end + 2 : end + 1;
        else {
          start = end + 1;
          this.skipLeadingLf = true;
        }
      } else start = end + 1;
    }
    if (start < chunk.length) {
      this.partial.push(start === 0 ? chunk : chunk.slice(start));
      this.partialChars += chunk.length - start;
    }
    if (this.partialChars + this.dataChars > this.maxEventChars) this.overflowed();
    return out;
  }

  private overflowed(): void {
    this.overflow = new SseEventTooLarge(this.maxEventChars);
    this.partial = [];
    this.partialChars = 0;
    this.data = [];
    this.dataChars = 0;
  }

  private line(line: string, out: SseEvent[]): void {
    if (line.length === 0) {
      if (this.data.length > 0) out.push({ event: this.eventType, data: this.data.join("\n"), id: this.lastId });
      this.data = [];
      this.dataChars = 0;
      this.eventType = undefined;
      return;
    }
    if (line.charCodeAt(0) === 58 /* : */) return;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32) value = value.slice(1);
    switch (field) {
      case "data":
        this.data.push(value);
        this.dataChars += value.length + 1;
        // Checked as each line lands, not only at the end of a read: an event that crosses the
        // bound and ends within the same read is refused too.
        if (this.dataChars > this.maxEventChars) this.overflowed();
        break;
      case "event":
        this.eventType = value;
        break;
      case "id":
        if (!value.includes("\0")) this.lastId = value;
        break;
      default:
        break; // `retry` and unknown fields do not concern a proxy
    }
  }
}

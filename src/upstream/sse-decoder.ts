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

export class SseDecoder {
  private readonly text = new TextDecoder("utf-8", { fatal: false, ignoreBOM: false });
  private buffer = "";
  private skipLeadingLf = false;
  private data: string[] = [];
  private eventType: string | undefined;
  private lastId: string | undefined;

  /** Feeds bytes; returns the events completed by them. */
  push(bytes: Uint8Array): SseEvent[] {
    return this.feed(this.text.decode(bytes, { stream: true }));
  }

  /** Ends the stream; an event without its closing blank line is discarded, as the spec says. */
  end(): SseEvent[] {
    const out = this.feed(this.text.decode());
    this.buffer = "";
    this.data = [];
    return out;
  }

  /** True when bytes have arrived that do not yet form a complete event (a truncated stream). */
  get pending(): boolean {
    return this.buffer.length > 0 || this.data.length > 0;
  }

  private feed(chunk: string): SseEvent[] {
    const out: SseEvent[] = [];
    let s = this.buffer + chunk;
    let start = 0;
    if (this.skipLeadingLf && s.length > 0) {
      if (s.charCodeAt(0) === 10) start = 1;
      this.skipLeadingLf = false;
    }
    for (;;) {
      let end = -1;
      for (let i = start; i < s.length; i++) {
        const c = s.charCodeAt(i);
        if (c === 10 || c === 13) {
          end = i;
          break;
        }
      }
      if (end < 0) break;
      this.line(s.slice(start, end), out);
      if (s.charCodeAt(end) === 13) {
        if (end + 1 < s.length) start = s.charCodeAt(end + 1) === 10 ? end + 2 : end + 1;
        else {
          start = end + 1;
          this.skipLeadingLf = true;
        }
      } else start = end + 1;
    }
    this.buffer = start < s.length ? s.slice(start) : "";
    return out;
  }

  private line(line: string, out: SseEvent[]): void {
    if (line.length === 0) {
      if (this.data.length > 0) out.push({ event: this.eventType, data: this.data.join("\n"), id: this.lastId });
      this.data = [];
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

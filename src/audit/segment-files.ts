import { createReadStream } from "node:fs";
import { open, readdir } from "node:fs/promises";
import { join } from "node:path";

/**
 * Segment files are named by the seq of their first record, zero-padded so that name order is
 * seq order: `segment-00000000000000000001.jsonl`. The name is checked against the content by the
 * verifier, so renaming or reordering files is itself detectable.
 */
const SEGMENT_RE = /^segment-(\d{20})\.jsonl$/;

export interface SegmentFile {
  name: string;
  path: string;
  firstSeq: number;
}

export function segmentName(firstSeq: number): string {
  return `segment-${String(firstSeq).padStart(20, "0")}.jsonl`;
}

export async function listSegments(dir: string): Promise<SegmentFile[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw e;
  }
  const out: SegmentFile[] = [];
  for (const name of names) {
    const m = SEGMENT_RE.exec(name);
    if (m) out.push({ name, path: join(dir, name), firstSeq: Number(m[1]) });
  }
  return out.sort((a, b) => a.firstSeq - b.firstSeq);
}

export interface SegmentLine {
  /** 1-based line number within the segment. */
  lineNo: number;
  text: string;
  /** Byte offset of the line's start. */
  offset: number;
  /** False only for a final line without its newline: a write torn by a crash. */
  complete: boolean;
}

/**
 * Lines of a segment, streamed. We split on the newline byte ourselves rather than using readline
 * because the verifier and the recovery code need to know whether the last line was terminated.
 */
export async function* readSegmentLines(path: string, startOffset = 0, startLineNo = 1): AsyncGenerator<SegmentLine> {
  const stream = createReadStream(path, { start: startOffset, highWaterMark: 256 * 1024 });
  let carry: Buffer | undefined;
  let offset = startOffset;
  let lineNo = startLineNo;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    let buf = carry ? Buffer.concat([carry, chunk]) : chunk;
    let start = 0;
    for (;;) {
      const nl = buf.indexOf(0x0a, start);
      if (nl < 0) break;
      yield { lineNo: lineNo++, text: buf.toString("utf8", start, nl), offset, complete: true };
      offset += nl + 1 - start;
      start = nl + 1;
    }
    carry = start < buf.length ? buf.subarray(start) : undefined;
    buf = Buffer.alloc(0);
  }
  if (carry && carry.length > 0) yield { lineNo, text: carry.toString("utf8"), offset, complete: false };
}

export interface LastLine {
  /** The last newline-terminated line, if any. */
  text: string | undefined;
  /** Byte length up to and including that line's newline: where a torn tail starts. */
  completeBytes: number;
  /** Total file size. */
  size: number;
}

/** The last complete line of a file, found by reading backwards so opening a big segment stays cheap. */
export async function readLastCompleteLine(path: string): Promise<LastLine> {
  const fh = await open(path, "r");
  try {
    const size = (await fh.stat()).size;
    const chunkSize = 64 * 1024;
    let end = size;
    let tail = Buffer.alloc(0);
    let completeBytes = -1;
    // Walk back to the last newline: everything after it is a torn tail.
    while (end > 0) {
      const start = Math.max(0, end - chunkSize);
      const buf = Buffer.alloc(end - start);
      await fh.read(buf, 0, buf.length, start);
      tail = Buffer.concat([buf, tail]);
      end = start;
      if (completeBytes < 0) {
        const nl = tail.lastIndexOf(0x0a);
        if (nl >= 0) completeBytes = end + nl + 1;
      }
      if (completeBytes >= 0) {
        const lineEnd = completeBytes - 1 - end;
        // (a negative offset would search from the end, hence the guard)
        const prevNl = lineEnd > 0 ? tail.lastIndexOf(0x0a, lineEnd - 1) : -1;
        if (prevNl >= 0 || end === 0) {
          return { text: tail.toString("utf8", prevNl + 1, lineEnd), completeBytes, size };
        }
      }
    }
    return { text: undefined, completeBytes: 0, size };
  } finally {
    await fh.close();
  }
}

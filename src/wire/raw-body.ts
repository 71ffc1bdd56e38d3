const MODEL_KEY = Buffer.from('"model"');

/**
 * Whether `"model"` occurs once in the JSON bytes. Inside a JSON string a quote is always escaped,
 * so each occurrence is a key (or a string value `"model"`): once means the body names its model
 * once, and a server that keeps the first of duplicate keys cannot read another model than the
 * one the gateway routed on.
 */
export function namesModelOnce(bytes: Uint8Array): boolean {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const at = buf.indexOf(MODEL_KEY);
  return at >= 0 && buf.indexOf(MODEL_KEY, at + MODEL_KEY.length) < 0;
}

const rawChunks = new WeakMap<object, string>();

/** A streamed chunk's JSON as the upstream sent it (one SSE event's data), kept beside the parsed chunk. */
export function keepRawChunk(chunk: object, data: string): void {
  rawChunks.set(chunk, data);
}

/**
 * The upstream's own text of a chunk that is the very object parsed from it, when that text fits
 * on one `data:` line (an event of several data lines is re-serialised: its line breaks would end
 * the field).
 */
export function rawChunkOf(chunk: object): string | undefined {
  const data = rawChunks.get(chunk);
  return data !== undefined && data.indexOf("\n") < 0 ? data : undefined;
}

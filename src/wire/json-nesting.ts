/**
 * True when brackets outside strings nest deeper than `max`. Checked on the raw bytes before
 * parsing, so a hostile body cannot drive the parser or later tree walks into deep recursion.
 */
export function nestingExceeds(bytes: Uint8Array, max: number): boolean {
  if (opensAtMost(bytes, max)) return false;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i]!;
    if (inString) {
      if (c === 0x5c /* \\ */) i++;
      else if (c === 0x22 /* " */) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      if (++depth > max) return true;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return false;
}

/**
 * Whether the bytes hold at most `max` opening brackets, strings included: then nothing can nest
 * deeper than `max`, and the walk over every byte is skipped. Each bracket is found by Buffer's
 * native search, so an ordinary request (a few brackets in a few hundred bytes) costs a few
 * searches rather than a loop step per byte (about 3x less time for the bench's chat body); past
 * `max` brackets it stops and the walk decides (issue #20).
 */
function opensAtMost(bytes: Uint8Array, max: number): boolean {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let n = 0;
  for (let i = buf.indexOf(0x7b); i >= 0; i = buf.indexOf(0x7b, i + 1)) if (++n > max) return false;
  for (let i = buf.indexOf(0x5b); i >= 0; i = buf.indexOf(0x5b, i + 1)) if (++n > max) return false;
  return true;
}

/**
 * Canonical JSON for hashing: object keys sorted by UTF-16 code unit order at every depth, no
 * whitespace, `undefined` members dropped (as JSON.stringify does). The writer hashes the in-memory
 * record and the verifier hashes the parsed line; both must give the same bytes, so key order is
 * the only freedom JSON leaves that we have to pin down.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") {
    // Strings, numbers, booleans: JSON.stringify is already deterministic for these.
    return JSON.stringify(value) ?? "null";
  }
  if (Array.isArray(value)) {
    let out = "[";
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out += ",";
      const item: unknown = value[i];
      out += item === undefined || typeof item === "function" ? "null" : canonicalJson(item);
    }
    return out + "]";
  }
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj).sort();
  let out = "{";
  let first = true;
  for (const key of keys) {
    const v = obj[key];
    if (v === undefined || typeof v === "function") continue;
    if (!first) out += ",";
    first = false;
    out += JSON.stringify(key) + ":" + canonicalJson(v);
  }
  return out + "}";
}

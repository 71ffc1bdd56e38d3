import { createHash } from "node:crypto";

/*
 * How an error message or a record names a string the client sent (a model, a policy id, a
 * path): never verbatim. Such a string can be anything — a key pasted into the wrong field, an
 * e-mail address, megabytes — and an error travels further than the request: client logs,
 * proxies, support tickets. A short hash still lets an operator match the answer to its audit
 * record (the record carries the same placeholder) and tell two names apart.
 */

/** `kind:` and the first 16 hex digits of the text's SHA-256: e.g. `unknown-model:1f0c…` (bounded, printable). */
export function hashedPlaceholder(kind: string, text: string): string {
  return `${kind}:${createHash("sha256").update(text).digest("hex").slice(0, 16)}`;
}

/**
 * The readable part of a JSON.parse error (V8's words), or a fixed phrase: only the messages made
 * of grammar and a position are kept. V8 quotes the client's body in the others (`Unexpected
 * token 'S', "SECRET-KEY"... is not valid JSON`): its first character and up to ten around the
 * fault, which may be a key or a person's details.
 */
export function jsonSyntaxDetail(err: unknown): string {
  const message = err instanceof SyntaxError ? err.message : "";
  if (GRAMMAR.test(message) || message === "Unexpected end of JSON input") return message;
  if (message.startsWith("Unexpected token")) return "unexpected character";
  return "invalid JSON";
}

/** V8's JSON.parse messages that quote nothing of the text: a fixed phrase, then where. */
const GRAMMAR =
  /^(Expected property name or '\}'|Expected ',' or '\}' after property value|Expected ',' or '\]' after array element|Expected ':' after property name|Expected double-quoted property name|Unterminated string|Bad control character in string literal|Bad Unicode escape|Bad escaped character|No number after minus sign|Exponent part is missing a number|Unterminated fractional number|Unexpected number|Unexpected string|Unexpected non-whitespace character after JSON)( in JSON)? at position \d{1,10}( \(line \d{1,10} column \d{1,10}\))?$/;

/**
 * What a client is told when its request message cannot be decoded, built from fixed words, the
 * message type and field names of our own schema, and a position or a protobuf reader's reason:
 * never from the client's bytes. The decoders' own errors quote them — JSON.parse the first
 * characters of the body (`Unexpected token 'S', "SECRET-KEY"... is not valid JSON`), protobuf-es
 * the offending value (`expected number (float64), got "jane.doe@example.com"`) — and a request
 * body can hold a key, a password or a person's details. Used for the messages Connect refused
 * (rpc-fault.ts) and those a pool worker decodes (held-rpc-job.ts), so both say the same.
 */

/** The reasons protobuf-es's binary reader gives (@bufbuild/protobuf 2.x), none quoting a value; any other is left out. */
const BINARY_REASONS = [
  /^premature EOF$/,
  /^invalid varint$/,
  /^invalid end group tag$/,
  /^illegal tag: field no \d{1,10} wire type \d{1,2}$/,
  /^illegal tag: varint overflows uint32$/,
  /^cant skip wire type \d{1,2}$/,
  /^maximum recursion depth reached$/,
  /^cannot decode [A-Za-z0-9_.]{1,200} from binary: maximum recursion depth of \d{1,10} reached$/,
];

/** A protobuf message that could not be read: the type it should have been, and the reader's reason when it is one we know. */
export function undecodableProtobuf(typeName: string, reason: string): string {
  const known = BINARY_REASONS.some((r) => r.test(reason));
  return `the request message is not a valid ${typeName} in protobuf binary${known ? ` (${reason})` : ""}`;
}

/** JSON.parse's own messages (V8), which begin with one of these; the body's text may follow. */
const SYNTAX = /^(Unexpected|Expected|Unterminated|Bad (control|escaped|Unicode)|No number after|Exponent part|Unterminated fractional)/;
/** The only part of a syntax error kept: where it is. Anchored at the end, after any quoted text. */
const POSITION = / in JSON at position (\d{1,10})(?: \(line (\d{1,10}) column (\d{1,10})\))?$/;
/** protobuf-es's wrapper of every JSON decoding error, with the type's name. */
const WRAPPED = /^cannot decode message [A-Za-z0-9_.]{1,200} from JSON: /;
/** A value that does not fit its field: the field's (or oneof's) full name, from the schema. */
const FIELD = /^cannot decode (field|oneof) ([A-Za-z0-9_.]{1,300}) from JSON: /;

/**
 * A JSON message that could not be read: not JSON (with the position when the parser gave one),
 * not UTF-8, a field whose value does not fit it (the field named), or not the type's shape.
 */
export function undecodableJson(typeName: string, reason: string): string {
  const field = FIELD.exec(reason);
  if (field) return `the request message is not a valid ${typeName}: ${field[1]} ${field[2]} has a value it cannot take`;
  const inner = reason.replace(WRAPPED, "");
  if (/^The encoded data was not valid for encoding utf-8/.test(inner)) return "the request message is not valid UTF-8";
  if (SYNTAX.test(inner)) {
    const at = POSITION.exec(inner);
    if (!at) return "the request message is not valid JSON";
    return `the request message is not valid JSON (at position ${at[1]}${at[2] ? `, line ${at[2]} column ${at[3]}` : ""})`;
  }
  return `the request message is not a valid ${typeName} in JSON`;
}

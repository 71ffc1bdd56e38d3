/**
 * Throughput of the PII scanner over 1 MiB of mixed text (prose, code, numbers, logs and a sprinkle
 * of real PII), default pattern set and the full built-in set. Run: npx tsx bench/scanner.ts
 */
import { compileScanner } from "../src/policy/scan/index.js";
import { builtinPiiTypes, recognisersFor } from "../src/policy/pii/index.js";

const pieces = [
  "The quarterly report shows revenue of $1,234,567.89, up 12.5% from 2023-10-01 to 2024-01-15. ",
  "Order #123456789 shipped on 2024-03-02; tracking 1Z999AA10123456784 via UPS. ",
  "Contact alice.smith@example.com or call (415) 555-2671 for details. ",
  "const x = arr.map((v, i) => v * 2 + i); // version 1.2.3 released at 10:30:45\n",
  "GET /api/v1/users?id=42 200 12ms ip=192.168.10.24 ua=Mozilla/5.0\n",
  "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt. ",
  "Card on file 4111 1111 1111 1111, SSN 123-45-6789, IBAN GB82 WEST 1234 5698 7654 32. ",
  "Numbers: 3.14159 2.71828 1000000 42 7 99 1024 65535 8080 443 1e-9 0xdeadbeef. ",
  "In 1969, 600 million people watched; the rocket weighed 2,970,000 kg at liftoff. ",
];
let text = "";
for (let i = 0; text.length < 1 << 20; i++) text += pieces[(i * 7) % pieces.length];
text = text.slice(0, 1 << 20);
const mb = Buffer.byteLength(text) / 1e6;

function bench(name: string, types: readonly (typeof builtinPiiTypes)[number][]) {
  const scanner = compileScanner(recognisersFor(types));
  let n = 0;
  for (let i = 0; i < 3; i++) n = scanner.scan(text).length; // warm-up
  const runs = 10;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < runs; i++) scanner.scan(text);
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(`${name.padEnd(34)} ${((mb * runs) / s).toFixed(1).padStart(7)} MB/s  (${n} findings per MiB)`);
}

bench("default (ssn, card, email)", ["ssn", "credit_card", "email"]);
bench("common (+phone, iban, ip_address)", ["ssn", "credit_card", "email", "phone", "iban", "ip_address"]);
bench("all built-in", builtinPiiTypes);

// Long realistic prose with sparse PII (one value per ~20 KB), as a RAG prompt of 1 MiB: the whole
// PII chain as EvaluatePolicy runs it (normalised view, all ten recognisers, redaction), and the
// content lexicon. Then bad input, which must take linear time.
const { compilePolicyEngine } = await import("../src/policy/index.js");
const { scoreText } = await import("../src/policy/content/index.js");
const { prose } = await import("./prose.js");
const { ruleSchema } = await import("../src/config/schema.js");
const long = prose(1 << 20);
const engine = compilePolicyEngine({
  source: "bench",
  pack: undefined,
  targets: [],
  policies: [{ id: "p", description: undefined, rules: [ruleSchema.parse({ type: "pii_detection", patterns: builtinPiiTypes })] }],
  audit: undefined,
  streaming: { mode: "buffered" },
  apiKeys: [],
  limits: {},
} as never);

async function timed(name: string, bytes: number, f: () => unknown, runs = 5): Promise<void> {
  await f();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < runs; i++) await f();
  const ms = Number(process.hrtime.bigint() - t0) / 1e6 / runs;
  console.log(`${name.padEnd(34)} ${((bytes / 1e6) / (ms / 1000)).toFixed(1).padStart(7)} MB/s  (${ms.toFixed(1)} ms)`);
}
const longMb = Buffer.byteLength(long);
await timed("prose 1 MiB: all ten (EvaluatePolicy)", longMb, () => engine.evaluateText(long, "request"));
await timed("prose 1 MiB: content lexicon", longMb, () => scoreText(long));
const bad: [string, string][] = [
  ["1 MiB digits and separators", Array.from({ length: 1 << 20 }, (_, i) => "0123456789 -./"[(i * 7919) % 14]).join("")],
  ["1 MiB of one digit", "4".repeat(1 << 20)],
  ["100 KB a@a.a.a…", "a@" + "a.".repeat(50_000)],
  ["100 KB a@a@a@…", "a@".repeat(50_000)],
  ["1 MiB lone surrogates", "\ud800a\udc00b".repeat(1 << 18)],
  ["1 MiB zero-width and full-width", "\u200b\uff14".repeat(1 << 19)],
];
for (const [name, t] of bad) await timed(`bad: ${name}`, t.length, () => engine.evaluateText(t, "request"), 1);

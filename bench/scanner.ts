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

// Long realistic prose with sparse PII (one value per ~20 KB), as a RAG prompt of 1 MiB, through
// the engine as EvaluatePolicy runs it (normalised view, recognisers, redaction; a text this long is
// scanned by a pool worker): the original ten recognisers (issue #12), the full fifteen with names
// and addresses (#18), and the content lexicon. Then the same recognisers in this thread (CPU time,
// no hand-off), bad input against prose (#13: cost per byte within 3x), and the CPU cost of a short
// chat request. Run on a shared machine: figures move with its load; compare rows of one run.
const { compilePolicyEngine } = await import("../src/policy/index.js");
const { scoreText } = await import("../test/fixtures/lexicon/index.js");
const { scanSource } = await import("../src/policy/scan/index.js");
const { prose } = await import("./prose.js");
const { ruleSchema } = await import("../src/config/schema.js");
// As a request body arrives: a flat string (JSON.parse), not the bench's joined slices.
const long = JSON.parse(JSON.stringify(prose(1 << 20))) as string;
const original = ["ssn", "credit_card", "email", "phone", "iban", "ip_address", "us_passport", "uk_nhs", "crypto_wallet", "secret"] as const;
const engineFor = (patterns: readonly string[]) =>
  compilePolicyEngine({
    source: "bench",
    pack: undefined,
    targets: [],
    policies: [{ id: "p", description: undefined, rules: [ruleSchema.parse({ type: "pii_detection", patterns })] }],
    audit: undefined,
    streaming: { mode: "buffered" },
    apiKeys: [],
    limits: {},
  } as never);
const tenEngine = engineFor(original);
const fullEngine = engineFor(builtinPiiTypes);

/** Wall time of an async call, median of `runs` (the pool hand-off waits for a core on a loaded machine). */
async function timed(name: string, bytes: number, f: () => unknown, runs = 9): Promise<number> {
  // Every pool worker compiles the rule's scanner on its first job.
  for (let i = 0; i < 4; i++) await f();
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    await f();
    ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  const m = ms.sort((a, b) => a - b)[runs >> 1]!;
  console.log(`${name.padEnd(44)} ${(bytes / 1e6 / (m / 1000)).toFixed(1).padStart(7)} MB/s  (${m.toFixed(1)} ms, median wall)`);
  return m / bytes;
}

/** CPU time of an async call that completes in this thread, best of 3 rounds of `runs`. */
async function cpuAsync(name: string, bytes: number, f: () => Promise<unknown>, runs = 5): Promise<void> {
  await f();
  let best = Infinity;
  for (let r = 0; r < 3; r++) {
    const c0 = process.cpuUsage();
    for (let i = 0; i < runs; i++) await f();
    const c = process.cpuUsage(c0);
    best = Math.min(best, (c.user + c.system) / 1000 / runs);
  }
  console.log(`${name.padEnd(44)} ${(bytes / 1e6 / (best / 1000)).toFixed(1).padStart(7)} MB/s  (${best.toFixed(2)} ms CPU)`);
}

/** CPU time per byte of a synchronous function (this thread only), best of `rounds`. */
function cpu(name: string, bytes: number, f: () => unknown, runs = 5, rounds = 3, against?: number): number {
  f();
  let best = Infinity;
  for (let r = 0; r < rounds; r++) {
    const c0 = process.cpuUsage();
    for (let i = 0; i < runs; i++) f();
    const c = process.cpuUsage(c0);
    best = Math.min(best, (c.user + c.system) / 1000 / runs);
  }
  const perByte = best / bytes;
  const ratio = against === undefined ? "" : `  ${(perByte / against).toFixed(1)}x prose`;
  console.log(`${name.padEnd(44)} ${(bytes / 1e6 / (best / 1000)).toFixed(1).padStart(7)} MB/s  (${best.toFixed(2)} ms CPU)${ratio}`);
  return perByte;
}

const longMb = Buffer.byteLength(long);
console.log("\n1 MiB of prose, sparse PII, through the engine (EvaluatePolicy; a pool worker scans it):");
await timed("original ten recognisers", longMb, () => tenEngine.evaluateText(long, "request"));
await timed("full set (+ person, address, postal, dob, loc.)", longMb, () => fullEngine.evaluateText(long, "request"));
// The same calls with the pool closed, so the scan runs in this thread: the engine's own work
// (normalised view, recognisers, redaction, findings) without the hand-off and the wait for a core.
const { scanPool } = await import("../src/policy/pool/index.js");
await scanPool().close();
console.log("\nThe same through the engine in this thread (pool closed), CPU time:");
await cpuAsync("original ten recognisers", longMb, () => tenEngine.evaluateText(long, "request"));
await cpuAsync("full set", longMb, () => fullEngine.evaluateText(long, "request"));
console.log("\nIn this thread, CPU time (normalise + scan):");
const tenScanner = compileScanner(recognisersFor(original));
const fullScanner = compileScanner(recognisersFor(builtinPiiTypes));
const tenProse = cpu("prose: original ten", longMb, () => scanSource(tenScanner, long), 10);
const fullProse = cpu("prose: full set", longMb, () => scanSource(fullScanner, long), 10);
const lexProse = cpu("prose: content lexicon (scoreText)", longMb, () => scoreText(long), 10);

const bad: [string, string][] = [
  ["1 MiB digits and separators", Array.from({ length: 1 << 20 }, (_, i) => "0123456789 -./"[(i * 7919) % 14]).join("")],
  ["1 MiB of one digit", "4".repeat(1 << 20)],
  ["1 MiB of '4111 1111 '", "4111 1111 ".repeat(Math.floor((1 << 20) / 10))],
  ["100 KB a@a.a.a…", "a@" + "a.".repeat(50_000)],
  ["100 KB a@a@a@…", "a@".repeat(50_000)],
  ["1 MiB of 'eyJa.'", "eyJa.".repeat(Math.floor((1 << 20) / 5))],
  ["1 MiB of PEM BEGIN lines", "-----BEGIN PRIVATE KEY-----\n".repeat(Math.floor((1 << 20) / 28))],
  ["1 MiB lone surrogates", "\ud800a\udc00b".repeat(1 << 18)],
  ["1 MiB zero-width and full-width", "\u200b\uff14".repeat(1 << 19)],
  ["1 MiB of capitalised words", "Jane Rose Will Paris Main Street ".repeat(Math.floor((1 << 20) / 33))],
];
console.log("\nBad input, CPU time in this thread (ratio: cost per byte against prose of the same set):");
for (const [name, t] of bad) {
  cpu(`ten: ${name}`, t.length, () => scanSource(tenScanner, t), 1, 3, tenProse);
  cpu(`full: ${name}`, t.length, () => scanSource(fullScanner, t), 1, 3, fullProse);
}
// The content lexicon's own worst shapes: every word a finding (each also tried against the benign
// phrases), the openings of its long phrases repeated without ever completing, and words that
// begin many phrases. 1 MiB each.
const mib = (s: string) => s.repeat(Math.floor((1 << 20) / s.length));
const lexiconBad: [string, string][] = [
  ["violent words", mib("kill murder shoot bomb attack ")],
  ["one violent word", mib("kill ")],
  ["weak words, four categories", mib("gun nude idiot cocaine ")],
  ["sexual words before 'with'", mib("sex naked nude with ")],
  ["intent openings", mib("how do i want to help me ")],
  ["intent + verb, no object", mib("how to kill the ")],
  ["'kill the' (benign opening)", mib("kill the ")],
  ["group openings", mib("all jews are the muslims ")],
  ["insult openings", mib("you are so stupid ")],
  ["benign openings", mib("shoot the photos ")],
  ["strong phrases", mib("i want to kill him. ")],
];
for (const [name, t] of lexiconBad) cpu(`lexicon: ${name}`, t.length, () => scoreText(t), 1, 3, lexProse);

// A typical short chat request (~300 bytes of text) through checkRequest: what each request pays.
const chat = {
  model: "m",
  messages: [
    { role: "system", content: "You are a helpful assistant for the billing team. Answer briefly." },
    { role: "user", content: "Hi, I moved last month and need to update the address on my account. Could you tell me which form to use and how long it takes? My order number is 88231 and I paid on 2024-03-02. Thanks!" },
  ],
};
console.log("\nShort chat request (~300 bytes) through checkRequest, CPU us per request:");
for (const [name, e] of [["original ten", tenEngine], ["full set", fullEngine]] as const) {
  for (let i = 0; i < 2000; i++) await e.checkRequest(chat as never, "chat");
  let best = Infinity;
  for (let r = 0; r < 3; r++) {
    const c0 = process.cpuUsage();
    for (let i = 0; i < 5000; i++) await e.checkRequest(chat as never, "chat");
    const c = process.cpuUsage(c0);
    best = Math.min(best, (c.user + c.system) / 5000);
  }
  console.log(`${name.padEnd(44)} ${best.toFixed(1).padStart(7)} us`);
}
process.exit(0);

/**
 * The language-level PII recognisers (person, street_address, postal_code, date_of_birth):
 * precision and recall per type on the generated labelled set (test/policy/pii-names-corpus.ts),
 * the share of texts without such a value that get no finding, then throughput on long prose with
 * the full recogniser set with and without them, and the CPU cost on a short chat request.
 * Run: npx tsx bench/pii-names.ts            (add --misses to list what was missed and what was wrong)
 */
import { builtinPiiTypes, recognisersFor, type BuiltinPiiType } from "../src/policy/pii/index.js";
import { compileScanner } from "../src/policy/scan/index.js";
import { corpus, decoys, score } from "../test/policy/pii-names-corpus.js";

const evaluated = ["person", "street_address", "postal_code", "date_of_birth"] as const;
const scanner = compileScanner(recognisersFor([...evaluated]));
const items = corpus();
const { scores, cleanShare, cleanTotal, misses, falses } = score(items, (t) => scanner.scan(t), evaluated);
console.log(`labelled set: ${items.length} texts (${cleanTotal} without any such value)`);
console.log("type             precision  recall   tp   fp   fn");
for (const s of scores)
  console.log(
    `${s.type.padEnd(16)} ${s.precision.toFixed(3).padStart(9)} ${s.recall.toFixed(3).padStart(7)} ${String(s.tp).padStart(4)} ${String(s.fp).padStart(4)} ${String(s.fn).padStart(4)}`,
  );
console.log(`texts without a value that get no finding: ${(cleanShare * 100).toFixed(1)}%`);
if (process.argv.includes("--misses")) {
  console.log("\nmissed:\n  " + misses.join("\n  "));
  console.log("\nwrong:\n  " + falses.join("\n  "));
}

// Long prose: ordinary English with the odd name and address, 1 MiB.
const sentences = [
  "The committee reviewed the proposal in detail and asked for a revised budget before the next meeting. ",
  "After the migration, the service handled twice the traffic with the same number of machines. ",
  "In the morning the team discussed the roadmap, and in the afternoon they wrote the design document. ",
  "Maria Lopez from the finance department confirmed that the invoices were paid on time. ",
  "The new library opened on Tuesday, and hundreds of people came to see the reading rooms. ",
  "Most customers prefer the annual plan because it is cheaper and easier to manage. ",
  "Please send the signed contract to 42 Maple Street, Springfield, IL 62704 by Friday. ",
  "When the storm passed, the village gathered in the square to clear the fallen branches. ",
  "The report notes that energy prices fell in the second quarter, while wages kept rising. ",
  "Our engineers in Berlin and Toronto will join the call, together with Dr. Chen. ",
  "It is worth reading the documentation before changing the default configuration. ",
  "The museum's collection includes paintings, sculptures and a large archive of letters. ",
];
let prose = "";
for (let i = 0; prose.length < 1 << 20; i++) prose += sentences[(i * 5) % sentences.length];
prose = prose.slice(0, 1 << 20);
const mb = Buffer.byteLength(prose) / 1e6;

/**
 * Seconds per scan of `prose` for each configuration: rounds interleaved and the best round kept,
 * so that load from other processes on the machine (which comes and goes) hits every row alike.
 */
function throughputs(configs: Record<string, readonly BuiltinPiiType[]>, rounds = 7): Record<string, number> {
  const scanners = Object.entries(configs).map(([k, types]) => [k, compileScanner(recognisersFor(types))] as const);
  const best: Record<string, number> = {};
  for (const [, s] of scanners) s.scan(prose);
  for (let r = 0; r < rounds; r++)
    for (const [k, s] of scanners) {
      // CPU time of this thread, not wall time: on a shared machine the wait for a core is not the scanner's.
      const c0 = process.cpuUsage();
      s.scan(prose);
      const c = process.cpuUsage(c0);
      best[k] = Math.min(best[k] ?? Infinity, (c.user + c.system) / 1e6);
    }
  return Object.fromEntries(Object.entries(best).map(([k, sec]) => [k, mb / sec]));
}

const without = builtinPiiTypes.filter((t) => !["person", "street_address", "postal_code", "date_of_birth", "location"].includes(t));
const withNames = [...without, "person", "street_address"] as BuiltinPiiType[];
const everything = builtinPiiTypes.filter((t) => t !== "location");
const rows = throughputs({
  "all pattern recognisers (before this change)": without,
  "+ person, street_address": withNames,
  "+ person, street_address, postal_code, date_of_birth": everything,
  "person alone": ["person"],
  "street_address alone": ["street_address"],
  "location alone": ["location"],
});
console.log(`\nlong prose, 1 MiB, best of 7 interleaved rounds, MB per CPU second:`);
for (const [k, v] of Object.entries(rows)) console.log(`  ${k.padEnd(54)} ${v.toFixed(1).padStart(7)}`);

// A short chat request: the cost these recognisers add to one scan of its text.
const chat = [
  "Hi! Can you help me write a polite email to my landlord asking when the heating will be repaired? It has been broken for a week.",
  "Summarise this: The quarterly numbers were strong, with revenue up 12% and costs flat. The board approved the new hiring plan.",
  ...decoys.slice(0, 20),
];
function perRequest(configs: Record<string, readonly BuiltinPiiType[]>): Record<string, number> {
  const scanners = Object.entries(configs).map(([k, types]) => [k, compileScanner(recognisersFor(types))] as const);
  for (const [, s] of scanners) for (let i = 0; i < 2000; i++) for (const c of chat) s.scan(c);
  const best: Record<string, number> = {};
  for (let r = 0; r < 9; r++)
    for (const [k, s] of scanners) {
      const n = 5000;
      const c0 = process.cpuUsage();
      for (let i = 0; i < n; i++) s.scan(chat[i % chat.length]!);
      const c = process.cpuUsage(c0);
      best[k] = Math.min(best[k] ?? Infinity, (c.user + c.system) / n);
    }
  return best;
}
const per = perRequest({ before: without, after: withNames });
console.log(
  `\nshort chat text (${chat.length} kinds, ~${Math.round(chat.reduce((a, c) => a + c.length, 0) / chat.length)} chars), CPU per scan, best of 9 rounds: ` +
    `${per.before!.toFixed(2)} us -> ${per.after!.toFixed(2)} us per scan with person + street_address (+${(per.after! - per.before!).toFixed(2)} us)`,
);

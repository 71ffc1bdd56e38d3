/**
 * Worst shapes per byte (issue #13: "the cost per byte of the worst input of every recogniser and
 * the content engine within 3× of ordinary prose"). Every engine configuration — each built-in PII
 * recogniser alone, the full built-in set, the content classifier (the content rule's engine) and
 * the content lexicon — reads 1 MiB of realistic prose (bench/prose.ts) and 1 MiB of each
 * adversarial shape below; the cost per byte of each shape is divided by the same configuration's
 * cost per byte on the prose. A single recogniser that seeks a rare trigger (`@`, `-----BEGIN `)
 * costs almost nothing on prose, so its shapes are also divided by the full set's prose cost (what
 * a rule with that recogniser alone is compared with in practice: the normalised view and the
 * scanner's walk are paid once per text whatever the set).
 *
 * CPU time of this thread's process (process.cpuUsage: not wall time, which on a shared machine is
 * mostly the wait for a core), best of ROUNDS (default 3). PII engines run as EvaluatePolicy and
 * the chat guard do (scanSource: normalised view, scan, offsets mapped back); the classifier as
 * judgeText does (ContentClassifier.score); the lexicon (test/fixtures/lexicon: the retired phrase
 * engine, no longer in any request path, kept as a scanner workload) as scoreText.
 *
 *   nice npx tsx bench/shapes.ts                      # everything (a few minutes on a loaded machine)
 *   ENGINES=full,classifier SHAPES=pem,zw nice npx tsx bench/shapes.ts
 *   ROUNDS=5 MATRIX=1 nice npx tsx bench/shapes.ts    # also print every engine × shape ratio
 *
 * "Bytes" are UTF-8 bytes of the text (what a request body's size limit bounds); each shape is cut
 * to 1 MiB of UTF-8. The × columns are per byte; for texts outside ASCII the cost per UTF-16 unit
 * is higher by bytes/units (printed in the summary as "u×").
 */
import { builtinPiiTypes, recognisersFor, type BuiltinPiiType } from "../src/policy/pii/index.js";
import { compileScanner, scanSource } from "../src/policy/scan/index.js";
import { ContentClassifier, defaultClassifier } from "../src/policy/content/index.js";
import { benignPatterns, harmfulEntries, scoreText, warmUpLexicon } from "../test/fixtures/lexicon/index.js";
import { prose } from "./prose.js";
import { nameShapes } from "./lib/name-shapes.js";

const MIB = 1 << 20;
const ROUNDS = Number(process.env.ROUNDS ?? 3);

/** `unit` repeated to exactly about 1 MiB of UTF-8 (never cutting a surrogate pair). */
function fill(unit: string): string {
  const per = Buffer.byteLength(unit);
  let s = unit.repeat(Math.floor(MIB / per));
  const rest = MIB - Buffer.byteLength(s);
  // Top up with whole code points of the unit.
  let k = 0;
  let add = 0;
  for (const ch of unit) {
    const b = Buffer.byteLength(ch);
    if (add + b > rest) break;
    add += b;
    k += ch.length;
  }
  s += unit.slice(0, k);
  return s;
}

/** Prose with `f` applied to each word (keeps the prose's words and PII, changes their spelling). */
function proseWords(f: (w: string, i: number) => string): string {
  let i = 0;
  const out = prose(MIB).replace(/[A-Za-z0-9]+/g, (w) => f(w, i++));
  return cut(out);
}
/** Cut to at most 1 MiB of UTF-8 at a code point boundary. */
function cut(s: string): string {
  if (Buffer.byteLength(s) <= MIB) return s;
  const b = Buffer.from(s).subarray(0, MIB);
  let t = b.toString("utf8");
  if (t.endsWith("\ufffd")) t = t.slice(0, -1);
  return t;
}
const FW = (s: string) => s.replace(/[!-~]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 0xfee0));
const seeded = (seed: number) => () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);

/** name → text. Grouped by what they attack; every engine reads every shape. */
function shapes(): [string, () => string][] {
  const digitsSep = () => {
    const r = seeded(1);
    return cut(Array.from({ length: MIB }, () => "0123456789 -./"[Math.floor(r() * 14)]).join(""));
  };
  const alnum = () => {
    const r = seeded(2);
    return cut(Array.from({ length: MIB }, () => "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"[Math.floor(r() * 34)]).join(""));
  };
  const base58 = () => {
    const r = seeded(3);
    return cut(Array.from({ length: MIB }, () => "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"[Math.floor(r() * 58)]).join(""));
  };
  const hex = () => {
    const r = seeded(4);
    return cut(Array.from({ length: MIB }, () => "0123456789abcdef"[Math.floor(r() * 16)]).join(""));
  };
  const letters = () => {
    const r = seeded(5);
    return cut(Array.from({ length: MIB }, () => "etaoinshrdlu"[Math.floor(r() * 12)]).join(""));
  };
  /** The lexicon's own words (harmful and benign phrases), each word drawn at random: no run repeats. */
  const lexiconWords = [
    ...new Set(
      [...harmfulEntries.map((e) => e.pattern), ...benignPatterns]
        .join(" ")
        .replace(/\(\?[:!=<]+|\\[bws]|\[[^\]]*\]|\{[^}]*\}|[()?*+|]/g, " ")
        .split(/\s+/)
        .filter((w) => /^[a-z']{2,}$/.test(w)),
    ),
  ];
  const drawn = (seed: number, words: readonly string[], sep = () => " ") => {
    const r = seeded(seed);
    const out: string[] = [];
    let n = 0;
    while (n < MIB) {
      const w = words[Math.floor(r() * words.length)]! + sep();
      out.push(w);
      n += w.length;
    }
    return cut(out.join(""));
  };
  const violentWords = ["kill", "murder", "stab", "shoot", "bomb", "attack", "killed", "shot", "guns", "weapon", "torture", "execute", "massacre", "slaughter"];
  // Secrets that do not repeat (random labels, lengths, bodies): a shortcut that decided a run of
  // identical candidates once would not help these.
  const UP = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const B64U = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
  const runOf = (r: () => number, cls: string, n: number) => Array.from({ length: n }, () => cls[Math.floor(r() * cls.length)]).join("");
  const until = (seed: number, unit: (r: () => number) => string) => {
    const r = seeded(seed);
    const out: string[] = [];
    for (let n = 0; n < MIB; ) {
      const u = unit(r);
      out.push(u);
      n += u.length;
    }
    return cut(out.join(""));
  };
  const pemLabel = (r: () => number) => Array.from({ length: Math.floor(r() * 4) }, () => runOf(r, UP, 1 + Math.floor(r() * 16)) + " ").join("") + "PRIVATE KEY";
  const randDigits = (r: () => number, n: number) => {
    let s = "";
    for (let i = 0; i < n; i++) s += String.fromCharCode(48 + Math.floor(r() * 10));
    return s;
  };
  return [
    // digits, separators (card, ssn, phone, iban, nhs, passport, postal, dob, street numbers)
    ["digits: one digit", () => fill("4")],
    ["digits: 0-9 run", () => fill("0123456789")],
    ["digits: random with ' -./'", digitsSep],
    ["digits: '4111 1111 '", () => fill("4111 1111 ")],
    ["digits: '4111-1111-'", () => fill("4111-1111-")],
    ["digits: valid cards", () => fill("4111 1111 1111 1111 ")],
    ["digits: random card-like groups", () => until(6, (r) => randDigits(r, 4) + (r() < 0.8 ? " " : "-"))],
    ["digits: ssn shape", () => fill("123-45-6789 ")],
    ["digits: phone shape", () => fill("(415) 555-2671 ")],
    ["digits: random phones", () => until(7, (r) => `(${randDigits(r, 3)}) ${randDigits(r, 3)}-${randDigits(r, 4)} `)],
    ["digits: +intl phone", () => fill("+44 20 7946 0958 ")],
    ["digits: dates", () => fill("born 01/02/1990, ")],
    ["digits: ZIP+4", () => fill("90210-1234 ")],
    ["digits: number + Street", () => fill("123 Main Street ")],
    ["digits: '1 a '", () => fill("1 a ")],
    // IP
    ["ip: dotted quads", () => fill("192.168.10.24 ")],
    ["ip: near-miss quads", () => fill("999.1.1.1.1.")],
    ["ip: colons 'a:b:'", () => fill("a:b:")],
    ["ip: v6 shape", () => fill("2001:db8::ff00:42:8329 ")],
    ["ip: '::' run", () => fill("::")],
    // email
    ["email: a@a@a@", () => fill("a@")],
    ["email: a@a.a.a.", () => "a@" + fill("a.").slice(2)],
    ["email: dense valid", () => fill("jo.x@ex.com ")],
    ["email: '@' run", () => fill("@")],
    ["email: dots run", () => fill(".")],
    // iban / letters+digits
    ["iban: valid, spaced", () => fill("GB82 WEST 1234 5698 7654 32 ")],
    ["iban: 'GB00 '", () => fill("GB00 ")],
    ["iban: 'GB12 3456 '", () => fill("GB12 3456 ")],
    ["iban: 'GB' + random digits", () => until(8, (r) => "GB" + randDigits(r, 2 + Math.floor(r() * 7)) + " ")],
    ["iban: random spaced near-misses", () => until(9, (r) => `GB${randDigits(r, 2)} ${randDigits(r, 4)} ${randDigits(r, 4)} `)],
    ["alnum: random A-Z0-9 run", alnum],
    // crypto
    ["crypto: base58 run", base58],
    ["crypto: hex run", hex],
    ["crypto: '0x0x'", () => fill("0x")],
    ["crypto: bc1 near-miss", () => fill("bc1qqqqqqqqqqqqqqqqqqqqq ")],
    // secrets
    ["secret: PEM BEGIN lines", () => fill("-----BEGIN PRIVATE KEY-----\n")],
    ["secret: PEM BEGIN, no label", () => fill("-----BEGIN ")],
    ["secret: dashes", () => fill("-")],
    ["secret: 'eyJa.'", () => fill("eyJa.")],
    ["secret: dense JWTs", () => fill("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl ")],
    ["secret: 'sk-' near-miss", () => fill("sk-abc ")],
    ["secret: 'AKIA' near-miss", () => fill("AKIA12 ")],
    ["secret: 'Bearer ' near-miss", () => fill("Bearer x ")],
    ["secret: ghp_ near-miss", () => fill("ghp_abc ")],
    ["secret: PEM headers, random labels and lines", () => until(11, (r) => `-----BEGIN ${pemLabel(r)}-----\n` + (r() < 0.5 ? runOf(r, B64, 1 + Math.floor(r() * 64)) + "\n" : ""))],
    ["secret: PEM BEGIN, random bad labels", () => until(12, (r) => `-----BEGIN ${runOf(r, UP + "  ", Math.floor(r() * 30))}${r() < 0.5 ? "-----" : ""}\n`)],
    ["secret: PEM footers, random labels", () => until(13, (r) => `-----END ${pemLabel(r)}-----\n`)],
    ["secret: PEM blocks, random bodies", () => until(14, (r) => { const l = pemLabel(r); const b = Array.from({ length: Math.floor(r() * 4) }, () => runOf(r, B64, 1 + Math.floor(r() * 64)) + "\n").join(""); return `-----BEGIN ${l}-----\n${b}-----END ${l}-----\n`; })],
    ["secret: eyJ runs with dots, random", () => until(15, (r) => `eyJ${runOf(r, B64U, Math.floor(r() * 12))}.${runOf(r, B64U, Math.floor(r() * 6))}${r() < 0.5 ? "." + runOf(r, B64U, Math.floor(r() * 4)) : ""} `)],
    ["secret: JWT shapes, header not JSON", () => until(18, (r) => `eyJ${runOf(r, B64U, 8 + Math.floor(r() * 8))}.${runOf(r, B64U, 2 + Math.floor(r() * 8))}.${runOf(r, B64U, Math.floor(r() * 8))} `)],
    ["secret: key prefixes, random bodies", () => until(16, (r) => ["AKIA", "ASIA", "ghp_", "gho_", "github_pat_", "sk-", "sk-proj-", "xoxb-", "xoxp-", "AIza", "sk_live_", "rk_test_", "Bearer ", "bearer "][Math.floor(r() * 14)]! + runOf(r, UP + "abcdef_-", Math.floor(r() * 24)) + " ")],
    ["secret: base64 run", () => until(17, (r) => runOf(r, B64, 64))],
    ["secret: dense AWS keys", () => fill("AKIAIOSFODNN7EXAMPLE ")],
    // names, places, capitals
    ["names: capitalised words", () => fill("Jane Rose Will Paris Main Street ")],
    ["names: all caps words", () => fill("PRIVATE KEY ")],
    ["names: 'Mr. ' titles", () => fill("Mr. Dr. Mrs. ")],
    ["names: 'my name is'", () => fill("my name is ")],
    ["names: places", () => fill("in London, Paris, Berlin, Tokyo ")],
    // the same kinds of candidate drawn at random from the gazetteers: no two alike (bench/lib/name-shapes.ts)
    ...nameShapes.map(([n, f]): [string, () => string] => [n, () => f(MIB)]),
    // letters, punctuation
    ["letters: no spaces", letters],
    ["letters: 'a '", () => fill("a ")],
    ["punct: '!?'", () => fill("!?")],
    ["space: newlines", () => fill("\n")],
    // invisible, full-width, encoded (the normalised view)
    ["view: zero-width + full-width", () => fill("\u200b\uff14")],
    ["view: zero-width only", () => fill("\u200b")],
    ["view: full-width prose", () => cut(FW(prose(MIB / 3 + 1000)))],
    ["view: prose, zero-width each word", () => proseWords((w) => w + "\u200b")],
    ["view: prose, soft hyphen in words", () => proseWords((w) => (w.length > 3 ? w.slice(0, 2) + "\u00ad" + w.slice(2) : w))],
    ["view: '%40' escapes", () => fill("%40")],
    ["view: '?q=a+b+'", () => fill("?q=a+b+c+d+")],
    ["view: lone surrogates", () => fill("\ud800a\udc00b")],
    ["view: combining marks", () => fill("a\u0301")],
    // scripts
    ["script: accented words", () => fill("élève café naïve ")],
    ["script: prose, accents", () => proseWords((w) => w.replace(/e/g, "é").replace(/a/g, "à"))],
    ["script: CJK", () => fill("漢字仮名交じり文 ")],
    ["script: Cyrillic homoglyphs", () => fill("раураl ассоunt ")],
    ["script: Arabic", () => fill("مرحبا بالعالم ")],
    ["script: emoji", () => fill("😀 ")],
    // content words (lexicon, classifier)
    ["content: violent words", () => fill("kill murder shoot bomb attack ")],
    ["content: one violent word", () => fill("kill ")],
    ["content: insults", () => fill("you are so stupid ")],
    ["content: 'how to kill the '", () => fill("how to kill the ")],
    ["content: weak words", () => fill("gun nude idiot cocaine ")],
    ["content: 'sex naked with '", () => fill("sex naked nude with ")],
    ["content: leet 'k!ll b0mb'", () => fill("k!ll b0mb ")],
    ["content: spaced 'p i p e '", () => fill("p i p e  b o m b  ")],
    // Random draws (nothing repeats a window): the lexicon's vocabulary, its violent words, with punctuation.
    ["content: random lexicon words", () => drawn(21, lexiconWords)],
    ["content: random violent words", () => drawn(22, violentWords)],
    ["content: random lexicon words, punctuated", () => {
      const r = seeded(23);
      return drawn(24, lexiconWords, () => [" ", ", ", ". ", "\n", "-", "'s "][Math.floor(r() * 6)]!);
    }],
    ["content: random intent phrases", () => drawn(25, ["how to", "i want to", "help me", "kill", "hurt", "my", "the", "him", "her", "someone", "make", "a", "bomb", "buy", "meth", "die", "tell me how to"])],
    ["content: 'i ' and 'to '", () => fill("i to i want ")],
    ["content: long words", () => drawn(26, ["abcdefghijklmnopqrstuvwx", "killkillkillkillkillkill", "murderous", "bombardment", "abcdefghijklmnopqrstuvwxy"])],
  ];
}

type Engine = { name: string; run: (t: string) => unknown };

function engines(): Engine[] {
  const out: Engine[] = [];
  for (const t of builtinPiiTypes) {
    const s = compileScanner(recognisersFor([t as BuiltinPiiType]));
    out.push({ name: t, run: (x) => scanSource(s, x) });
  }
  const full = compileScanner(recognisersFor(builtinPiiTypes));
  out.push({ name: "full", run: (x) => scanSource(full, x) });
  const clf = new ContentClassifier(defaultClassifier());
  out.push({ name: "classifier", run: (x) => clf.score(x) });
  warmUpLexicon();
  out.push({ name: "lexicon", run: (x) => scoreText(x) });
  return out;
}

function cpuMs(f: () => unknown): number {
  f();
  let best = Infinity;
  for (let r = 0; r < ROUNDS; r++) {
    const c0 = process.cpuUsage();
    f();
    const c = process.cpuUsage(c0);
    best = Math.min(best, (c.user + c.system) / 1000);
  }
  return best;
}

const pick = (env: string | undefined) => (env ? env.split(",") : undefined);
const wantE = pick(process.env.ENGINES);
const wantS = pick(process.env.SHAPES);
const all = engines().filter((e) => !wantE || wantE.includes(e.name));
const list = shapes()
  .filter(([n]) => !wantS || wantS.some((w) => n.includes(w)))
  .map(([n, f]) => [n, f()] as [string, string]);
const proseText = prose(MIB);
const proseBytes = Buffer.byteLength(proseText);

console.log(`# worst shapes per byte, ${new Date().toISOString()}, load average ${(await import("node:os")).loadavg().map((x) => x.toFixed(1)).join(" ")}, ROUNDS=${ROUNDS}\n`);
// Prose is measured before the shapes and again after them, and the lower of the two is the
// denominator: a first measurement can still include the JIT's warm-up (which would flatter every
// ratio), and the later one shows whether the shapes left the code slower on prose.
const proseCost = new Map<string, number>();
const proseLate = new Map<string, number>();
for (const e of all) proseCost.set(e.name, cpuMs(() => e.run(proseText)) / proseBytes);
let fullProse = proseCost.get("full") ?? cpuMs(() => scanSource(compileScanner(recognisersFor(builtinPiiTypes)), proseText)) / proseBytes;

const matrix = new Map<string, number[]>();
const worstOf = new Map<string, { worst: number; worstName: string; worstUnits: number }>();
const summary: string[] = [];
summary.push("| engine | prose ms/MiB | worst shape | worst ms/MiB | × own prose | × full-set prose | u× own |");
summary.push("| --- | ---: | --- | ---: | ---: | ---: | ---: |");
for (const e of all) {
  const row: number[] = [];
  let worst = -1;
  let worstName = "";
  let worstUnits = 0;
  for (const [name, text] of list) {
    const bytes = Buffer.byteLength(text);
    const per = cpuMs(() => e.run(text)) / bytes;
    row.push(per);
    if (per > worst) {
      worst = per;
      worstName = name;
      worstUnits = bytes / text.length;
    }
  }
  matrix.set(e.name, row);
  const late = cpuMs(() => e.run(proseText)) / proseBytes;
  proseLate.set(e.name, late);
  worstOf.set(e.name, { worst, worstName, worstUnits });
  console.error(`done ${e.name}`);
}
// Denominators settle once every engine has read its prose again.
const early = new Map(proseCost);
for (const e of all) proseCost.set(e.name, Math.min(early.get(e.name)!, proseLate.get(e.name)!));
if (proseCost.has("full")) fullProse = proseCost.get("full")!;
for (const e of all) {
  const own = proseCost.get(e.name)!;
  const { worst, worstName, worstUnits } = worstOf.get(e.name)!;
  const isPii = !["classifier", "lexicon"].includes(e.name);
  summary.push(
    `| ${e.name} | ${(own * MIB).toFixed(2)} | ${worstName} | ${(worst * MIB).toFixed(2)} | ${(worst / own).toFixed(2)} | ${isPii ? (worst / fullProse).toFixed(2) : "–"} | ${(worst / own / worstUnits).toFixed(2)} |`,
  );
}
summary.push("", "Prose ms/MiB before / after the shapes: " + all.map((e) => `${e.name} ${(early.get(e.name)! * MIB).toFixed(2)} / ${(proseLate.get(e.name)! * MIB).toFixed(2)}`).join(", "));
console.log(summary.join("\n"));
if (process.env.MATRIX) {
  console.log(
    process.env.MATRIX === "ms"
      ? "\nEvery shape, CPU ms per MiB (prose: " + all.map((e) => `${e.name} ${(proseCost.get(e.name)! * MIB).toFixed(2)}`).join(", ") + ")\n"
      : "\nEvery shape, cost per byte ÷ the engine's own prose (PII singles: ÷ the full set's prose in brackets)\n",
  );
  console.log(`| shape | ${all.map((e) => e.name).join(" | ")} |`);
  console.log(`| --- | ${all.map(() => "---:").join(" | ")} |`);
  list.forEach(([name], i) => {
    const cells = all.map((e) => {
      const per = matrix.get(e.name)![i]!;
      const own = per / proseCost.get(e.name)!;
      const isPii = !["classifier", "lexicon", "full"].includes(e.name);
      if (process.env.MATRIX === "ms") return (per * MIB).toFixed(1);
      return isPii ? `${own.toFixed(1)} (${(per / fullProse).toFixed(1)})` : own.toFixed(2);
    });
    console.log(`| ${name} | ${cells.join(" | ")} |`);
  });
}
process.exit(0);

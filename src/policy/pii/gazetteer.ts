import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The word lists the language-level recognisers (person, street_address, location) stand on, read
 * once from data/pii (built by scripts/build-pii-gazetteers.ts) the first time a rule that uses them
 * is compiled — never per request, never from the network.
 */
export interface Gazetteers {
  /** Given name → frequency rank (0 = commonest US Census name; Infinity for names from other locales). */
  readonly given: ReadonlyMap<string, number>;
  /** Surname → frequency rank, likewise. */
  readonly surnames: ReadonlyMap<string, number>;
  /** The ~10,700 commonest English words, lower case. */
  readonly common: ReadonlySet<string>;
  /** Less common English words (SCOWL level 35) that are also names, lower case. */
  readonly uncommon: ReadonlySet<string>;
  /** Place name → kind: `country`, `major` (a city of 1M+), `city`. */
  readonly places: ReadonlyMap<string, string>;
  /** Street types (Street, Avenue, Close, …), as written in the list. */
  readonly streetTypes: ReadonlySet<string>;
}

/** The project's top folder: the nearest folder above this file holding package.json (src/ or dist/). */
function projectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, "package.json"))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error("pii gazetteers: no package.json above " + fileURLToPath(import.meta.url));
    dir = up;
  }
}

function lines(file: string): string[] {
  const path = join(projectRoot(), "data", "pii", file);
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new Error(`pii gazetteers: cannot read ${path} (rebuild with scripts/build-pii-gazetteers.ts): ${(e as Error).message}`);
  }
  return text.split("\n").filter((l) => l !== "" && !l.startsWith("#"));
}

/** Names in census order first: the count of those is in the header line `# census N`. */
function ranked(file: string): Map<string, number> {
  const path = join(projectRoot(), "data", "pii", file);
  const header = /^# census (\d+)$/m.exec(readFileSync(path, "utf8"));
  const census = header ? Number(header[1]) : 0;
  const out = new Map<string, number>();
  lines(file).forEach((n, i) => out.set(n, i < census ? i : Infinity));
  return out;
}

let streetTypeList: readonly string[] | undefined;

/** The street types alone (a small file): the street_address regex is built from them at import. */
export function streetTypeNames(): readonly string[] {
  streetTypeList ??= lines("street-types.txt");
  return streetTypeList;
}

let loaded: Gazetteers | undefined;

/** The lists, loaded on first use (small, so the hot paths that ask for them inline the ask). */
export function gazetteers(): Gazetteers {
  return loaded ?? load();
}

function load(): Gazetteers {
  const common = new Set<string>();
  const uncommon = new Set<string>();
  for (const w of lines("common-words.txt")) {
    if (w.endsWith("+")) uncommon.add(w.slice(0, -1));
    else common.add(w);
  }
  const places = new Map<string, string>();
  for (const l of lines("places.txt")) {
    const tab = l.indexOf("\t");
    places.set(l.slice(0, tab), l.slice(tab + 1));
  }
  loaded = {
    given: ranked("given-names.txt"),
    surnames: ranked("surnames.txt"),
    common,
    uncommon,
    places,
    streetTypes: new Set(streetTypeNames()),
  };
  return loaded;
}

import { gazetteers } from "./gazetteer.js";

/**
 * About `chars` characters of capitalised words drawn from the gazetteers person and location
 * stand on (given names, surnames, places, spread across each list), joined by spaces, commas,
 * full stops, `and`, `in`. Scanned a few times when a rule with person or location is compiled:
 * until V8 has optimised their per-word paths, each of the first texts full of names cost 49-93 ms
 * of CPU per 30 KiB, near #13's 50 ms bound; after this warm-up 23-48 ms (three runs each). The
 * same text every time; nothing of a request is in it.
 */
export function namesWarmText(chars = 16 * 1024): string {
  const g = gazetteers();
  const spread = (words: Iterable<string>, stride: number, shape: RegExp) => [...words].filter((w, i) => i % stride === 0 && shape.test(w));
  const pools = [
    spread(g.given.keys(), 7, /^[A-Z][a-z]+$/),
    spread(g.surnames.keys(), 11, /^[A-Z][a-z]+$/),
    spread(g.places.keys(), 13, /^[A-Z][A-Za-z .'-]+$/),
  ].filter((p) => p.length > 0);
  const seps = [" ", " ", ", ", ". ", " and ", " in "];
  const out: string[] = [];
  let n = 0;
  for (let i = 0; n < chars && pools.length > 0; i++) {
    const pool = pools[i % pools.length]!;
    const piece = pool[(i * 7919) % pool.length]! + seps[i % seps.length]!;
    out.push(piece);
    n += piece.length;
  }
  return out.join("");
}

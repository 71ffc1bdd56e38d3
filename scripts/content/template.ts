/**
 * A tiny template language for the training corpus: `{slot}` takes a random value of a slot list,
 * `(a|b|)` a random alternative (an empty one makes the group optional). Values may themselves hold
 * templates. A seeded generator keeps every rebuild identical.
 */
export type Slots = Readonly<Record<string, readonly string[]>>;

export function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    // xorshift32
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 4294967296;
  };
}

export function pick<T>(r: () => number, list: readonly T[]): T {
  return list[Math.floor(r() * list.length)]!;
}

export function expand(template: string, slots: Slots, r: () => number, depth = 0): string {
  if (depth > 6) throw new Error(`template too deep: ${template}`);
  let out = "";
  let i = 0;
  while (i < template.length) {
    const ch = template[i]!;
    if (ch === "{") {
      const j = template.indexOf("}", i);
      const name = template.slice(i + 1, j);
      const list = slots[name];
      if (!list || list.length === 0) throw new Error(`no slot '${name}' in: ${template}`);
      out += expand(pick(r, list), slots, r, depth + 1);
      i = j + 1;
    } else if (ch === "(") {
      // Find the matching close paren, splitting on top-level bars.
      let level = 0;
      let j = i;
      const parts: string[] = [];
      let start = i + 1;
      for (; j < template.length; j++) {
        const c = template[j];
        if (c === "(") level++;
        else if (c === ")") {
          level--;
          if (level === 0) break;
        } else if (c === "|" && level === 1) {
          parts.push(template.slice(start, j));
          start = j + 1;
        }
      }
      parts.push(template.slice(start, j));
      out += expand(pick(r, parts), slots, r, depth + 1);
      i = j + 1;
    } else {
      out += ch;
      i++;
    }
  }
  return out.replace(/ {2,}/g, " ").replace(/ ([?.,!])/g, "$1").trim();
}

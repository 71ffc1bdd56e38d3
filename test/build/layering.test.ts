import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, normalize, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

// The house rules of src/: a folder is used by others only through its index.ts, and the folders
// stand in layers (no folder reaches, even for a type, a folder that reaches back to it). Read from
// the sources' import lines, so a new deep import or a new cycle fails here, not in review.

const SRC = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "src");

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return name.endsWith(".ts") ? [path] : [];
  });
}

interface Edge {
  file: string;
  from: string;
  to: string;
  target: string;
}

function edges(): Edge[] {
  const out: Edge[] = [];
  const spec = /(?:^|\n)\s*(?:import|export)\b[^'"]*?\bfrom\s+["'](\.[^"']+)["']/g;
  for (const file of sources(SRC)) {
    const from = relative(SRC, file).split(sep)[0]!;
    for (const m of readFileSync(file, "utf8").matchAll(spec)) {
      const target = relative(SRC, normalize(join(dirname(file), m[1]!)));
      const to = target.split(sep)[0]!;
      if (to === ".." || to === from || target === to) continue;
      out.push({ file: relative(SRC, file), from, to, target });
    }
  }
  return out;
}

describe("src/ layering", () => {
  const all = edges();

  it("reads the import lines (the rule below is not vacuous)", () => {
    expect(all.length).toBeGreaterThan(50);
    expect(all.some((e) => e.from === "server" && e.to === "chat")).toBe(true);
  });

  it("imports another folder only through its index", () => {
    const deep = all.filter((e) => e.target !== join(e.to, "index.js")).map((e) => `${e.file} -> ${e.target}`);
    expect(deep).toEqual([]);
  });

  it("has no cycle between folders, type imports included", () => {
    const next = new Map<string, Set<string>>();
    for (const e of all) (next.get(e.from) ?? next.set(e.from, new Set()).get(e.from)!).add(e.to);
    const cycles: string[] = [];
    const walk = (at: string, path: string[]) => {
      for (const to of next.get(at) ?? []) {
        const i = path.indexOf(to);
        if (i >= 0) cycles.push([...path.slice(i), to].join(" -> "));
        else walk(to, [...path, to]);
      }
    };
    for (const folder of next.keys()) walk(folder, [folder]);
    expect(cycles).toEqual([]);
  });

  it("keeps wire at the bottom and config below policy", () => {
    expect(all.filter((e) => e.from === "wire")).toEqual([]);
    expect(all.filter((e) => e.from === "config" && e.to !== "wire")).toEqual([]);
  });
});

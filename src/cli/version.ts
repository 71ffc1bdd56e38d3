import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The directory holding the project's package.json, found by walking up from this file: the same
 * from `src/cli` (tsx) and from `dist/src/cli` (compiled).
 */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, "package.json"))) {
      try {
        if ((JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { name?: string }).name === "keeptrusts-gateway") return dir;
      } catch {
        // not ours: keep walking
      }
    }
    const up = dirname(dir);
    if (up === dir) throw new Error("cannot find the keeptrusts-gateway package.json above the CLI");
    dir = up;
  }
}

let cached: string | undefined;

/** The package version, as `kt --version` and the start-up banner print it. */
export function version(): string {
  cached ??= (JSON.parse(readFileSync(join(packageRoot(), "package.json"), "utf8")) as { version: string }).version;
  return cached;
}

/** Whether this process runs the compiled build (dist/) or the TypeScript sources through tsx. */
export function buildKind(): "compiled" | "sources" {
  return import.meta.url.includes("/dist/") ? "compiled" : "sources";
}

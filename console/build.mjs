// Builds the console into console/dist/: one bundled, minified script (the app and
// @keeptrusts/client's browser entry), one stylesheet, the page and its icon. Plain Node and
// esbuild only (esbuild comes with tsx, a runtime dependency), so `npm ci` can run it as part of
// `prepare` in ~0.2 s. Usage: node console/build.mjs [--out DIR]
import { copyFileSync, mkdirSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const i = process.argv.indexOf("--out");
const out = i > 0 ? resolve(process.argv[i + 1]) : join(here, "dist");

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
await build({
  absWorkingDir: here,
  entryPoints: { app: "src/main.ts", style: "src/style.css" },
  outdir: out,
  bundle: true,
  minify: true,
  format: "esm",
  platform: "browser",
  target: ["es2022"],
  // The console's own code and the client: nothing is fetched from anywhere at run time.
  legalComments: "none",
  logLevel: "warning",
});
copyFileSync(join(here, "index.html"), join(out, "index.html"));
copyFileSync(join(here, "favicon.svg"), join(out, "favicon.svg"));
console.log(`console built into ${out}`);

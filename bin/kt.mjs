#!/usr/bin/env node
// The compiled build (dist/, made by `npm run build`, which `npm ci` runs) when it is there: no
// transpiler in the process. Without it (a checkout before its first build), or with
// KT_FROM_SOURCE=1 (tests, development), the TypeScript sources run through tsx, a dev dependency.
import { existsSync } from "node:fs";

const compiled = new URL("../dist/src/cli/index.js", import.meta.url);
let main;
if (process.env.KT_FROM_SOURCE !== "1" && existsSync(compiled)) {
  ({ main } = await import(compiled.href));
} else {
  const { register } = await import("tsx/esm/api");
  register();
  ({ main } = await import("../src/cli/index.ts"));
}
process.exitCode = await main(process.argv.slice(2));

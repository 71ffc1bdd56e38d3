#!/usr/bin/env node
// The compiled build (dist/, made by `npm run build`, which `npm ci` runs) when it is there: no
// transpiler in the process. Without it (a checkout before its first build), or with
// KT_FROM_SOURCE=1 (tests, development), the TypeScript sources run through tsx, a dev dependency.
import { existsSync } from "node:fs";

// `kt gateway run` (a --workers primary and each worker it forks alike): a SIGHUP is a reload,
// and its default action kills. Loading the gateway's modules takes seconds on a busy host, and
// a SIGHUP meanwhile killed the process (exit 129), so it is caught from the first line; the
// gateway takes the count over and reloads once started (src/cli/gateway-command.ts).
if (process.argv[2] === "gateway" && process.argv[3] === "run") {
  const early = { hups: 0, handler: () => void early.hups++ };
  globalThis[Symbol.for("keeptrusts.earlyHup")] = early;
  process.on("SIGHUP", early.handler);
}

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

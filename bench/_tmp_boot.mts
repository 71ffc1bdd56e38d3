import { scanPool } from "../src/policy/pool/index.js";
const t0 = performance.now();
scanPool().warm();
await scanPool().run({ kind: "content", texts: ["warm"] });
console.log("pool boot+first job", (performance.now() - t0).toFixed(0), "ms");
await scanPool().close?.();
process.exit(0);

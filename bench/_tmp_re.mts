import { compilePolicyEngine } from "../src/policy/index.js";
import { configWith } from "../test/policy/helpers.js";
const engine = compilePolicyEngine(configWith([{ id: "p", rules: [{ type: "pii_detection", action: "redact", patterns: [{ name: "boom", regex: "(a+)+$" }] }] }]));
for (const n of [1250, 2500, 5000, 10000]) {
  const t0 = performance.now();
  await engine.evaluateText("a".repeat(n) + "!", "request");
  console.log(n, (performance.now() - t0).toFixed(1), "ms");
}

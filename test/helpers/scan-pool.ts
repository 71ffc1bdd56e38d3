import { scanPool } from "../../src/policy/pool/index.js";

/**
 * Boots the scan pool's workers and waits until one has run a job. Under vitest the workers load
 * the sources through tsx at a lower thread priority, which takes seconds on a loaded machine: a
 * file whose tests send long texts to the pool calls this in `beforeAll` (with a generous limit), so
 * each test's own limit covers its work, not the pool's start-up. The job is a PII scan of one short
 * text: it compiles nothing the tests do not use (a `content` job would compile the phrase lexicon).
 */
export async function warmScanPool(): Promise<void> {
  scanPool().warm();
  await scanPool().run({ kind: "pii", key: "warm-up", spec: { patterns: ["email"], regions: undefined, obfuscated: undefined }, texts: ["warm"], json: [false] });
}

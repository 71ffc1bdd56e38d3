import { requestSegments, withTexts } from "../../src/policy/body-texts.js";
import { runChainHere } from "../../src/policy/chain-runner.js";
import { compileRules } from "../../src/policy/compiled-rule.js";
import { scanPool } from "../../src/policy/pool/index.js";
import type { JsonObject } from "../../src/wire/index.js";
import { configWith } from "../policy/helpers.js";
import { simpleConfig, startStack, type Stack } from "./harness.js";

/**
 * Boots the scan pool's workers and waits until one has run a job. Under vitest the workers load
 * the sources through tsx at a lower thread priority, which takes seconds on a loaded machine: a
 * file whose tests send long texts to the pool calls this in `beforeAll` (with a generous limit), so
 * each test's own limit covers its work, not the pool's start-up. The job is a PII scan of one short
 * text: it compiles nothing the tests do not use.
 */
export async function warmScanPool(): Promise<void> {
  scanPool().warm();
  await scanPool().run({ kind: "pii", key: "warm-up", spec: { patterns: ["email"], regions: undefined, obfuscated: undefined }, texts: ["warm"], json: [false] });
}

/**
 * A gateway stack for large-body tests: one policy `guard` with `rulesYaml` (its `rules:` items), a
 * fake with no context limit answering "fine", and the scan pool warmed. Call from `beforeAll` with
 * a generous limit.
 */
export async function startLargeBodyStack(rulesYaml: string): Promise<Stack> {
  const stack = await startStack(simpleConfig(`policies:\n  - id: guard\n    rules:\n${rulesYaml}`), { fake: { maxModelLen: 1e9 } });
  stack.fake.setReply("fine");
  await warmScanPool();
  return stack;
}

/** What the inline request chain (this thread, no pool) makes of a chat body under `rules`. */
export async function inlineRequestBody(rules: unknown[], body: JsonObject): Promise<JsonObject> {
  const segments = requestSegments(body, "chat");
  const r = await runChainHere(compileRules(configWith([{ id: "guard", rules }])), { phase: "request", segments, guardConversations: () => [], askGuard: undefined, signal: undefined, collectFindings: false });
  return withTexts(body, r.segments.filter((s, i) => s.text !== segments[i]!.text));
}

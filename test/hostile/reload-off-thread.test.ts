import { writeFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfigFile } from "../../src/config/index.js";
import { scanPool } from "../../src/policy/index.js";
import { startStack, simpleConfig, type Stack } from "../helpers/harness.js";

// A reload reads and validates the config on a policy worker (src/server/config-job.ts): a file
// near the 100,000-token bound took ~0.3 s to compose (1-3 s on a loaded machine), and on the
// event loop every request waited that long. Start-up's load stays on the main thread.

/** A config of `n` API keys (each ~20 YAML tokens), valid as a whole. */
function bigConfig(url: string, n: number): string {
  let keys = "";
  for (let i = 0; i < n; i++) keys += `    - id: key-${i}\n      sha256: ${"ab".repeat(32)}\n      scopes: [chat]\n`;
  return `${simpleConfig()(url)}auth:\n  api_keys:\n${keys}`;
}

/** The longest wait between two turns of the loop while `work` runs. */
async function longestTurn<T>(work: () => Promise<T>): Promise<{ result: T; longest: number }> {
  let last = performance.now();
  let longest = 0;
  let on = true;
  const tick = () => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
    if (on) setImmediate(tick);
  };
  setImmediate(tick);
  try {
    return { result: await work(), longest };
  } finally {
    on = false;
  }
}

describe("reload off the event loop", { timeout: 120_000 }, () => {
  let stack: Stack;
  let fakeUrl = "";
  beforeAll(async () => {
    stack = await startStack((url) => {
      fakeUrl = url;
      return simpleConfig()(url);
    });
    scanPool().warm();
  });
  afterAll(() => stack?.close());

  it("a large config is composed on a worker: the loop keeps turning meanwhile, and the reload applies it", async () => {
    writeFileSync(stack.configPath, bigConfig(fakeUrl, 2500));
    // The same file read on this thread, for scale (its own hold, measured in the same run).
    const t0 = performance.now();
    expect(loadConfigFile(stack.configPath, process.env).apiKeys).toHaveLength(2500);
    const onThread = performance.now() - t0;
    const modulesBefore = scanPool().completedByKind.module ?? 0;
    const { result, longest } = await longestTurn(() => stack.services.gateway.reload());
    expect(result.ok).toBe(true);
    expect(stack.services.gateway.runtime().config.apiKeys).toHaveLength(2500);
    expect(scanPool().completedByKind.module ?? 0).toBe(modulesBefore + 1);
    // Relative, not a timing bound: the loop's longest turn is well under the parse's own hold.
    expect(longest).toBeLessThan(onThread / 2);
  });

  it("a bad config's problems come back from the worker with their lines, and the running config stays", async () => {
    writeFileSync(stack.configPath, `${simpleConfig()(fakeUrl)}limits:\n  max_concurrent_streams: -1\n`);
    const r = await stack.services.gateway.reload();
    expect(r.ok).toBe(false);
    expect(String(!r.ok && r.error.message)).toMatch(/policy-config\.yaml:\d+:\d+ limits\.max_concurrent_streams: /);
    expect(stack.services.gateway.runtime().config.apiKeys).toHaveLength(2500);
    writeFileSync(stack.configPath, "");
    const missing = await stack.services.gateway.reload();
    expect(missing.ok).toBe(false);
  });
});

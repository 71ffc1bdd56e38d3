import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { scanPool } from "../../src/policy/pool/index.js";
import type { JsonObject } from "../../src/wire/index.js";
import { MODEL, type Stack } from "../helpers/harness.js";
import { inlineRequestBody, startLargeBodyStack } from "../helpers/scan-pool.js";

// With KT_SCAN_SPLIT=on (src/policy/held-chain.ts), a large request's first PII scan is cut into
// parts that the pool's free workers scan at once (src/policy/pool/split-scan.ts). Through the
// gateway, the body that goes upstream must be exactly the inline chain's, and the helpers must
// have run (the pool's job counts), not the leader alone.

const rules = [
  { type: "pii_detection", action: "redact", patterns: ["email", "credit_card", "secret", "ssn", "phone", "person", "street_address"] },
  { type: "content_filter", action: "log", categories: ["violence", "self_harm"] },
];

let stack: Stack;
beforeAll(async () => {
  process.env.KT_SCAN_SPLIT = "on";
  process.env.KT_SCAN_FOLLOW = "off";
  stack = await startLargeBodyStack(`      - { type: pii_detection, action: redact, patterns: [email, credit_card, secret, ssn, phone, person, street_address] }
      - { type: content_filter, action: log, categories: [violence, self_harm] }
`);
}, 120_000);
afterAll(async () => {
  delete process.env.KT_SCAN_SPLIT;
  delete process.env.KT_SCAN_FOLLOW;
  await stack?.close();
});

function bigBody(seed: number): JsonObject {
  const line = (i: number) =>
    i % 7 === seed % 7
      ? `row ${i}: write to Jane Doe at jane${i}@example.com, 221B Baker Street, or call (415) 555-${String(1000 + i).slice(-4)}. `
      : `row ${i}: the committee met on Tuesday to review the quarterly figures and card 4111 1111 1111 1111 was declined.\n`;
  let big = "";
  for (let i = 0; big.length < 600_000 + seed * 1000; i++) big += line(i);
  return { model: MODEL, messages: [{ role: "system", content: "You are terse." }, { role: "user", content: big }], temperature: 0.2 };
}

describe("a large request's scan split over the pool's workers", { timeout: 120_000 }, () => {
  it("sends upstream exactly the inline chain's body, the helpers having scanned their parts", async () => {
    const pool = scanPool();
    const before = { ...pool.completedByKind };
    for (let seed = 1; seed <= 3; seed++) {
      const body = bigBody(seed);
      const r = await stack.openai().chat.completions.create(body as never);
      expect(r.choices[0]!.message.content).toBe("fine");
      const request = stack.fake.requests.filter((q) => q.path === "/v1/chat/completions").at(-1)!;
      const expected = await inlineRequestBody(rules, body);
      // Byte for byte (a boolean: no megabyte diffs).
      expect(request.rawBody === JSON.stringify(expected)).toBe(true);
      expect(request.rawBody).not.toContain("@example.com");
    }
    const grew = (k: "body-chain" | "scan-part") => (pool.completedByKind[k] ?? 0) - (before[k] ?? 0);
    expect(grew("body-chain")).toBeGreaterThanOrEqual(3);
    expect(grew("scan-part")).toBeGreaterThanOrEqual(1);
  });
});

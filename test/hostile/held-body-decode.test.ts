import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { JsonObject } from "../../src/wire/index.js";
import { MODEL, type Stack } from "../helpers/harness.js";
import { inlineRequestBody, startLargeBodyStack } from "../helpers/scan-pool.js";

// A held body (256 KiB and up) is decoded by a worker straight from shared memory, with no private
// copy first: it must read exactly as a small body does (TextDecoder: a leading BOM dropped,
// invalid UTF-8 refused with the same message), and be redacted exactly as inline.

const rules = [{ type: "pii_detection", action: "redact", patterns: ["email", "credit_card", "ssn"] }];

let stack: Stack;
beforeAll(async () => {
  stack = await startLargeBodyStack("      - { type: pii_detection, action: redact, patterns: [email, credit_card, ssn] }\n");
}, 120_000);
afterAll(() => stack?.close());

describe("held bodies decoded in place", { timeout: 120_000 }, () => {
  it("a leading BOM is dropped and the body redacted as inline; invalid UTF-8 gets the small body's 400", async () => {
    let text = "";
    for (let i = 0; text.length < 300_000; i++) text += `Größe ${i}: mail user${i}@example.com, card 4111 1111 1111 1111, 请联系 🙂 ssn 123-45-6789.\n`;
    const body = { model: MODEL, messages: [{ role: "user", content: text }] };
    const post = (raw: Buffer) => fetch(`${stack.url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: raw });
    const ok = await post(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(JSON.stringify(body))]));
    expect({ status: ok.status, text: ok.status === 200 ? "" : await ok.text() }).toEqual({ status: 200, text: "" });
    const sent = stack.fake.requests.filter((q) => q.path === "/v1/chat/completions").at(-1)!.body as JsonObject;
    expect(sent.messages).toEqual((await inlineRequestBody(rules, body)).messages);
    expect(JSON.stringify(sent)).not.toContain("@example.com");
    const bad = Buffer.from(JSON.stringify(body));
    bad[bad.length - 5000] = 0xc3;
    bad[bad.length - 4999] = 0x28;
    const refused = await post(bad);
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as { error: { message: string } }).error.message).toBe("the request body is not valid UTF-8");
  });
});

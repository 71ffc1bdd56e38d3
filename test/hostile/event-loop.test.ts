import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { scanPool } from "../../src/policy/pool/index.js";
import { MODEL, simpleConfig, startStack, type Stack } from "../helpers/harness.js";
import { warmScanPool } from "../helpers/scan-pool.js";

// Big bodies of the shapes that used to hold the event loop for seconds. CI posts 1 MiB bodies;
// KT_ATTACK_LONG=1 posts the attack's 15 MiB. The healthz p99 under that load is in bench/hostile.
const MIB = process.env.KT_ATTACK_LONG ? 15 : 1;
const shapes = ["-----BEGIN PRIVATE KEY-----\n", "eyJa.", "4111 1111 ", "kill murder stab shoot bomb attack "];

let stack: Stack;
beforeAll(async () => {
  stack = await startStack(
    simpleConfig(`policies:
  - id: guard
    rules:
      - type: pii_detection
        action: redact
        patterns: [secret, credit_card, email, phone, ssn, iban, ip_address, crypto_wallet, us_passport, uk_nhs]
      - type: content_filter
        action: log
        categories: [violence, self_harm, hate, sexual, harassment, illicit]
`),
    { fake: { maxModelLen: 1e9 }, maxBodyBytes: 16 * 1024 * 1024 },
  );
  stack.fake.setReply("fine");
  // kt gateway run boots the scan workers at start; in-process, boot them here.
  await warmScanPool();
}, 120_000);
afterAll(() => stack?.close());

describe("no request holds the event loop", () => {
  it("/healthz answers while worst-case bodies are being scanned, and every post succeeds", async () => {
    const size = MIB * 1024 * 1024;
    let posting = true;
    const posts = Promise.all(
      shapes.map(async (unit) => {
        const content = unit.repeat(Math.ceil(size / unit.length)).slice(0, size);
        const r = await fetch(`${stack.url}/v1/chat/completions`, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: "Bearer kt-test" },
          body: JSON.stringify({ model: MODEL, messages: [{ role: "user", content }] }),
        });
        await r.arrayBuffer();
        return r.status;
      }),
    ).finally(() => (posting = false));
    // Health checks in a row for as long as the posts run; each notes whether a scan worker was
    // busy when it was answered. An inline scan would have answered none mid-scan.
    let answered = 0;
    let duringScan = 0;
    while (posting) {
      const r = await fetch(`${stack.url}/healthz`);
      expect(r.status).toBe(200);
      await r.arrayBuffer();
      answered++;
      if (scanPool().running > 0) duringScan++;
    }
    expect(await posts).toEqual(shapes.map(() => 200));
    // Whether a health check lands while a pool scan is running depends on how long the scans
    // take against JSON parsing on the main thread: with 1 MiB bodies on a fast, quiet machine they
    // can all finish between two checks, so the observation is asserted only with the attack's
    // 15 MiB bodies (KT_ATTACK_LONG=1), where the scans are long. #13 keeps the 50 ms bound open.
    if (process.env.KT_ATTACK_LONG) expect(duringScan).toBeGreaterThan(0);
    const seen = stack.fake.requests.filter((r) => r.path === "/v1/chat/completions");
    expect(seen).toHaveLength(shapes.length);
    // The PEM body reached the model redacted.
    const pem = seen.map((r) => JSON.stringify(r.body)).find((b) => b.includes("REDACTED:SECRET"));
    expect(pem).toBeDefined();
    expect(pem).not.toContain("BEGIN PRIVATE KEY");
  }, 120_000);
});

/**
 * Nothing answered is lost to kill -9: the gateway is SIGKILLed in the very callback where an
 * answer completed (a 200 body read to its end, or a stream's [DONE]), round after round on the
 * same log; every request whose answer arrived is then in the log, and the log verifies. Five
 * rounds by default; KT_AUDIT_KILL_ROUNDS=30 for the full run.
 */
import { request } from "node:http";
import { mkdtempSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { queryAuditLog, verifyAuditLog } from "../../src/audit/index.js";
import { startFakeOpenLLM, type FakeOpenLLM } from "../fixtures/fake-openllm.js";
import { startChildGateway } from "../helpers/child-gateway.js";
import { MODEL } from "../helpers/harness.js";

const ROUNDS = Number(process.env.KT_AUDIT_KILL_ROUNDS ?? 5);

/** One request; resolves with its trace id once its whole answer arrived, or undefined if it did not. */
function ask(base: string, stream: boolean, onAnswered: (traceId: string) => void): Promise<string | undefined> {
  const traceId = randomBytes(16).toString("hex");
  const body = JSON.stringify({ model: "t", stream, messages: [{ role: "user", content: `hello ${traceId.slice(0, 6)}` }] });
  return new Promise((resolve) => {
    const req = request(
      `${base}/v1/chat/completions`,
      { method: "POST", headers: { "content-type": "application/json", traceparent: `00-${traceId}-${randomBytes(8).toString("hex")}-01`, connection: "close" } },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (d: string) => (text += d));
        res.on("end", () => {
          const complete = res.statusCode === 200 && (stream ? text.includes("data: [DONE]") : text.trim().endsWith("}"));
          if (complete) onAnswered(traceId);
          resolve(complete ? traceId : undefined);
        });
        res.on("error", () => resolve(undefined));
        res.on("aborted", () => resolve(undefined));
      },
    );
    req.on("error", () => resolve(undefined));
    req.end(body);
  });
}

describe("kill -9 in the instant an answer arrives", () => {
  let fake: FakeOpenLLM;
  let dir: string;
  let cfg: string;
  beforeAll(async () => {
    fake = await startFakeOpenLLM();
    dir = mkdtempSync(join(tmpdir(), "kt-kill-"));
    cfg = join(dir, "policy-config.yaml");
    writeFileSync(
      cfg,
      `providers:
  targets:
    - { id: t, provider: "openllm:chat:llama3:8b-instruct", model: ${MODEL}, base_url: "${fake.url}" }
policies:
  chain: [audit-logger]
policy:
  audit-logger: { path: "${dir}/audit" }
`,
    );
  });
  afterAll(() => fake?.close());

  it(`loses no answered request over ${ROUNDS} rounds, and the log verifies after each`, async () => {
    const answered = new Set<string>();
    for (let round = 0; round < ROUNDS; round++) {
      // Restarting on the same directory also takes over the lock the killed process left.
      const gw = await startChildGateway(cfg);
      // Kill on the n-th answer of this round (1..6), from inside the callback that saw it.
      const killAt = 1 + (round % 6);
      let seen = 0;
      let killed = false;
      const onAnswered = (id: string) => {
        answered.add(id);
        if (++seen === killAt && !killed) {
          killed = true;
          gw.proc.kill("SIGKILL");
        }
      };
      // Keep 8 requests in flight, streams and not, until the process is gone.
      const inFlight = new Set<Promise<unknown>>();
      let n = 0;
      while (!killed && n < 2000) {
        while (inFlight.size < 8) {
          const p = ask(gw.url, n++ % 2 === 0, onAnswered);
          inFlight.add(p);
          void p.then(() => inFlight.delete(p));
        }
        await Promise.race(inFlight);
      }
      expect(killed).toBe(true);
      await Promise.all(inFlight);
      expect(await gw.stop("SIGKILL")).toBeNull();

      const v = await verifyAuditLog(join(dir, "audit"));
      expect(v, JSON.stringify(v)).toMatchObject({ ok: true });
      const present = new Set<string>();
      let token: string | undefined;
      do {
        const page = await queryAuditLog(join(dir, "audit"), { pageSize: 1000, pageToken: token });
        for (const e of page.events) present.add(e.traceId);
        token = page.nextPageToken;
      } while (token);
      const missing = [...answered].filter((id) => !present.has(id));
      expect(missing, `round ${round}: answered but not in the log`).toEqual([]);
    }
    expect(answered.size).toBeGreaterThanOrEqual(ROUNDS);
  }, 60_000 + ROUNDS * 30_000);
});

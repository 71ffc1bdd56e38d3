import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { queryAuditLog, verifyAuditLog } from "../../src/audit/index.js";
import { startFakeOpenLLM } from "../fixtures/fake-openllm.js";
import { freePort, startChildGateway } from "../helpers/child-gateway.js";
import { MODEL } from "../helpers/harness.js";

/** A gateway with an audit log whose span collector is down, batching spans every `batchDelayMs`. */
async function gatewayWithDeadCollector(batchDelayMs: string) {
  const fake = await startFakeOpenLLM();
  const dir = mkdtempSync(join(tmpdir(), "kt-export-down-"));
  writeFileSync(
    join(dir, "policy-config.yaml"),
    `providers:
  targets:
    - { id: t, provider: "openllm:chat:llama3:8b-instruct", model: ${MODEL}, base_url: "${fake.url}" }
policies:
  chain: [audit-logger]
policy:
  audit-logger: { path: "${dir}/audit" }
`,
  );
  // Nothing listens on this port: every export is refused.
  const gw = await startChildGateway(join(dir, "policy-config.yaml"), {
    OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${await freePort()}`,
    OTEL_BSP_SCHEDULE_DELAY: batchDelayMs,
    OTEL_EXPORTER_OTLP_TIMEOUT: "1000",
  });
  return { fake, dir, gw };
}

describe("a collector that is down", () => {
  it("costs spans, counted in /metrics and logged, never audit records", async () => {
    const { fake, dir, gw } = await gatewayWithDeadCollector("50");
    try {
      for (let i = 0; i < 5; i++) {
        const r = await fetch(`${gw.url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model: "t", messages: [{ role: "user", content: `n${i}` }] }) });
        expect(r.status).toBe(200);
      }
      let failures = 0;
      const deadline = Date.now() + 30_000;
      while (failures === 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 250));
        const text = await (await fetch(`${gw.url}/metrics`)).text();
        failures = Number(/^kt_span_export_failures_total (\d+)/m.exec(text)?.[1] ?? 0);
      }
      expect(failures).toBeGreaterThan(0);
      expect(gw.stderr()).toMatch(/spans are not reaching the collector/);
    } finally {
      await gw.stop("SIGTERM");
      await fake.close();
    }
    expect((await queryAuditLog(join(dir, "audit"), {})).events).toHaveLength(5);
    expect(await verifyAuditLog(join(dir, "audit"))).toMatchObject({ ok: true });
  }, 90_000);

  // Spans still queued at SIGTERM (a long batch delay keeps them there) meet the dead collector in
  // the SDK's shutdown, which then rejects. That used to end the drain as "shutdown failed" with
  // the scan workers still running, so the process never exited.
  it("does not keep a SIGTERMed gateway alive: spans queued at shutdown are given up, exit 0", async () => {
    const { fake, dir, gw } = await gatewayWithDeadCollector("600000");
    let code: number | null | "still running";
    try {
      for (let i = 0; i < 3; i++) {
        const r = await fetch(`${gw.url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model: "t", messages: [{ role: "user", content: `q${i}` }] }) });
        expect(r.status).toBe(200);
      }
      code = await Promise.race([gw.stop("SIGTERM"), new Promise<"still running">((r) => setTimeout(() => r("still running"), 30_000))]);
    } finally {
      gw.proc.kill("SIGKILL");
      await fake.close();
    }
    expect(code, gw.stderr()).toBe(0);
    expect(gw.stderr()).toMatch(/spans still queued at shutdown were not exported/);
    expect(gw.stderr()).not.toMatch(/shutdown failed/);
    expect((await queryAuditLog(join(dir, "audit"), {})).events).toHaveLength(3);
    expect(await verifyAuditLog(join(dir, "audit"))).toMatchObject({ ok: true });
  }, 90_000);
});

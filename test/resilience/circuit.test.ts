/**
 * Passive health: consecutive target faults open a target's circuit, traffic moves to the rest of
 * the group, and after the cool-down one half-open trial decides — success closes the circuit,
 * failure re-opens it with a doubled cool-down. The cool-down is shortened through the gateway's
 * `circuit` option (production default: 5 s doubling to 60 s); the threshold stays the default 5.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { timestampDate } from "../../clients/typescript/src/index.js";
import { MODEL, packConfig, settle, sleep, startRig, within, type Rig } from "./rig.js";

const GROUP = "llama3:8b-instruct";
const COOLDOWN_MS = 800;

describe("circuit breaker", () => {
  let rig: Rig;
  beforeAll(async () => {
    rig = await startRig(
      ([flaky, steady], auditDir) =>
        packConfig(auditDir, [
          `{ id: flaky, provider: "openllm:chat:llama3:8b-instruct", model: "${MODEL}", base_url: "${flaky}", weight: 1000000, timeout_seconds: 1 }`,
          `{ id: steady, provider: "openllm:chat:llama3:8b-instruct", model: "${MODEL}", base_url: "${steady}", weight: 1 }`,
        ]),
      { fakes: [{}, {}], gateway: { circuit: { baseCooldownMs: COOLDOWN_MS, maxCooldownMs: 10_000 } } },
    );
    rig.fakes[0]!.setReply("flaky answers");
    rig.fakes[1]!.setReply("steady answers");
  });
  afterAll(() => rig.close());

  const ask = () => within(5000, rig.openai().chat.completions.create({ model: GROUP, messages: [{ role: "user", content: "x" }] })).then((r) => r.choices[0]!.message.content);
  const posts = (i: number) => rig.fakes[i]!.requests.filter((r) => r.method === "POST").length;
  const targets = async () => {
    const r = await rig.kt("grpc").governance.listTargets({});
    return Object.fromEntries(r.targets.map((t) => [t.id, t]));
  };
  const waitUntilOpenExpires = async () => {
    const t = (await targets()).flaky!;
    const until = timestampDate(t.openUntil!).getTime();
    await sleep(Math.max(0, until - Date.now()) + 50);
  };

  it("opens after 5 consecutive failures, showing state, count and last error in ListTargets", async () => {
    rig.fakes[0]!.setBehavior("status-503");
    for (let i = 1; i <= 4; i++) {
      expect(await ask()).toBe("steady answers");
      const t = (await targets()).flaky!;
      expect(t.circuitState).toBe("closed");
      expect(t.consecutiveFailures).toBe(i);
    }
    expect(await ask()).toBe("steady answers");
    const { flaky, steady } = await targets();
    expect(flaky).toMatchObject({ circuitState: "open", consecutiveFailures: 5, healthy: false, inFlight: 0 });
    expect(flaky!.totalFailures).toBe(5n);
    expect(flaky!.lastError).toMatch(/^KT_ERR_UPSTREAM_FAILED: target 'flaky' failed with HTTP 503/);
    expect(flaky!.lastErrorTime).toBeDefined();
    const openFor = timestampDate(flaky!.openUntil!).getTime() - Date.now();
    expect(openFor).toBeGreaterThan(0);
    expect(openFor).toBeLessThanOrEqual(COOLDOWN_MS * 1.2);
    expect(steady).toMatchObject({ circuitState: "closed", healthy: true, consecutiveFailures: 0 });
    expect(steady!.totalSuccesses).toBe(5n);
    expect(posts(0)).toBe(5);
  });

  it("while open, all traffic goes to the other target and the open one receives nothing", async () => {
    const before = posts(0);
    const replies = await Promise.all(Array.from({ length: 5 }, () => ask()));
    expect(replies).toEqual(Array(5).fill("steady answers"));
    expect(posts(0)).toBe(before);
    expect((await targets()).flaky!.circuitState).toBe("open");
    // The audit log shows the steady target serving, every request ok.
    const recent = (await rig.audit()).slice(-5);
    for (const r of recent) expect(r).toMatchObject({ outcome: "ok", target: "steady" });
  });

  it("after the cool-down, a successful half-open trial closes the circuit", async () => {
    rig.fakes[0]!.setBehavior("normal");
    await waitUntilOpenExpires();
    const before = posts(0);
    expect(await ask()).toBe("flaky answers");
    expect(posts(0)).toBe(before + 1);
    const { flaky } = await targets();
    expect(flaky).toMatchObject({ circuitState: "closed", consecutiveFailures: 0, healthy: true });
    // Closed again: the heavy target takes its share back.
    expect(await ask()).toBe("flaky answers");
  });

  it("a half-open trial is the only request let through, and its failure re-opens with a doubled cool-down", async () => {
    rig.fakes[0]!.setBehavior("status-500");
    for (let i = 0; i < 5; i++) expect(await ask()).toBe("steady answers");
    expect((await targets()).flaky!.circuitState).toBe("open");
    await waitUntilOpenExpires();

    // The trial hangs (timeout_seconds: 1): meanwhile other requests must not reach the flaky target.
    rig.fakes[0]!.setBehavior("hang");
    const before = posts(0);
    const trial = settle(ask());
    await rig.fakes[0]!.waitForRequests(rig.fakes[0]!.requests.length + 1, 2000);
    const t = (await targets()).flaky!;
    expect(t.circuitState).toBe("half_open");
    expect(t.inFlight).toBe(1);
    const others = await Promise.all(Array.from({ length: 3 }, () => ask()));
    expect(others).toEqual(Array(3).fill("steady answers"));
    expect(posts(0)).toBe(before + 1);

    // The trial times out, fails over to steady, and re-opens the circuit for about twice as long.
    const outcome = await trial;
    expect(outcome).toEqual({ ok: true, value: "steady answers" });
    const reopened = (await targets()).flaky!;
    expect(reopened.circuitState).toBe("open");
    expect(reopened.lastError).toMatch(/^KT_ERR_UPSTREAM_TIMEOUT/);
    const openFor = timestampDate(reopened.openUntil!).getTime() - timestampDate(reopened.lastErrorTime!).getTime();
    expect(openFor).toBeGreaterThanOrEqual(2 * COOLDOWN_MS * 0.8 - 5);
    expect(openFor).toBeLessThanOrEqual(2 * COOLDOWN_MS * 1.2 + 5);

    // And it recovers once healthy again.
    rig.fakes[0]!.setBehavior("normal");
    await waitUntilOpenExpires();
    expect(await ask()).toBe("flaky answers");
    expect((await targets()).flaky!.circuitState).toBe("closed");
  });

  it("when every target of the group is open, clients get 503 no_healthy_target with retry-after", async () => {
    rig.fakes[0]!.setBehavior("status-503");
    rig.fakes[1]!.setBehavior("status-503");
    // Each request fails on both targets: 5 requests open both circuits.
    for (let i = 0; i < 5; i++) {
      const r = await settle(ask());
      expect((r as { error: any }).error.status).toBe(502);
    }
    const ts = await targets();
    expect(ts.flaky!.circuitState).toBe("open");
    expect(ts.steady!.circuitState).toBe("open");
    const r = await settle(ask());
    const err = (r as { error: any }).error;
    expect(err.status).toBe(503);
    expect(err.code).toBe("no_healthy_target");
    expect(err.headers.get("retry-after")).toBeTruthy();
    const ready = await fetch(`${rig.url}/readyz`);
    expect(ready.status).toBe(503);
    rig.fakes[0]!.setBehavior("normal");
    rig.fakes[1]!.setBehavior("normal");
  });
});

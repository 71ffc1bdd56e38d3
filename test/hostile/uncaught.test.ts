import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { errorSummary } from "../../src/errors/index.js";
import { isPeerReset } from "../../src/server/index.js";
import { startFakeOpenLLM, type FakeOpenLLM } from "../fixtures/fake-openllm.js";
import { startChildGateway } from "../helpers/child-gateway.js";
import { MODEL } from "../helpers/harness.js";

// A socket 'error' that no listener takes is thrown as an uncaught exception. A peer's reset must
// not end the gateway (every other request would go with it); any other uncaught exception still
// ends it with code 1, as Node's default does, for the supervisor to restart, logged without its message.
const FAULT = fileURLToPath(new URL("../fixtures/uncaught-fault.mjs", import.meta.url));

let fake: FakeOpenLLM;
let config: string;
beforeAll(async () => {
  fake = await startFakeOpenLLM();
  const dir = mkdtempSync(join(tmpdir(), "kt-uncaught-"));
  config = join(dir, "policy-config.yaml");
  writeFileSync(
    config,
    `providers:
  targets:
    - { id: t, provider: "openllm:chat:m", model: "${MODEL}", base_url: "${fake.url}" }
`,
  );
}, 30_000);
afterAll(() => fake?.close());

async function exitWithin(proc: { exitCode: number | null; once(e: "exit", f: (code: number | null) => void): unknown }, ms: number): Promise<number | null | "running"> {
  if (proc.exitCode !== null) return proc.exitCode;
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve("running"), ms);
    proc.once("exit", (code) => {
      clearTimeout(t);
      resolve(code);
    });
  });
}

describe("uncaught exceptions", { timeout: 60_000 }, () => {
  it("tells a peer's reset from anything else", () => {
    const reset = Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET", syscall: "read" });
    expect(isPeerReset(reset)).toBe(true);
    expect(isPeerReset(Object.assign(new Error("write EPIPE"), { code: "EPIPE", syscall: "write" }))).toBe(true);
    // A code without a system call (made up, or Node's own), another errno, a plain error, a string.
    expect(isPeerReset(Object.assign(new Error("x"), { code: "ECONNRESET" }))).toBe(false);
    expect(isPeerReset(Object.assign(new Error("open ENOENT"), { code: "ENOENT", syscall: "open" }))).toBe(false);
    expect(isPeerReset(new TypeError("bug"))).toBe(false);
    expect(isPeerReset("ECONNRESET")).toBe(false);
  });

  it("logs an unexpected error by its name, code and frames, never its message", () => {
    let parseError: unknown;
    try {
      JSON.parse("card 4111 1111 1111 1111");
    } catch (e) {
      parseError = e;
    }
    // V8's message quotes the text it failed on.
    expect(String((parseError as Error).message)).toContain("4111");
    const s = errorSummary(parseError);
    expect(s.name).toBe("SyntaxError");
    expect(s.frames).toContain("uncaught.test.ts");
    expect(JSON.stringify(s)).not.toContain("4111");
    expect(errorSummary(Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET", syscall: "read" }))).toMatchObject({ name: "Error", code: "ECONNRESET", syscall: "read" });
    expect(errorSummary("alice@example.com")).toEqual({ name: "string" });
  });

  it("a peer's reset that reached no listener leaves the gateway serving", async () => {
    const gw = await startChildGateway(config, { NODE_OPTIONS: `--import ${FAULT}`, KT_TEST_FAULT: "reset" });
    try {
      gw.proc.kill("SIGUSR2");
      expect(await exitWithin(gw.proc, 1000)).toBe("running");
      const r = await fetch(`${gw.url}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "still there?" }] }),
      });
      expect(r.status).toBe(200);
      await r.arrayBuffer();
      expect(gw.stderr()).toContain("reached no listener");
      expect(gw.stderr()).toContain('"code":"ECONNRESET"');
    } finally {
      await gw.stop();
    }
  });

  it("any other uncaught exception still ends the process with code 1", async () => {
    const gw = await startChildGateway(config, { NODE_OPTIONS: `--import ${FAULT}`, KT_TEST_FAULT: "bug" });
    try {
      gw.proc.kill("SIGUSR2");
      expect(await exitWithin(gw.proc, 10_000)).toBe(1);
      // A fatal line with the error's name and where it was thrown, not its message (which can
      // quote a client's text).
      expect(gw.stderr()).toContain("uncaught exception (the gateway exits)");
      expect(gw.stderr()).toContain("TypeError");
      expect(gw.stderr()).toContain("uncaught-fault.mjs");
      expect(gw.stderr()).not.toContain("a bug nobody caught");
    } finally {
      await gw.stop();
    }
  });
});

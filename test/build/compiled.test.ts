/**
 * The build that ships: `bin/kt.mjs` runs the compiled dist/ (made by `npm run build`, which `npm ci`
 * runs through `prepare`), loads no tsx, starts and answers /readyz. dist/ is rebuilt first when a
 * source is newer than it (a developer's checkout); in CI `npm ci` has just built it.
 */
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startFakeOpenLLM, type FakeOpenLLM } from "../fixtures/fake-openllm.js";
import { freePort, KT_BIN } from "../helpers/child-gateway.js";
import { MODEL } from "../helpers/harness.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const ENTRY = join(ROOT, "dist/src/cli/index.js");

function newest(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : e.name.endsWith(".ts") ? statSync(p).mtimeMs : 0);
  }
  return t;
}

/** Reports every module tsx would load (its resolve hook sees them all) on stderr. */
const HOOK = `data:text/javascript,${encodeURIComponent(
  `import { register } from "node:module";
register("data:text/javascript," + encodeURIComponent("export async function resolve(s, c, n) { const r = await n(s, c); if (/\\\\/node_modules\\\\/tsx\\\\//.test(r.url)) process.stderr.write('kt-test: tsx loaded ' + r.url + '\\\\n'); return r; }"));`,
)}`;

/** The environment without the test suite's KT_FROM_SOURCE, so bin/kt.mjs chooses as a user's would. */
function userEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, KT_LOG_LEVEL: "info" };
  delete env.KT_FROM_SOURCE;
  return env;
}

let fake: FakeOpenLLM;
beforeAll(async () => {
  const sources = Math.max(newest(join(ROOT, "src")), newest(join(ROOT, "gen")));
  if (!existsSync(ENTRY) || statSync(ENTRY).mtimeMs < sources) {
    execFileSync(process.execPath, [join(ROOT, "node_modules/typescript/bin/tsc"), "-p", join(ROOT, "tsconfig.build.json")], { cwd: ROOT, stdio: "inherit" });
  }
  fake = await startFakeOpenLLM();
}, 300_000);
afterAll(async () => {
  await fake?.close();
});

describe("the compiled build", () => {
  it("the resolve hook sees tsx when the sources run (the check below can fail)", { timeout: 60_000 }, () => {
    const r = spawnSync(process.execPath, ["--import", HOOK, KT_BIN, "--version"], { env: { ...userEnv(), KT_FROM_SOURCE: "1" }, encoding: "utf8" });
    expect(r.stdout).toMatch(/^kt \d/);
    expect(r.stderr).toContain("kt-test: tsx loaded");
  });

  it("kt gateway run starts from dist/ with no tsx loaded and answers /readyz", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kt-compiled-"));
    const config = join(dir, "policy-config.yaml");
    writeFileSync(config, `providers:\n  targets:\n    - { id: t, provider: "openllm:chat:llama3:8b-instruct", model: ${MODEL}, base_url: "${fake.url}", health_probe: true }\n`);
    const port = await freePort();
    const proc = spawn(process.execPath, ["--import", HOOK, KT_BIN, "gateway", "run", "--listen", `127.0.0.1:${port}`, "--policy-config", config, "--drain-delay-seconds", "0"], {
      env: userEnv(),
      stdio: ["ignore", "ignore", "pipe"],
    });
    let err = "";
    proc.stderr!.on("data", (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((r) => proc.once("exit", (code) => r(code)));
    try {
      const deadline = Date.now() + 30_000;
      let status = 0;
      while (status !== 200) {
        if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`no /readyz: ${err}`);
        status = await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.status, () => 0);
        if (status !== 200) await new Promise((r) => setTimeout(r, 50));
      }
      // Log lines are written asynchronously: the banner may trail the first /readyz by a moment.
      while (!err.includes("listening on") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      const banner = err
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .find((o) => typeof o.msg === "string" && o.msg.includes("listening on"))!;
      expect(banner.build).toBe("compiled");
      expect(banner.targets).toEqual([expect.objectContaining({ id: "t", probe: "ok" })]);
      expect(err).not.toContain("kt-test: tsx loaded");
    } finally {
      proc.kill("SIGTERM");
    }
    expect(await exited).toBe(0);
    expect(err).not.toContain("kt-test: tsx loaded");
  }, 60_000);
});

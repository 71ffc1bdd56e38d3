/**
 * Cold start to a 200 from /readyz: `node bin/kt.mjs gateway run` from the compiled dist/ and from
 * the TypeScript sources through tsx (KT_FROM_SOURCE=1), alternating, one target with a health probe
 * against the fake OpenLLM, no policies. Build first (`npm run build`); tsx keeps a transform cache,
 * so the sources' first start is left out as a warm-up like the compiled one.
 *
 *   npx tsx bench/cold-start.ts            (COLD_ROUNDS=7 by default)
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { startFakeOpenLLM } from "../test/fixtures/fake-openllm.js";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const BIN = join(ROOT, "bin/kt.mjs");
const rounds = Number(process.env.COLD_ROUNDS ?? 7);

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

async function startOnce(config: string, fromSource: boolean): Promise<number> {
  const port = await freePort();
  const env: NodeJS.ProcessEnv = { ...process.env, KT_LOG_LEVEL: "warn" };
  if (fromSource) env.KT_FROM_SOURCE = "1";
  else delete env.KT_FROM_SOURCE;
  const t0 = performance.now();
  const proc = spawn(process.execPath, [BIN, "gateway", "run", "--listen", `127.0.0.1:${port}`, "--policy-config", config, "--drain-delay-seconds", "0"], { env, stdio: "ignore" });
  try {
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`gateway exited with ${proc.exitCode}`);
      const ok = await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.status === 200, () => false);
      if (ok) return performance.now() - t0;
      await new Promise((r) => setTimeout(r, 10));
    }
  } finally {
    const exited = new Promise((r) => proc.once("exit", r));
    proc.kill("SIGTERM");
    await exited;
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

if (!existsSync(join(ROOT, "dist/src/cli/index.js"))) throw new Error("no dist/: run `npm run build` first");
const fake = await startFakeOpenLLM();
const dir = mkdtempSync(join(tmpdir(), "kt-cold-"));
const config = join(dir, "policy-config.yaml");
writeFileSync(config, `providers:\n  targets:\n    - { id: t, provider: "openllm:chat:llama3:8b-instruct", base_url: "${fake.url}", health_probe: true }\n`);
const times = { compiled: [] as number[], sources: [] as number[] };
await startOnce(config, true);
await startOnce(config, false);
for (let i = 0; i < rounds; i++) {
  times.compiled.push(await startOnce(config, false));
  times.sources.push(await startOnce(config, true));
}
await fake.close();
const row = (name: string, xs: number[]) => `| ${name} | ${median(xs).toFixed(0)} | ${Math.min(...xs).toFixed(0)} | ${Math.max(...xs).toFixed(0)} |`;
process.stdout.write(
  `Cold start to /readyz 200, ms (${rounds} alternating rounds after one warm-up each)\n\n| build | median | min | max |\n| --- | --- | --- | --- |\n` +
    `${row("compiled dist/", times.compiled)}\n${row("sources via tsx", times.sources)}\n\nratio (median): ${(median(times.sources) / median(times.compiled)).toFixed(2)}x\n`,
);

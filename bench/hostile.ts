/**
 * Hostile load (issue 13). Part 1: per-byte cost of each worst-case shape the attack battery used,
 * against ordinary prose, for every built-in recogniser and the content engine (inline, one thread).
 * Part 2: /healthz latency (p50/p99/max) on a real `kt gateway run` while four clients post bodies of
 * those shapes, each MIB mebibytes (default 15), all PII patterns redacting and the content filter on.
 *
 *   npx tsx bench/hostile.ts            # both parts, 15 MiB bodies
 *   MIB=4 npx tsx bench/hostile.ts      # smaller bodies on a slow machine
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { builtinPiiTypes } from "../src/config/index.js";
import { compilePiiScanner } from "../src/policy/compiled-rule.js";
import { scoreText, warmUpLexicon } from "../src/policy/content/index.js";
import { startFakeOpenLLM } from "../test/fixtures/fake-openllm.js";
import { spawn } from "node:child_process";
import { freePort, KT_BIN } from "../test/helpers/child-gateway.js";

const shapes: Record<string, string> = {
  prose: "The quarterly report shows steady growth in the northern region, and the team expects further gains next year. ",
  pem: "-----BEGIN PRIVATE KEY-----\n",
  jwt: "eyJa.",
  card: "4111 1111 ",
  violent: "kill murder stab shoot bomb attack ",
};

function perByte(): void {
  const size = 1 << 20;
  const scanner = compilePiiScanner({ patterns: [...builtinPiiTypes], regions: undefined, obfuscated: undefined });
  warmUpLexicon();
  let prose = 0;
  console.log("shape    | PII ns/B | content ns/B | total ns/B | x prose");
  console.log("---------|----------|--------------|------------|--------");
  for (const [name, unit] of Object.entries(shapes)) {
    const text = unit.repeat(Math.ceil(size / unit.length)).slice(0, size);
    let bp = Infinity;
    let bc = Infinity;
    for (let k = 0; k < 5; k++) {
      let t = performance.now();
      scanner.scan(text);
      bp = Math.min(bp, performance.now() - t);
      t = performance.now();
      scoreText(text);
      bc = Math.min(bc, performance.now() - t);
    }
    const total = ((bp + bc) * 1e6) / size;
    if (name === "prose") prose = total;
    console.log(`${name.padEnd(8)} | ${((bp * 1e6) / size).toFixed(0).padStart(8)} | ${((bc * 1e6) / size).toFixed(0).padStart(12)} | ${total.toFixed(0).padStart(10)} | ${(total / prose).toFixed(1)}`);
  }
}

async function healthzUnderLoad(): Promise<void> {
  const mib = Number(process.env.MIB ?? 15);
  const fake = await startFakeOpenLLM({ maxModelLen: 1e9 });
  fake.setReply("fine");
  const dir = mkdtempSync(join(tmpdir(), "kt-bench-hostile-"));
  const config = join(dir, "policy-config.yaml");
  writeFileSync(
    config,
    `providers:
  targets:
    - { id: t, provider: "openllm:chat:m", model: m, base_url: "${fake.url}", timeout_seconds: 600 }
policies:
  - id: all
    rules:
      - { type: pii_detection, action: redact, patterns: [${builtinPiiTypes.join(", ")}] }
      - { type: content_filter, action: log, categories: [violence, self_harm, hate, sexual, harassment, illicit] }
`,
  );
  // Started here rather than with the test helper: on a loaded machine start-up may take long.
  const port = await freePort();
  const proc = spawn(process.execPath, [KT_BIN, "gateway", "run", "--listen", `127.0.0.1:${port}`, "--policy-config", config], { stdio: "ignore" });
  const gw = { url: `http://127.0.0.1:${port}`, stop: () => new Promise<void>((r) => (proc.once("exit", () => r()), proc.kill("SIGTERM"))) };
  for (let i = 0; ; i++) {
    if (i > 600) throw new Error("gateway did not start in 120 s");
    const ok = await fetch(`${gw.url}/healthz`).then((r) => r.ok, () => false);
    if (ok) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  await new Promise((r) => setTimeout(r, 5000)); // let the scan workers boot
  const bodies = ["pem", "jwt", "card", "violent"].map((s) => {
    const unit = shapes[s]!;
    const size = mib * 1024 * 1024;
    return JSON.stringify({ model: "m", messages: [{ role: "user", content: unit.repeat(Math.ceil(size / unit.length)).slice(0, size) }] });
  });
  let posting = true;
  const started = performance.now();
  const posts = Promise.all(
    bodies.map(async (body) => {
      const r = await fetch(`${gw.url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body });
      await r.arrayBuffer();
      return r.status;
    }),
  ).finally(() => (posting = false));
  const lat: number[] = [];
  while (posting) {
    const t = performance.now();
    const r = await fetch(`${gw.url}/healthz`);
    await r.arrayBuffer();
    lat.push(performance.now() - t);
    await new Promise((res) => setTimeout(res, 10));
  }
  const statuses = await posts;
  const took = (performance.now() - started) / 1000;
  lat.sort((a, b) => a - b);
  const q = (p: number) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))]!.toFixed(1);
  console.log(`\n/healthz while 4 clients post ${mib} MiB worst-case bodies (statuses ${statuses.join(",")}, ${took.toFixed(1)} s):`);
  console.log(`  ${lat.length} probes: p50 ${q(0.5)} ms, p99 ${q(0.99)} ms, max ${lat.at(-1)!.toFixed(1)} ms`);
  await gw.stop();
  await fake.close();
}

if (process.env.PART !== "2") perByte();
if (process.env.PART !== "1") await healthzUnderLoad();

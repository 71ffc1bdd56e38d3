/**
 * Under --workers the embedded store lives in the primary: two real cluster workers reserving
 * against one key share its window (7 of 20 admitted, not 7 per worker).
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";

it("two cluster workers share one key's requests_per_minute through the primary", async () => {
  const file = fileURLToPath(new URL("./fixtures/ipc-cluster.ts", import.meta.url));
  const child = spawn(process.execPath, ["--import", "tsx", file], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  expect(err).toBe("");
  expect(code).toBe(0);
  const r = JSON.parse(out.trim()) as { ok: number; used: number };
  expect(r.ok).toBe(7);
  expect(r.used).toBe(7);
}, 60_000);

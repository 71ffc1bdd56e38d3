/**
 * The kt CLI as a user meets it: --help on every command and subcommand (flags and an example,
 * exit 0), --version, an unknown flag naming the nearest valid one, --no-env for checking a config
 * in CI without its secrets.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { main } from "../../src/cli/index.js";
import { runKt } from "../helpers/child-gateway.js";

/** `kt ARGS` in this process (spawning tsx per case costs seconds each): exit code and what it wrote. */
async function kt(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = process.stdout.write;
  const err = process.stderr.write;
  let stdout = "";
  let stderr = "";
  process.stdout.write = ((c: string | Uint8Array) => ((stdout += c.toString()), true)) as typeof process.stdout.write;
  process.stderr.write = ((c: string | Uint8Array) => ((stderr += c.toString()), true)) as typeof process.stderr.write;
  try {
    const code = await main(args);
    return { code, stdout, stderr };
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
  }
}

const COMMANDS = [["gateway", "run"], ["config", "validate"], ["models"], ["targets"], ["policy", "test"], ["audit", "verify"], ["audit", "tail"], ["usage"]];

describe("kt --help", () => {
  it("every command and subcommand prints its flags and an example, exit 0", async () => {
    const results = [];
    for (const c of COMMANDS) results.push(await kt([...c, "--help"]));
    results.forEach((r, i) => {
      const name = COMMANDS[i]!.join(" ");
      expect(r.code, `${name}: ${r.stderr}`).toBe(0);
      expect(r.stdout).toContain(`kt ${name}`);
      expect(r.stdout).toMatch(/Flags:\n/);
      expect(r.stdout).toMatch(/Examples?:\n  kt /);
      expect(r.stdout).toContain("--help");
    });
    expect(results[0]!.stdout).toContain("--drain-delay-seconds");
    expect(results[1]!.stdout).toContain("--no-env");
    expect(results[3]!.stdout).toMatch(/--ca FILE[\s\S]*--insecure/);
  }, 60_000);

  it("top level, groups and --version answer too", async () => {
    const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
    // From outside once: the real bin, its exit code and output.
    const [version, fromOutside] = await Promise.all([runKt(["--version"]), runKt(["gateway", "run", "--help"])]);
    expect(fromOutside.code).toBe(0);
    expect(fromOutside.stdout).toContain("--drain-delay-seconds");
    const top = await kt(["--help"]);
    const group = await kt(["gateway", "--help"]);
    const audit = await kt(["audit", "--help"]);
    expect(top.code).toBe(0);
    expect(top.stdout).toContain("kt gateway run");
    expect(group.code).toBe(0);
    expect(group.stdout).toContain("kt gateway run");
    expect(audit.code).toBe(0);
    expect(audit.stdout).toContain("kt audit tail");
    expect(version.code).toBe(0);
    expect(version.stdout.trim()).toBe(`kt ${pkg.version}`);
  }, 60_000);
});

describe("usage errors", () => {
  it("an unknown flag names the nearest valid one, exit 2; an unknown command names the nearest command", async () => {
    const flag = await kt(["gateway", "run", "--drain-second", "3"]);
    const cmd = await kt(["modles"]);
    const sub = await kt(["audit", "verfy"]);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toContain("unknown flag '--drain-second'; did you mean --drain-seconds?");
    expect(cmd.code).toBe(2);
    expect(cmd.stderr).toContain("did you mean 'kt models'?");
    expect(sub.code).toBe(2);
    expect(sub.stderr).toContain("verfy");
  }, 60_000);
});

describe("--no-env", () => {
  const dir = mkdtempSync(join(tmpdir(), "kt-noenv-"));
  const file = join(dir, "policy-config.yaml");
  writeFileSync(
    file,
    `providers:
  targets:
    - id: cloud
      provider: openllm:chat:mistral:7b-instruct
      base_url: https://example.invalid/v1
      secret_key_ref: { env: KT_TEST_UNSET_SECRET_4821 }
auth:
  api_keys:
    - id: ci
      secret_key_ref: { env: KT_TEST_UNSET_KEY_4821 }
`,
  );
  const bad = join(dir, "bad-name.yaml");
  writeFileSync(bad, readFileSync(file, "utf8").replace("KT_TEST_UNSET_SECRET_4821", "'not a name'"));

  it("config validate, models and policy test pass without the secrets; without --no-env they name the variable", async () => {
    const [strict, validate] = await Promise.all([runKt(["config", "validate", file]), runKt(["config", "validate", "--no-env", file])]);
    const models = await kt(["models", "--no-env", "--policy-config", file]);
    const policy = await kt(["policy", "test", "--no-env", "--policy-config", file, "hello"]);
    const malformed = await kt(["config", "validate", "--no-env", bad]);
    expect(strict.code).toBe(1);
    expect(strict.stderr).toContain("environment variable KT_TEST_UNSET_SECRET_4821 is not set");
    expect(validate.code, validate.stderr).toBe(0);
    expect(validate.stdout).toContain("ok");
    expect(validate.stdout).toContain("--no-env");
    expect(models.code, models.stderr).toBe(0);
    expect(models.stdout).toContain("mistral:7b-instruct");
    expect(policy.code, policy.stderr).toBe(0);
    expect(policy.stdout).toContain("decision: allow");
    // A secret_key_ref that names no possible variable still fails.
    expect(malformed.code).toBe(1);
    expect(malformed.stderr).toContain("not a name");
  }, 60_000);
});

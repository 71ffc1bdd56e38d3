import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { build } from "esbuild";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sha256Hex } from "../../src/config/index.js";
import { simpleConfig, startStack, type Stack } from "../helpers/harness.js";

const run = promisify(execFile);
const CLIENT_DIR = fileURLToPath(new URL("../../clients/typescript/", import.meta.url));
const DEV_TYPES_NODE = (JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { devDependencies: Record<string, string> }).devDependencies["@types/node"];
const TSC = fileURLToPath(new URL("../../node_modules/typescript/bin/tsc", import.meta.url));

/**
 * `@keeptrusts/client` as a user gets it: `npm pack` (which builds it), installed into an empty
 * project (dependencies from the npm cache the repository's own install filled), then imported
 * by plain Node, type-checked by a consumer's tsc, and bundled for a browser.
 */
describe("@keeptrusts/client package", () => {
  let stack: Stack;
  let proj: string;
  beforeAll(async () => {
    stack = await startStack(
      simpleConfig(`auth:
  api_keys:
    - { id: ops, sha256: ${sha256Hex("kt-ops")}, scopes: [chat, admin] }
`),
    );
    const work = mkdtempSync(join(tmpdir(), "kt-pack-"));
    await run("npm", ["pack", "--pack-destination", work], { cwd: CLIENT_DIR });
    const tarball = readdirSync(work).find((f) => f.endsWith(".tgz"));
    expect(tarball).toBeDefined();
    proj = join(work, "empty-project");
    mkdirSync(proj);
    writeFileSync(join(proj, "package.json"), JSON.stringify({ name: "empty-project", version: "1.0.0", type: "module", private: true }));
    // @types/node as any Node TypeScript project has it (the Node entry's options name node:http2 types).
    await run("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", join(work, tarball!), `@types/node@${DEV_TYPES_NODE}`], { cwd: proj });
  }, 120_000);
  afterAll(() => stack?.close());

  it("ships built JavaScript and declarations, and nothing imports outside the package", () => {
    const pkgDir = join(proj, "node_modules/@keeptrusts/client");
    const files = readdirSync(join(pkgDir, "dist"), { recursive: true }).map(String);
    for (const f of ["index.js", "index.d.ts", "web.js", "web.d.ts", "core.js", "core.d.ts", "gen/keeptrusts/v1/governance_pb.js"]) expect(files).toContain(f);
    for (const f of files.filter((x) => x.endsWith(".js"))) {
      const text = readFileSync(join(pkgDir, "dist", f), "utf8");
      expect(text, f).not.toMatch(/from "\.\.\/\.\.\//);
    }
  });

  it("calls the gateway from plain Node", async () => {
    writeFileSync(
      join(proj, "call.mjs"),
      `import { createKeeptrustsClient, Direction } from "@keeptrusts/client";
const kt = createKeeptrustsClient({ baseUrl: process.argv[2], apiKey: "kt-ops", protocol: process.argv[3] });
const { targets } = await kt.governance.listTargets({});
const res = await kt.chat.createChatCompletion({ model: "openllm-llama3", messages: [{ role: "user", content: "hello" }] });
const dry = await kt.governance.evaluatePolicy({ text: "hi", direction: Direction.REQUEST });
console.log(JSON.stringify({ targets: targets.map((t) => t.id), answer: res.choices[0]?.message?.content, decision: dry.decision }));
`,
    );
    for (const protocol of ["grpc", "connect", "grpc-web"]) {
      const { stdout } = await run(process.execPath, ["call.mjs", stack.url, protocol], { cwd: proj });
      const out = JSON.parse(stdout) as { targets: string[]; answer: string; decision: string };
      expect(out.targets).toEqual(["openllm-llama3", "openllm-llama3-completion"]);
      expect(typeof out.answer).toBe("string");
      expect(out.answer.length).toBeGreaterThan(0);
      expect(out.decision).toBe("allow");
    }
  }, 60_000);

  it("type-checks in a consumer project through its declarations", async () => {
    writeFileSync(
      join(proj, "use.ts"),
      `import { createKeeptrustsClient, type Target } from "@keeptrusts/client";
import { createKeeptrustsClient as web } from "@keeptrusts/client/web";
const kt = createKeeptrustsClient({ baseUrl: "http://localhost:41002", protocol: "grpc" });
const b = web({ baseUrl: "https://gw.example", apiKey: "k" });
export async function ids(): Promise<string[]> {
  const r = await kt.governance.listTargets({});
  const w = await b.governance.listTargets({});
  return [...r.targets, ...w.targets].map((t: Target) => t.id);
}
// @ts-expect-error: an unknown protocol is a type error
createKeeptrustsClient({ baseUrl: "x", protocol: "smoke-signals" });
`,
    );
    writeFileSync(
      join(proj, "tsconfig.json"),
      JSON.stringify({ compilerOptions: { module: "NodeNext", moduleResolution: "NodeNext", target: "ES2022", strict: true, noEmit: true, lib: ["ES2022", "DOM"], types: ["node"] }, files: ["use.ts"] }),
    );
    const r = await run(process.execPath, [TSC, "-p", "."], { cwd: proj }).catch((e: { stdout: string }) => ({ stdout: e.stdout, failed: true }));
    expect(r).not.toHaveProperty("failed");
  }, 90_000);

  it("bundles for a browser: the bare import resolves to the connect-web entry, with no Node built-ins", async () => {
    writeFileSync(join(proj, "page.js"), `import { createKeeptrustsClient } from "@keeptrusts/client";\nwindow.kt = createKeeptrustsClient({ baseUrl: location.origin });\n`);
    const out = await build({ absWorkingDir: proj, entryPoints: ["page.js"], bundle: true, platform: "browser", format: "esm", write: false, metafile: true, logLevel: "silent" });
    const inputs = Object.keys(out.metafile.inputs);
    expect(inputs.some((i) => i.includes("@keeptrusts/client/dist/web.js"))).toBe(true);
    expect(inputs.some((i) => i.includes("connect-node"))).toBe(false);
    expect(inputs.some((i) => i.includes("@connectrpc/connect-web"))).toBe(true);
  });
});

import { chmod, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { runAuditCommand } from "../../src/cli/audit-command.js";
import { AuditLog } from "../../src/audit/index.js";
import { sampleRecord } from "./fixtures/sample-record.js";

function sink(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  const chunks: Buffer[] = [];
  stream.on("data", (c: Buffer) => chunks.push(c));
  return { stream, text: () => Buffer.concat(chunks).toString("utf8") };
}

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function logWith(n: number): Promise<{ dir: string; log: AuditLog }> {
  const dir = await mkdtemp(join(tmpdir(), "kt-audit-cli-"));
  dirs.push(dir);
  const log = await AuditLog.open({ path: dir, segment_bytes: 2048, pruneIntervalMs: 0 });
  for (let i = 0; i < n; i++) await log.append(sampleRecord(i));
  return { dir, log };
}

describe("kt audit", () => {
  it("verify: exit 0 with a one-line summary, and what it cannot prove without a key", async () => {
    const { dir, log } = await logWith(25);
    await log.close();
    const out = sink();
    const err = sink();
    expect(await runAuditCommand(["verify", "--path", dir], out.stream, err.stream)).toBe(0);
    expect(out.text()).toMatch(/^audit log OK: 25 records in \d+ segments, seq 1\.\.25, last hash [0-9a-f]{64}\nnot proven: no signed checkpoints and no --public-key: [^\n]*\n$/);
    expect(err.text()).toBe("");
  });

  it("verify: exit 1 naming the segment, line and seq of the first broken record", async () => {
    const { dir, log } = await logWith(25);
    await log.close();
    const seg = (await readdir(dir)).filter((f) => f.startsWith("segment-")).sort()[0]!;
    const p = join(dir, seg);
    await chmod(p, 0o644);
    const lines = (await readFile(p, "utf8")).split("\n");
    lines[1] = lines[1]!.replace('"latencyMs":12', '"latencyMs":13');
    await writeFile(p, lines.join("\n"));
    const out = sink();
    const err = sink();
    expect(await runAuditCommand(["verify", "--path", dir], out.stream, err.stream)).toBe(1);
    expect(err.text()).toBe(`audit log BROKEN at ${seg} line 2 (seq 2): hash does not match the record's content (record edited)\n`);
  });

  it("tail prints JSON lines, then follows new records", async () => {
    const { dir, log } = await logWith(5);
    const out = sink();
    const ac = new AbortController();
    const running = runAuditCommand(["tail", "--path", dir, "-n", "2", "--follow"], out.stream, sink().stream, ac.signal);
    await new Promise((r) => setTimeout(r, 100));
    await log.append(sampleRecord(5));
    for (let i = 0; i < 100 && out.text().split("\n").length < 4; i++) await new Promise((r) => setTimeout(r, 20));
    ac.abort();
    expect(await running).toBe(0);
    const seqs = out
      .text()
      .trim()
      .split("\n")
      .map((l) => (JSON.parse(l) as { seq: number }).seq);
    expect(seqs).toEqual([4, 5, 6]);
    await log.close();
  });

  it("usage errors exit 2", async () => {
    const err = sink();
    expect(await runAuditCommand(["frobnicate"], sink().stream, err.stream)).toBe(2);
    expect(err.text()).toMatch(/unknown subcommand/);
    expect(await runAuditCommand(["verify", "--bogus"], sink().stream, sink().stream)).toBe(2);
  });
});

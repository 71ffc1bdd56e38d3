/**
 * Signed checkpoints and the attacks the bare hash chain could not see: each attack below is done
 * the way an insider with disk access would, then `verify --public-key` must name it.
 */
import { generateKeyPairSync } from "node:crypto";
import { chmodSync, cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ANCHOR_FILE, AuditLog, CHECKPOINT_FILE, GENESIS_HASH, loadPublicKey, readCheckpoints, verifyAuditLog } from "../../src/audit/index.js";
import { sealAnchor } from "../../src/audit/audit-anchor.js";
import { canonicalJson } from "../../src/audit/canonical-json.js";
import { chainHash } from "../../src/audit/hash-chain.js";
import { runKt } from "../helpers/child-gateway.js";
import { sampleRecord } from "./fixtures/sample-record.js";

const pair = generateKeyPairSync("ed25519");
const privatePem = pair.privateKey.export({ type: "pkcs8", format: "pem" }).toString();
const publicPem = pair.publicKey.export({ type: "spki", format: "pem" }).toString();
const publicKey = loadPublicKey(publicPem);

let base: string;
let pristine: string;

/** A signed log of 40 records in 4 sealed segments plus an active one, closed cleanly. */
async function writeLog(dir: string, records = 40): Promise<void> {
  const log = await AuditLog.open({ path: dir, segment_bytes: 4096, pruneIntervalMs: 0, signingKey: privatePem, checkpointEvery: 7, commitDelayMs: 0 });
  for (let i = 1; i <= records; i++) await log.append(sampleRecord(i));
  await log.close();
}

function copy(): string {
  const d = mkdtempSync(join(base, "case-"));
  cpSync(pristine, d, { recursive: true });
  for (const f of readdirSync(d)) chmodSync(join(d, f), 0o644);
  return d;
}

function segments(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.startsWith("segment-"))
    .sort();
}

function lines(file: string): Record<string, unknown>[] {
  return readFileSync(file, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Rewrites records from `fromSeq` on, recomputing every hash, as an insider with a script would. */
function rewriteChain(dir: string, edit: (r: Record<string, unknown>) => void, fromSeq = 1): void {
  let prev: string | undefined;
  for (const seg of segments(dir)) {
    const file = join(dir, seg);
    const out: string[] = [];
    for (const r of lines(file)) {
      if ((r.seq as number) >= fromSeq) {
        if (prev !== undefined) r.prev = prev;
        edit(r);
      }
      delete r.hash;
      const body = canonicalJson(r);
      r.hash = chainHash(r.prev as string, body);
      out.push(`${body.slice(0, -1)},"hash":"${r.hash as string}"}`);
      prev = r.hash as string;
    }
    writeFileSync(file, out.join("\n") + "\n");
  }
}

beforeAll(async () => {
  base = mkdtempSync(join(tmpdir(), "kt-audit-signed-"));
  pristine = join(base, "pristine");
  await writeLog(pristine);
});
afterAll(() => rmSync(base, { recursive: true, force: true }));

describe("signed checkpoints", () => {
  it("are written at seals, every N records and at shutdown, and verify", async () => {
    const cps = (await readCheckpoints(pristine)).map((c) => c.cp!);
    expect(cps.map((c) => c.reason)).toContain("seal");
    expect(cps.map((c) => c.reason)).toContain("interval");
    expect(cps.at(-1)).toMatchObject({ reason: "shutdown", seq: 40 });
    expect(segments(pristine).length).toBeGreaterThan(2);
    const r = await verifyAuditLog(pristine, { publicKey });
    expect(r).toMatchObject({ ok: true, lastSeq: 40, lastCheckpointSeq: 40, unproven: [] });
    if (r.ok) expect(r.signaturesChecked).toBe(cps.length);
  });

  it("without a key, verify passes and says what it cannot prove", async () => {
    const r = await verifyAuditLog(pristine);
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.unproven.join(" ")).toMatch(/signatures were not checked/);
  });

  it("detect a rewrite that recomputed the chain", async () => {
    const d = copy();
    rewriteChain(d, (r) => {
      if (r.seq === 12) r.principal = "someone-else";
    });
    expect(await verifyAuditLog(d)).toMatchObject({ ok: false }); // checkpoints still disagree, even unsigned
    const r = await verifyAuditLog(d, { publicKey });
    expect(r).toMatchObject({ ok: false, segment: CHECKPOINT_FILE });
    if (!r.ok) expect(r.reason).toMatch(/chain rewritten/);
  });

  it("detect a rewrite that also re-wrote the checkpoints without the key (forged checkpoint)", async () => {
    const d = copy();
    rewriteChain(d, (r) => {
      if (r.seq === 12) r.principal = "someone-else";
    });
    // Re-sign with a key of the attacker's own.
    const { privateKey } = generateKeyPairSync("ed25519");
    const { signCheckpoint } = await import("../../src/audit/checkpoints.js");
    const all = lines(join(d, CHECKPOINT_FILE));
    const hashes = new Map<number, string>();
    for (const seg of segments(d)) for (const r of lines(join(d, seg))) hashes.set(r.seq as number, r.hash as string);
    const forged = all.map((c) => {
      const { sig: _s, key: _k, v: _v, ...rest } = c as Record<string, unknown>;
      return JSON.stringify(signCheckpoint({ ...(rest as Record<string, unknown>), hash: hashes.get(c.seq as number)! } as never, privateKey));
    });
    writeFileSync(join(d, CHECKPOINT_FILE), forged.join("\n") + "\n");
    const r = await verifyAuditLog(d, { publicKey });
    expect(r).toMatchObject({ ok: false, segment: CHECKPOINT_FILE });
    if (!r.ok) expect(r.reason).toMatch(/another key|forged/);
  });

  it("detect a checkpoint edited in place", async () => {
    const d = copy();
    const text = readFileSync(join(d, CHECKPOINT_FILE), "utf8").replace(/"time":"\d{4}/, '"time":"1999');
    writeFileSync(join(d, CHECKPOINT_FILE), text);
    const r = await verifyAuditLog(d, { publicKey });
    expect(r).toMatchObject({ ok: false, segment: CHECKPOINT_FILE });
    if (!r.ok) expect(r.reason).toMatch(/signature does not verify/);
  });

  it("detect a truncated tail: at a line and mid-line", async () => {
    for (const midLine of [false, true]) {
      const d = copy();
      const segs = segments(d);
      const last = join(d, segs.at(-1)!);
      const text = readFileSync(last, "utf8");
      const cut = text.lastIndexOf("\n", text.length - 2) + 1;
      writeFileSync(last, midLine ? text.slice(0, cut + 20) : text.slice(0, cut));
      const r = await verifyAuditLog(d, { publicKey });
      expect(r).toMatchObject({ ok: false, segment: CHECKPOINT_FILE });
      if (!r.ok) expect(r.reason).toMatch(/truncated/);
    }
  });

  it("detect a deleted middle segment", async () => {
    const d = copy();
    unlinkSync(join(d, segments(d)[1]!));
    const r = await verifyAuditLog(d, { publicKey });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(/segment missing/);
  });

  it("detect a fabricated record appended after the clean shutdown", async () => {
    const d = copy();
    const last = join(d, segments(d).at(-1)!);
    const tail = lines(last).at(-1)!;
    const rec: Record<string, unknown> = { ...tail, seq: 41, prev: tail.hash, principal: "ghost" };
    delete rec.hash;
    const body = canonicalJson(rec);
    writeFileSync(last, readFileSync(last, "utf8") + `${body.slice(0, -1)},"hash":"${chainHash(tail.hash as string, body)}"}\n`);
    expect((await verifyAuditLog(d)).ok).toBe(false);
    const r = await verifyAuditLog(d, { publicKey });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(/clean-shutdown checkpoint/);
    // And a gateway refuses to open it and sign over the fabrication.
    await expect(AuditLog.open({ path: d, pruneIntervalMs: 0, signingKey: privatePem })).rejects.toThrow(/changed after its last clean shutdown/);
  });

  it("detect a forged retention anchor (oldest segments deleted, self-hashed anchor.json)", async () => {
    const d = copy();
    const segs = segments(d);
    const keep = segs.slice(2);
    const firstKept = lines(join(d, keep[0]!))[0]!;
    for (const s of segs.slice(0, 2)) unlinkSync(join(d, s));
    const lastSeq = 40;
    for (const commitSeq of [lastSeq + 5, lastSeq + 1]) {
      writeFileSync(
        join(d, ANCHOR_FILE),
        JSON.stringify(
          sealAnchor({
            version: 1,
            seq: firstKept.seq as number,
            prev: firstKept.prev as string,
            prunedSegments: 2,
            prunedThroughTime: new Date().toISOString(),
            time: new Date().toISOString(),
            retentionDays: 1,
            commitSeq,
            anchorPrev: GENESIS_HASH,
          }),
        ),
      );
      const r = await verifyAuditLog(d, { publicKey });
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.reason).toMatch(/forged/);
      const unsigned = await verifyAuditLog(d);
      if (commitSeq > lastSeq + 1) {
        // Committed by a record past the end: refused even without the key.
        expect(unsigned.ok).toBe(false);
      } else {
        // "The next record will commit it" is what a real prune looks like just before that record:
        // only the signature tells them apart, and without the key verify says it cannot.
        expect(unsigned.ok).toBe(true);
        if (unsigned.ok) expect(unsigned.unproven.join(" ")).toMatch(/not yet committed/);
      }
    }
  });

  it("keeps a real retention anchor verifiable with the key", async () => {
    const d = mkdtempSync(join(base, "prune-"));
    let now = Date.parse("2026-01-01T00:00:00Z");
    const log = await AuditLog.open({ path: d, segment_bytes: 4096, pruneIntervalMs: 0, signingKey: privatePem, retention_days: 1, now: () => now, commitDelayMs: 0 });
    for (let i = 1; i <= 30; i++) await log.append({ ...sampleRecord(i), time: new Date(now).toISOString() });
    now += 3 * 86_400_000;
    const pruned = await log.prune();
    expect(pruned.prunedSegments.length).toBeGreaterThan(0);
    await log.append({ ...sampleRecord(31), time: new Date(now).toISOString() });
    await log.close();
    expect(await verifyAuditLog(d, { publicKey })).toMatchObject({ ok: true, anchored: true });
  });
});

describe("verify refuses what is not a log", () => {
  it("a missing path and an empty directory fail", async () => {
    expect(await verifyAuditLog(join(base, "nope"))).toMatchObject({ ok: false });
    const empty = join(base, "empty");
    mkdirSync(empty);
    expect(await verifyAuditLog(empty)).toMatchObject({ ok: false });
    const cli = await runKt(["audit", "verify", "--path", join(base, "nope")]);
    expect(cli.code).toBe(1);
    expect(cli.stderr).toMatch(/no such audit log directory/);
  }, 60_000);

  it("a record line with a duplicate JSON key fails, even though its hash matches", async () => {
    const d = copy();
    const seg = join(d, segments(d)[0]!);
    const text = readFileSync(seg, "utf8").split("\n");
    // {"principal":"evil",…,"principal":"team-a"}: JSON.parse keeps the last, a reader may show the first.
    text[2] = text[2]!.replace(/^\{/, '{"principal":"evil",');
    writeFileSync(seg, text.join("\n"));
    const r = await verifyAuditLog(d);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(/duplicate JSON key/);
  });
});

describe("kt audit keygen and verify --public-key", () => {
  it("writes a key pair the gateway signs with and verify checks", async () => {
    const prefix = join(base, "ops-key");
    const g = await runKt(["audit", "keygen", "--out", prefix]);
    expect(g.code, g.stderr).toBe(0);
    const d = join(base, "kg-log");
    const log = await AuditLog.open({ path: d, pruneIntervalMs: 0, signingKey: readFileSync(`${prefix}.key`, "utf8") });
    await log.append(sampleRecord(1));
    await log.close();
    const ok = await runKt(["audit", "verify", "--path", d, "--public-key", `${prefix}.pub`]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/1 signed checkpoints verified/);
    // Another key's public half: every signature fails.
    writeFileSync(join(base, "other.pub"), publicPem);
    const bad = await runKt(["audit", "verify", "--path", d, "--public-key", join(base, "other.pub")]);
    expect(bad.code).toBe(1);
    // keygen never overwrites.
    expect((await runKt(["audit", "keygen", "--out", prefix])).code).toBe(2);
  }, 120_000);
});

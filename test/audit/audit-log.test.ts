import { chmod, mkdtemp, readdir, readFile, rm, writeFile, appendFile, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { AuditLog, queryAuditLog, tailAuditLog, verifyAuditLog, type VerifyResult } from "../../src/audit/index.js";
import { sampleRecord } from "./fixtures/sample-record.js";

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), "kt-audit-"));
  dirs.push(d);
  return d;
}
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function fill(dir: string, n: number, opts: { segment_bytes?: number; time?: (i: number) => Date } = {}): Promise<AuditLog> {
  const log = await AuditLog.open({ path: dir, segment_bytes: opts.segment_bytes ?? 2048, pruneIntervalMs: 0 });
  await Promise.all(Array.from({ length: n }, (_, i) => log.append(sampleRecord(i, opts.time?.(i)))));
  return log;
}

async function segmentFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((f) => f.startsWith("segment-")).sort();
}

/** Rewrites one segment's lines (making it writable first: sealed segments are 0444). */
async function editSegment(dir: string, name: string, edit: (lines: string[]) => string[]): Promise<void> {
  const p = join(dir, name);
  await chmod(p, 0o644);
  const lines = (await readFile(p, "utf8")).split("\n").slice(0, -1);
  await writeFile(p, edit(lines).map((l) => l + "\n").join(""));
}

function failure(r: VerifyResult): Extract<VerifyResult, { ok: false }> {
  expect(r.ok).toBe(false);
  return r as Extract<VerifyResult, { ok: false }>;
}

describe("AuditLog", () => {
  it("appends durable, chained records across rotated, sealed segments and verifies", async () => {
    const dir = await tempDir();
    const log = await fill(dir, 60);
    expect(log.lastSeq).toBe(60);
    await log.close();
    const segs = await segmentFiles(dir);
    expect(segs.length).toBeGreaterThan(3);
    // Rotated segments are sealed read-only; the active one is not.
    expect((await stat(join(dir, segs[0]!))).mode & 0o777).toBe(0o444);
    expect((await stat(join(dir, segs.at(-1)!))).mode & 0o200).not.toBe(0);
    for (const s of segs) expect((await stat(join(dir, s))).size).toBeLessThanOrEqual(2048);
    const r = await verifyAuditLog(dir);
    expect(r).toMatchObject({ ok: true, records: 60, segments: segs.length, firstSeq: 1, lastSeq: 60, tornTail: false });
  });

  it("resolves appends in seq order under back-pressure without dropping any", async () => {
    const dir = await tempDir();
    const log = await AuditLog.open({ path: dir, maxPending: 3, pruneIntervalMs: 0 });
    const seqs = await Promise.all(Array.from({ length: 200 }, (_, i) => log.append(sampleRecord(i))));
    expect(seqs).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    await log.close();
    expect(await verifyAuditLog(dir)).toMatchObject({ ok: true, records: 200 });
  });

  it("continues the chain after reopening", async () => {
    const dir = await tempDir();
    await (await fill(dir, 10)).close();
    const log = await fill(dir, 10);
    expect(log.lastSeq).toBe(20);
    await log.close();
    expect(await verifyAuditLog(dir)).toMatchObject({ ok: true, records: 20, lastSeq: 20 });
  });

  it("contains no field beyond the record's own (nothing a caller smuggles in)", async () => {
    const dir = await tempDir();
    const log = await AuditLog.open({ path: dir, pruneIntervalMs: 0 });
    await log.append({ ...sampleRecord(1), messages: [{ role: "user", content: "my ssn is 078-05-1120" }] } as never);
    await log.close();
    const text = await readFile(join(dir, (await segmentFiles(dir))[0]!), "utf8");
    expect(text).not.toContain("078-05-1120");
    expect(await verifyAuditLog(dir)).toMatchObject({ ok: true, records: 1 });
  });

  describe("tamper detection", () => {
    it("names the record whose byte was flipped", async () => {
      const dir = await tempDir();
      await (await fill(dir, 40)).close();
      const seg = (await segmentFiles(dir))[1]!;
      let editedSeq = 0;
      await editSegment(dir, seg, (lines) => {
        const rec = JSON.parse(lines[2]!) as { seq: number };
        editedSeq = rec.seq;
        // "team-a" -> "team-b": still valid JSON, different content.
        lines[2] = lines[2]!.replace(/"principal":"team-(.)"/, (_m, c: string) => `"principal":"team-${c === "a" ? "b" : "a"}"`);
        return lines;
      });
      const f = failure(await verifyAuditLog(dir));
      expect(f).toMatchObject({ segment: seg, line: 3, seq: editedSeq });
      expect(f.reason).toMatch(/edited/);
    });

    it("flags a corrupted byte that breaks the JSON", async () => {
      const dir = await tempDir();
      await (await fill(dir, 10, { segment_bytes: 1 << 20 })).close();
      const seg = (await segmentFiles(dir))[0]!;
      const p = join(dir, seg);
      const buf = await readFile(p);
      const lineStarts = [0, ...[...buf.entries()].filter(([, b]) => b === 0x0a).map(([i]) => i + 1)];
      buf[lineStarts[4]!] = 0x20 ^ buf[lineStarts[4]!]!; // '{' -> '[' : no longer an object
      await writeFile(p, buf);
      expect(failure(await verifyAuditLog(dir))).toMatchObject({ segment: seg, line: 5, seq: 5 });
    });

    it("detects a deleted line", async () => {
      const dir = await tempDir();
      await (await fill(dir, 30)).close();
      const seg = (await segmentFiles(dir))[1]!;
      await editSegment(dir, seg, (lines) => lines.filter((_, i) => i !== 1));
      const f = failure(await verifyAuditLog(dir));
      expect(f.segment).toBe(seg);
      expect(f.line).toBe(2);
      expect(f.reason).toMatch(/deleted, inserted or reordered/);
    });

    it("detects two swapped lines", async () => {
      const dir = await tempDir();
      await (await fill(dir, 30)).close();
      const seg = (await segmentFiles(dir))[0]!;
      await editSegment(dir, seg, (lines) => [lines[0]!, lines[2]!, lines[1]!, ...lines.slice(3)]);
      expect(failure(await verifyAuditLog(dir))).toMatchObject({ segment: seg, line: 2, seq: 3 });
    });

    it("detects an inserted line, even one with a plausible seq and a recomputed hash", async () => {
      const dir = await tempDir();
      await (await fill(dir, 30)).close();
      const seg = (await segmentFiles(dir))[0]!;
      await editSegment(dir, seg, (lines) => {
        const forged = JSON.parse(lines[1]!) as Record<string, unknown>;
        forged.principal = "intruder";
        return [lines[0]!, lines[1]!, JSON.stringify(forged), ...lines.slice(2)];
      });
      expect(failure(await verifyAuditLog(dir))).toMatchObject({ segment: seg, line: 3 });
    });

    it("detects a deleted segment and a renamed one", async () => {
      const dir = await tempDir();
      await (await fill(dir, 40)).close();
      const segs = await segmentFiles(dir);
      await rm(join(dir, segs[1]!));
      const f = failure(await verifyAuditLog(dir));
      expect(f.segment).toBe(segs[2]);
      expect(f.reason).toMatch(/segment missing/);
    });

    it("detects deletion of the first segment (chain must start at genesis or the anchor)", async () => {
      const dir = await tempDir();
      await (await fill(dir, 40)).close();
      const segs = await segmentFiles(dir);
      await rm(join(dir, segs[0]!));
      expect(failure(await verifyAuditLog(dir)).segment).toBe(segs[1]);
    });
  });

  describe("retention", () => {
    const DAY = 86_400_000;
    const now = Date.parse("2025-06-01T00:00:00Z");

    it("prunes whole old segments, anchors the chain, and verify still passes", async () => {
      const dir = await tempDir();
      // 30 records 400 days old, then 30 fresh ones.
      const log = await AuditLog.open({ path: dir, segment_bytes: 2048, retention_days: 365, pruneIntervalMs: 0, now: () => now });
      for (let i = 0; i < 30; i++) await log.append(sampleRecord(i, new Date(now - 400 * DAY)));
      for (let i = 30; i < 60; i++) await log.append(sampleRecord(i, new Date(now - DAY)));
      const before = await segmentFiles(dir);
      const res = await log.prune();
      expect(res.prunedSegments.length).toBeGreaterThan(0);
      const after = await segmentFiles(dir);
      expect(after.length).toBe(before.length - res.prunedSegments.length);
      const v1 = await verifyAuditLog(dir);
      expect(v1).toMatchObject({ ok: true, anchored: true, lastSeq: 60, firstSeq: res.anchor!.seq });
      expect((v1 as { firstSeq: number }).firstSeq).toBeLessThanOrEqual(31); // no fresh record pruned

      // The next record commits the anchor into the chain.
      const seq = await log.append(sampleRecord(61, new Date(now)));
      expect(seq).toBe(res.anchor!.commitSeq);
      await log.close();
      expect(await verifyAuditLog(dir)).toMatchObject({ ok: true, anchored: true, lastSeq: 61 });

      // Reopening keeps the chain.
      const again = await AuditLog.open({ path: dir, segment_bytes: 2048, pruneIntervalMs: 0, now: () => now });
      await again.append(sampleRecord(62, new Date(now)));
      await again.close();
      expect(await verifyAuditLog(dir)).toMatchObject({ ok: true, lastSeq: 62 });
    });

    it("detects an altered anchor and a prune that hides recent segments", async () => {
      const dir = await tempDir();
      const log = await AuditLog.open({ path: dir, segment_bytes: 2048, pruneIntervalMs: 0, now: () => now });
      for (let i = 0; i < 30; i++) await log.append(sampleRecord(i, new Date(now - 400 * DAY)));
      for (let i = 30; i < 60; i++) await log.append(sampleRecord(i, new Date(now)));
      await log.prune();
      await log.close();
      const anchorPath = join(dir, "anchor.json");
      const original = await readFile(anchorPath, "utf8");
      await chmod(anchorPath, 0o644);

      // Pointing the anchor further on (to hide records) without re-hashing it.
      const a = JSON.parse(original) as Record<string, unknown>;
      await writeFile(anchorPath, JSON.stringify({ ...a, seq: (a.seq as number) + 5 }));
      expect(failure(await verifyAuditLog(dir))).toMatchObject({ segment: "anchor.json" });
      await writeFile(anchorPath, original);
      expect((await verifyAuditLog(dir)).ok).toBe(true);
    });

    it("finishes a prune interrupted between writing the anchor and deleting segments", async () => {
      const dir = await tempDir();
      const log = await AuditLog.open({ path: dir, segment_bytes: 2048, pruneIntervalMs: 0, now: () => now });
      for (let i = 0; i < 30; i++) await log.append(sampleRecord(i, new Date(now - 400 * DAY)));
      for (let i = 30; i < 40; i++) await log.append(sampleRecord(i, new Date(now)));
      const segsBefore = await segmentFiles(dir);
      // Keep copies of the segments the prune will delete, then put them back: the crash window.
      const copies = new Map<string, Buffer>();
      for (const s of segsBefore) copies.set(s, await readFile(join(dir, s)));
      const res = await log.prune();
      await log.close();
      for (const s of res.prunedSegments) await writeFile(join(dir, s), copies.get(s)!);
      expect((await verifyAuditLog(dir)).ok).toBe(false);
      await (await AuditLog.open({ path: dir, pruneIntervalMs: 0, now: () => now })).close();
      expect(await verifyAuditLog(dir)).toMatchObject({ ok: true, anchored: true });
    });
  });

  describe("crash recovery", () => {
    it("ignores and then cuts off a torn final line", async () => {
      const dir = await tempDir();
      await (await fill(dir, 5, { segment_bytes: 1 << 20 })).close();
      const seg = (await segmentFiles(dir))[0]!;
      await appendFile(join(dir, seg), '{"seq":6,"time":"2025-');
      expect(await verifyAuditLog(dir)).toMatchObject({ ok: true, records: 5, tornTail: true });
      const log = await AuditLog.open({ path: dir, pruneIntervalMs: 0 });
      expect(await log.append(sampleRecord(6))).toBe(6);
      await log.close();
      expect(await verifyAuditLog(dir)).toMatchObject({ ok: true, records: 6, tornTail: false });
    });
  });

  describe("reading", () => {
    it("queries with filters and pages", async () => {
      const dir = await tempDir();
      const log = await fill(dir, 50);
      const all: number[] = [];
      let token: string | undefined;
      do {
        const page = await log.query({ principal: "team-a", pageSize: 7, pageToken: token });
        all.push(...page.events.map((e) => e.seq));
        token = page.nextPageToken;
      } while (token);
      expect(all).toEqual(Array.from({ length: 25 }, (_, i) => 2 * i + 1)); // seq = i + 1, even i
      const blocked = await queryAuditLog(dir, { decision: "block", target: "openllm-llama3", pageSize: 100 });
      expect(blocked.events.every((e) => e.decision === "block" && e.target === "openllm-llama3")).toBe(true);
      expect(blocked.events.length).toBe(4); // i in {0, 15, 30, 45}
      const one = await log.query({ traceId: sampleRecord(17).traceId });
      expect(one.events.map((e) => e.seq)).toEqual([18]);
      expect((await log.query({ from: "2000-01-01T00:00:00Z", to: "2000-01-02T00:00:00Z" })).events).toEqual([]);
      await expect(log.query({ pageToken: "garbage" })).rejects.toThrow(/pageToken/);
      await log.close();
    });

    it("watch delivers records once durable; tail follows from another reader", async () => {
      const dir = await tempDir();
      const log = await fill(dir, 12);
      const last3: number[] = [];
      for await (const r of tailAuditLog(dir, { lines: 3 })) last3.push(r.seq);
      expect(last3).toEqual([10, 11, 12]);
      const seen: number[] = [];
      const stop = log.watch((r) => seen.push(r.seq));
      const ac = new AbortController();
      const tailed: number[] = [];
      const tailing = (async () => {
        for await (const r of tailAuditLog(dir, { fromSeq: 10, follow: true, pollMs: 20, signal: ac.signal })) {
          tailed.push(r.seq);
          if (r.seq === 20) ac.abort();
        }
      })();
      for (let i = 12; i < 20; i++) await log.append(sampleRecord(i));
      stop();
      await log.append(sampleRecord(99));
      await tailing;
      expect(seen).toEqual([13, 14, 15, 16, 17, 18, 19, 20]);
      expect(tailed).toEqual([10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20]);
      await log.close();
    });
  });
});

describe("canonicalAuditRecord", () => {
  it("serialises to exactly canonicalJson's bytes, for any record", async () => {
    const fc = (await import("fast-check")).default;
    const { canonicalJson, canonicalAuditRecord, canonicalAuditRecordJson, canonicalAuditRecordText } = await import("../../src/audit/canonical-json.js");
    // Strings JSON must escape (quotes, controls, lone surrogates) as well as plain ones.
    const str = fc.oneof(fc.string({ maxLength: 10 }), fc.string({ maxLength: 6, unit: fc.constantFrom("a", '"', "\\", "\n", "\u0000", "\u2028", "\ud800", "é", "10", "2") }));
    // Index-like keys ("10", "2") included: JavaScript orders them first, canonical JSON does not.
    const counts = fc.dictionary(fc.oneof(fc.string({ minLength: 1, maxLength: 8 }), fc.constantFrom("10", "2", "0", "email")), fc.nat());
    const num = fc.oneof(fc.nat(), fc.double(), fc.constantFrom(-0, 1e21, 0.1));
    const event = fc.record(
      {
        policy: str, rule: str, ruleType: fc.constantFrom("pii_detection", "content_filter"), action: fc.constantFrom("redact", "mask", "block", "log"), phase: fc.constantFrom("request", "response"), counts,
        engine: fc.constantFrom("builtin", "llama_guard"), failedOpen: fc.boolean(), leakBoundChars: fc.nat(), verdict: fc.record({ category: str, score: num, threshold: num }),
      },
      { requiredKeys: ["policy", "rule", "ruleType", "action", "phase", "counts"] },
    );
    const input = fc.record(
      {
        time: str, traceId: str, spanId: str, kind: fc.constantFrom("request", "access"), operation: str, frontDoor: fc.constantFrom("openai", "grpc"), principal: str, model: str,
        target: str, targetDescription: str, stream: fc.boolean(), outcome: fc.constantFrom("ok", "error"), errorCode: str, httpStatus: fc.nat(), decision: fc.constantFrom("allow", "redact"),
        rulesFired: fc.array(str), redactions: counts, events: fc.array(event, { maxLength: 3 }), usage: fc.record({ input: fc.nat(), output: fc.nat() }),
        finishReasons: fc.array(str), latencyMs: fc.double({ noNaN: true }), ttfcMs: fc.nat(), pack: fc.record({ name: str, version: str }),
        grpcStatus: fc.nat(), clientAddress: str, credential: str, count: fc.nat(),
        limits: fc.record({ store: str, storeState: str, reservedTokens: fc.nat(), chargedTokens: fc.nat(), refusedBy: str }, { requiredKeys: ["store", "storeState", "reservedTokens"] }),
      },
      { requiredKeys: ["time", "traceId", "spanId", "kind", "operation", "frontDoor", "principal", "model", "stream", "outcome", "decision", "rulesFired", "redactions", "events", "latencyMs"] },
    );
    fc.assert(
      fc.property(input, fc.nat(), str, fc.option(str, { nil: undefined }), (i, seq, prev, anchor) => {
        const r = canonicalAuditRecord(i as never, seq, prev, anchor);
        expect(canonicalAuditRecordJson(r)).toBe(canonicalJson(r));
        expect(canonicalJson(r)).toBe(canonicalJson({ ...i, seq, prev, ...(anchor === undefined ? {} : { anchor }) }));
        // The text the log hashes and writes, built without the record object.
        expect(canonicalAuditRecordText(i as never, seq, prev, anchor)).toBe(canonicalJson(r));
      }),
      { numRuns: 1000 },
    );
  });

  it("writes each of consecutive records as canonicalJson does when their values repeat, change or need escapes", async () => {
    const fc = (await import("fast-check")).default;
    const { canonicalJson, canonicalAuditRecord, canonicalAuditRecordText } = await import("../../src/audit/canonical-json.js");
    // Few values per place, so that most records repeat the last record's value there (the text
    // kept for it is reused) and the rest change it: escaped strings, a value too long to keep,
    // and values that are not strings (a malformed upstream's) at places that keep strings.
    const long = "m".repeat(300);
    const v = fc.constantFrom<unknown>("a", "b", 'q"uote', "line\nbreak", "\u0000", long, 7, null, { z: 1, a: [2] });
    const s = fc.constantFrom("a", "b", 'q"uote', long);
    const event = fc.record({ policy: v, rule: v, ruleType: v, action: v, phase: v, counts: fc.constantFrom({ email: 1 }, { b: 2, a: 1 }), engine: fc.option(v, { nil: undefined }) });
    const input = fc.record(
      {
        time: s, traceId: s, spanId: s, kind: v, operation: v, frontDoor: v, principal: v, model: v, target: fc.option(v, { nil: undefined }),
        targetDescription: fc.option(v, { nil: undefined }), stream: fc.boolean(), outcome: v, errorCode: fc.option(v, { nil: undefined }), decision: v,
        rulesFired: fc.array(s, { maxLength: 2 }), redactions: fc.constantFrom({}, { email: 1 }), events: fc.array(event, { maxLength: 3 }), latencyMs: fc.nat(),
        pack: fc.option(fc.record({ name: v, version: v }), { nil: undefined }), clientAddress: fc.option(v, { nil: undefined }),
        limits: fc.option(fc.record({ store: v, storeState: v, reservedTokens: fc.nat(), refusedBy: fc.option(v, { nil: undefined }) }), { nil: undefined }),
      },
      { requiredKeys: ["time", "traceId", "spanId", "kind", "operation", "frontDoor", "principal", "model", "stream", "outcome", "decision", "rulesFired", "redactions", "events", "latencyMs"] },
    );
    fc.assert(
      fc.property(fc.array(input, { minLength: 2, maxLength: 40 }), (records) => {
        records.forEach((i, seq) => {
          // Fresh strings for each record, as parsed requests give: a kept text is found by equality, not identity.
          const clean = JSON.parse(JSON.stringify(i));
          expect(canonicalAuditRecordText(clean as never, seq, "p", undefined)).toBe(canonicalJson(canonicalAuditRecord(clean as never, seq, "p", undefined)));
        });
      }),
      { numRuns: 300 },
    );
  });
});

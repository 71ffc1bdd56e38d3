/**
 * The cost of the audit log's two durability modes, as an answer sees it: how long after its
 * record is chained the answer may leave. `write`: until the record's write() returned (the
 * default; survives kill -9). `fsync`: until an fdatasync covered it (survives power loss).
 * C concurrent "requests" each append a record and wait, N records in all, on the real file
 * system of the temp directory.
 *
 *   npx tsx bench/audit-durability.ts [N=20000] [C=64]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AuditLog, type AuditRecordInput } from "../src/audit/index.js";

const N = Number(process.argv[2] ?? 20_000);
const C = Number(process.argv[3] ?? 64);

function record(i: number): AuditRecordInput {
  return {
    time: new Date().toISOString(),
    traceId: i.toString(16).padStart(32, "0"),
    spanId: i.toString(16).padStart(16, "0"),
    kind: "request",
    operation: "chat",
    frontDoor: "openai",
    principal: "team-a",
    model: "llama3",
    target: "openllm-llama3",
    stream: false,
    outcome: "ok",
    decision: "allow",
    rulesFired: [],
    redactions: {},
    events: [],
    usage: { input: 12, output: 40 },
    finishReasons: ["stop"],
    latencyMs: 3,
    httpStatus: 200,
    clientAddress: "127.0.0.1",
  };
}

async function run(mode: "write" | "fsync"): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), `kt-bench-dur-${mode}-`));
  const log = await AuditLog.open({ path: dir, pruneIntervalMs: 0, commitDelayMs: mode === "fsync" ? 0 : undefined });
  const waits: number[] = [];
  let next = 0;
  const t0 = performance.now();
  const worker = async () => {
    while (next < N) {
      const i = next++;
      const t = performance.now();
      const r = await log.admit(record(i));
      await (mode === "fsync" ? r.durable : r.written);
      waits.push(performance.now() - t);
    }
  };
  await Promise.all(Array.from({ length: C }, worker));
  const secs = (performance.now() - t0) / 1000;
  await log.close();
  rmSync(dir, { recursive: true, force: true });
  waits.sort((a, b) => a - b);
  const q = (p: number) => waits[Math.min(waits.length - 1, Math.floor(p * waits.length))]!.toFixed(3);
  console.log(`${mode.padEnd(5)}  ${(N / secs).toFixed(0).padStart(8)} records/s   wait p50 ${q(0.5)} ms  p99 ${q(0.99)} ms  max ${q(1)} ms   (N=${N}, C=${C}, ${tmpdir()})`);
}

await run("write");
await run("fsync");

import { open, readFile, rename, unlink } from "node:fs/promises";
import { join } from "node:path";
import { canonicalJson } from "./canonical-json.js";
import { chainHash, GENESIS_HASH, isHex64 } from "./hash-chain.js";

/**
 * Written when retention prunes the oldest segments: the log then starts mid-chain, and the anchor
 * says where. `seq`/`prev` are the first retained record's seq and the hash it chains from.
 *
 * The anchor is tamper-evident in two ways. Anchors form a chain of their own (`anchorPrev` is the
 * previous anchor's hash, `hash` = SHA-256(anchorPrev + canonical JSON of the anchor without
 * `hash`)). And the first record appended after a prune (seq `commitSeq`) carries the anchor's hash
 * in its `anchor` field, inside that record's own hash, so rewriting the anchor later means
 * rewriting the record chain from `commitSeq` on.
 */
export interface AuditAnchor {
  version: 1;
  seq: number;
  prev: string;
  /** Segments removed by retention over the life of the log. */
  prunedSegments: number;
  /** Newest record time among the removed segments (ISO). */
  prunedThroughTime: string;
  /** When the prune ran (ISO). */
  time: string;
  retentionDays: number;
  /** The seq of the record that commits this anchor into the chain. */
  commitSeq: number;
  anchorPrev: string;
  hash: string;
}

export const ANCHOR_FILE = "anchor.json";

export function anchorHash(a: Omit<AuditAnchor, "hash">): string {
  return chainHash(a.anchorPrev, canonicalJson(a));
}

export function sealAnchor(a: Omit<AuditAnchor, "hash">): AuditAnchor {
  return { ...a, hash: anchorHash(a) };
}

/** Reads anchor.json; undefined when the log was never pruned. Throws on a malformed file. */
export async function readAnchor(dir: string): Promise<AuditAnchor | undefined> {
  let text: string;
  try {
    text = await readFile(join(dir, ANCHOR_FILE), "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
  const a = JSON.parse(text) as AuditAnchor;
  if (a === null || typeof a !== "object" || !Number.isSafeInteger(a.seq) || !isHex64(a.prev) || !isHex64(a.hash)) {
    throw new Error("anchor.json is malformed");
  }
  return a;
}

export function checkAnchor(a: AuditAnchor): string | undefined {
  const { hash, ...rest } = a;
  if (anchorHash(rest) !== hash) return "anchor.json hash does not match its content";
  if (!isHex64(a.anchorPrev)) return "anchor.json has a malformed anchorPrev";
  return undefined;
}

/** Atomically replaces anchor.json (write temp, fsync, rename, fsync dir). */
export async function writeAnchor(dir: string, a: AuditAnchor, readOnly: boolean): Promise<void> {
  const tmp = join(dir, `${ANCHOR_FILE}.tmp`);
  await unlink(tmp).catch(() => undefined);
  const fh = await open(tmp, "wx", readOnly ? 0o444 : 0o644);
  try {
    await fh.writeFile(JSON.stringify(a, null, 2) + "\n");
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, join(dir, ANCHOR_FILE));
  await fsyncDir(dir);
}

export async function fsyncDir(dir: string): Promise<void> {
  // Directory fsync makes a created/renamed/removed entry durable; not all platforms allow it.
  try {
    const fh = await open(dir, "r");
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch {
    /* best effort */
  }
}

export { GENESIS_HASH };

import { createPrivateKey, createPublicKey, sign, verify, hash, type KeyObject } from "node:crypto";
import { writeSync } from "node:fs";
import { open, readFile, truncate, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { canonicalJson } from "./canonical-json.js";
import { isHex64 } from "./hash-chain.js";

/**
 * Signed checkpoints: at each segment seal, every N records, at each retention prune and at
 * shutdown, the chain head (seq, hash) is signed with the operator's Ed25519 key and appended to
 * `checkpoints.jsonl` beside the segments. Someone with write access to the directory but not the
 * private key can then no longer recompute the chain after an edit, cut the newest records off,
 * forge a retention anchor or append a record after a clean shutdown without `kt audit verify
 * --public-key` noticing. Each request's span carries its own (seq, hash) as a second witness
 * outside the directory.
 */
export const CHECKPOINT_FILE = "checkpoints.jsonl";

export type CheckpointReason = "interval" | "seal" | "anchor" | "shutdown";

export interface Checkpoint {
  v: 1;
  /** The chain head it signs: the record `seq` and its `hash`. For `anchor`, the anchor's (seq - 1, prev). */
  seq: number;
  hash: string;
  time: string;
  /** The segment file holding record `seq`. */
  segment: string;
  reason: CheckpointReason;
  /** `anchor` only: the hash of the anchor.json this prune wrote. */
  anchor?: string;
  /** First 16 hex of SHA-256 of the public key (DER SPKI), naming the key that signed. */
  key: string;
  /** Ed25519 signature (base64) over the canonical JSON of everything else. */
  sig: string;
}

export function keyId(publicKey: KeyObject): string {
  return hash("sha256", publicKey.export({ type: "spki", format: "der" }), "hex").slice(0, 16);
}

/** The private key from PKCS#8 PEM; throws a clear error unless it is Ed25519. */
export function loadSigningKey(pem: string): KeyObject {
  const key = createPrivateKey(pem);
  if (key.asymmetricKeyType !== "ed25519") throw new Error(`the audit signing key must be Ed25519, not ${key.asymmetricKeyType}`);
  return key;
}

/** A public key from SPKI PEM (or the public half of a private key PEM). */
export function loadPublicKey(pem: string): KeyObject {
  const key = createPublicKey(pem);
  if (key.asymmetricKeyType !== "ed25519") throw new Error(`the audit public key must be Ed25519, not ${key.asymmetricKeyType}`);
  return key;
}

export function signCheckpoint(c: Omit<Checkpoint, "sig" | "key" | "v">, key: KeyObject): Checkpoint {
  const body: Omit<Checkpoint, "sig"> = { v: 1, ...c, key: keyId(createPublicKey(key)) };
  return { ...body, sig: sign(null, Buffer.from(canonicalJson(body), "utf8"), key).toString("base64") };
}

export function checkSignature(c: Checkpoint, publicKey: KeyObject): boolean {
  const { sig, ...body } = c;
  if (typeof sig !== "string") return false;
  try {
    return verify(null, Buffer.from(canonicalJson(body), "utf8"), publicKey, Buffer.from(sig, "base64"));
  } catch {
    return false;
  }
}

/** Reads checkpoints.jsonl: parsed lines with their line numbers; a torn last line is ignored. */
export async function readCheckpoints(dir: string): Promise<{ line: number; cp: Checkpoint | undefined; text: string }[]> {
  let text: string;
  try {
    text = await readFile(join(dir, CHECKPOINT_FILE), "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw e;
  }
  const lines = text.split("\n");
  // Everything after the last newline is a line a crash cut short: never acknowledged.
  lines.pop();
  return lines.map((t, i) => ({ line: i + 1, cp: parseCheckpoint(t), text: t }));
}

function parseCheckpoint(text: string): Checkpoint | undefined {
  try {
    const c = JSON.parse(text) as Checkpoint;
    if (c === null || typeof c !== "object" || !Number.isSafeInteger(c.seq) || !isHex64(c.hash) || typeof c.sig !== "string") return undefined;
    return c;
  } catch {
    return undefined;
  }
}

/** The writer's side: signs and appends checkpoints, each made durable before it counts. */
export class CheckpointWriter {
  private constructor(
    private readonly fh: FileHandle,
    private readonly key: KeyObject,
  ) {}

  static async open(dir: string, key: KeyObject): Promise<CheckpointWriter> {
    const path = join(dir, CHECKPOINT_FILE);
    // A line torn by a crash would glue onto the next one: cut it off (it never counted).
    const text = await readFile(path).catch(() => Buffer.alloc(0));
    const end = text.lastIndexOf(0x0a) + 1;
    if (end < text.length) await truncate(path, end);
    const fh = await open(path, "a", 0o644);
    return new CheckpointWriter(fh, key);
  }

  async write(c: Omit<Checkpoint, "sig" | "key" | "v">): Promise<Checkpoint> {
    const signed = signCheckpoint(c, this.key);
    writeSync(this.fh.fd, JSON.stringify(signed) + "\n");
    await this.fh.datasync();
    return signed;
  }

  close(): Promise<void> {
    return this.fh.close();
  }
}

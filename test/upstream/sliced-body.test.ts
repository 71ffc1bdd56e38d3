/**
 * A large request body goes to the upstream in slices (src/upstream/openai-client.ts), not in one
 * socket write. These check the structure, never the timing: the slices are views of the body,
 * the upstream receives it byte for byte with its declared length (no chunked encoding), streamed
 * and not, from a shared buffer at an offset as a held body is, and the connection stays usable
 * afterwards (a length that did not match the bytes written would break it).
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { Target } from "../../src/config/index.js";
import { bodySlices, SLICE_MIN_BYTES, UpstreamClient } from "../../src/upstream/index.js";
import { startFakeOpenLLM, type FakeOpenLLM } from "../fixtures/fake-openllm.js";
import { MODEL } from "../helpers/harness.js";

let fake: FakeOpenLLM;
let client: UpstreamClient;

function target(url: string): Target {
  return {
    id: "t",
    provider: "openllm:chat:m",
    kind: "openllm" as Target["kind"],
    upstreamModel: MODEL,
    providerModel: MODEL,
    baseUrl: url,
    secretEnv: undefined,
    secret: undefined,
    timeoutSeconds: 60,
    connectTimeoutSeconds: 10,
    idleTimeoutSeconds: 60,
    totalTimeoutSeconds: undefined,
    format: "openai",
    description: undefined,
    weight: 1,
    healthProbe: false,
    limits: undefined,
  };
}

/** A JSON body of about `bytes` bytes whose text mixes 1- to 4-byte characters, so slices split characters. */
function bodyText(bytes: number, seed: number, stream = false): string {
  const units = ["plain words ", "é", "ü ", "漢字", "🙂", "\\n", "\\\"q\\\" ", String(seed)];
  let s = "";
  for (let i = 0; s.length < bytes / 2; i++) s += units[(i * 7 + seed) % units.length];
  return JSON.stringify({ model: MODEL, stream, messages: [{ role: "user", content: `seed ${seed}: ${s}` }] });
}

/** The text's UTF-8 in shared memory at an offset, as a held body's bytes are. */
function sharedBytes(text: string, offset = 100): Uint8Array {
  const n = Buffer.byteLength(text);
  const sab = new SharedArrayBuffer(offset + n + 50);
  const view = new Uint8Array(sab, offset, n);
  Buffer.from(view.buffer, view.byteOffset, view.length).write(text);
  return view;
}

beforeAll(async () => {
  fake = await startFakeOpenLLM({ maxModelLen: 1e9 });
  client = new UpstreamClient(target(fake.url));
});
afterAll(async () => {
  await client?.close();
  await fake?.close();
});
beforeEach(() => {
  fake.reset();
  fake.setBehavior("normal");
  fake.setReply("fine");
});

describe("sliced upstream body", () => {
  it("yields views of the body, never copies, that join to it", async () => {
    const bytes = sharedBytes("x".repeat(300 * 1024 + 7), 33);
    const slices: Buffer[] = [];
    for await (const s of bodySlices(bytes, 64 * 1024)) slices.push(s);
    expect(slices).toHaveLength(Math.ceil(bytes.length / (64 * 1024)));
    for (const s of slices) {
      expect(s.buffer).toBe(bytes.buffer);
      expect(s.length).toBeLessThanOrEqual(64 * 1024);
    }
    expect(Buffer.concat(slices).equals(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length))).toBe(true);
  });

  it("delivers a large non-streamed body byte for byte, with its length declared", async () => {
    const text = bodyText(3 * SLICE_MIN_BYTES, 1);
    const bytes = sharedBytes(text);
    expect(bytes.length).toBeGreaterThan(SLICE_MIN_BYTES);
    const r = await client.jsonText({ op: "chat", body: {}, bytes, signal: new AbortController().signal });
    // Not asked to hold the answer: it comes back parsed.
    if (r.held) throw new Error("the answer was held");
    expect((r.body.choices as { message: { content: string } }[])[0]!.message.content).toBe("fine");
    expect(fake.requests).toHaveLength(1);
    const got = fake.requests[0]!;
    expect(got.rawBody).toBe(text);
    expect(got.headers["content-length"]).toBe(String(bytes.length));
    expect(got.headers["transfer-encoding"]).toBeUndefined();
  });

  it("delivers a large streamed body byte for byte", async () => {
    const text = bodyText(2 * SLICE_MIN_BYTES, 2, true);
    const bytes = sharedBytes(text, 0);
    const chunks = await client.stream({ op: "chat", body: {}, bytes, signal: new AbortController().signal });
    let answer = "";
    for await (const c of chunks) answer += (c.choices as { delta?: { content?: string } }[])[0]?.delta?.content ?? "";
    expect(answer).toBe("fine");
    expect(fake.requests[0]!.rawBody).toBe(text);
    expect(fake.requests[0]!.headers["content-length"]).toBe(String(bytes.length));
  });

  it("leaves the connection usable: calls after a sliced one, large and small, arrive whole", async () => {
    const texts = [bodyText(SLICE_MIN_BYTES + 1, 3), bodyText(5 * SLICE_MIN_BYTES, 4), bodyText(1000, 5), bodyText(SLICE_MIN_BYTES * 2, 6)];
    for (const t of texts) await client.jsonText({ op: "chat", body: {}, bytes: sharedBytes(t), signal: new AbortController().signal });
    expect(fake.requests.map((q) => q.rawBody)).toEqual(texts);
    // Kept-alive connections served them (a body that ended early or ran over its declared length
    // would cost its connection: four calls, four ports). A call can come in before undici has
    // marked the previous one's connection free, so two may open.
    expect(new Set(fake.requests.map((q) => q.remotePort)).size).toBeLessThanOrEqual(2);
  });
});

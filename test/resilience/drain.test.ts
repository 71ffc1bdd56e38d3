/**
 * The real CLI as a child process (`kt gateway run`): SIGTERM drains — new requests are refused
 * or told 503 while the streams already running finish every chunk and [DONE], then the process
 * exits 0 within --drain-seconds; SIGHUP reloads under load — running streams finish on the old
 * config, new requests see the new one, and a bad file is rejected with the running config kept.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { startFakeOpenLLM, type FakeOpenLLM } from "../fixtures/fake-openllm.js";
import { startChildGateway, type ChildGateway } from "../helpers/child-gateway.js";
import { MODEL, settle, sleep, within } from "./rig.js";

const WORDS = Array.from({ length: 20 }, (_, i) => `w${i}`);
const REPLY = WORDS.join(" ");

const fakes: FakeOpenLLM[] = [];
const children: ChildGateway[] = [];
afterEach(async () => {
  await Promise.all(children.splice(0).map((c) => c.stop("SIGKILL")));
  await Promise.all(fakes.splice(0).map((f) => f.close()));
});

function config(url: string, description = "first"): string {
  return `providers:
  targets:
    - id: main
      provider: openllm:chat:llama3:8b-instruct
      model: ${MODEL}
      base_url: ${url}
      description: ${description}
`;
}

interface OpenStream {
  /** Resolves once the first data event arrived. */
  started: Promise<void>;
  /** Every data payload, [DONE] included, once the response ended. */
  done: Promise<{ status: number; data: string[] }>;
}

/** A raw SSE stream read incrementally over its own connection. */
function openStream(url: string, content = "go"): OpenStream {
  let markStarted!: () => void;
  const started = new Promise<void>((r) => (markStarted = r));
  const done = (async () => {
    const res = await fetch(`${url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "main", messages: [{ role: "user", content }], stream: true }),
    });
    let text = "";
    const decoder = new TextDecoder();
    for await (const part of res.body as unknown as AsyncIterable<Uint8Array>) {
      text += decoder.decode(part, { stream: true });
      if (text.includes("data: ")) markStarted();
    }
    markStarted();
    const data = text
      .split("\n")
      .filter((l) => l.startsWith("data: "))
      .map((l) => l.slice(6));
    return { status: res.status, data };
  })();
  return { started, done };
}

function contentOf(data: string[]): string {
  return data
    .filter((d) => d !== "[DONE]")
    .map((d) => JSON.parse(d).choices?.[0]?.delta?.content ?? "")
    .join("");
}

async function waitFor(pred: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

function tmpConfig(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), "kt-drain-"));
  const path = join(dir, "policy-config.yaml");
  writeFileSync(path, text);
  return path;
}

describe("kt gateway run as a child process", () => {
  it("SIGTERM: new requests are turned away, 3 running streams finish with all chunks and [DONE], exit 0 within the drain deadline", async () => {
    const fake = await startFakeOpenLLM();
    fakes.push(fake);
    fake.setReply(REPLY);
    fake.setBehavior({ kind: "drip", intervalMs: 150 }); // 20 chunks: about 3 s per stream
    const gw = await startChildGateway(tmpConfig(config(fake.url)), {}, ["--drain-seconds", "10"]);
    children.push(gw);
    expect((await fetch(`${gw.url}/readyz`)).status).toBe(200);

    const streams = [openStream(gw.url), openStream(gw.url), openStream(gw.url)];
    await within(5000, Promise.all(streams.map((s) => s.started)), "first chunks");
    const exited = new Promise<number | null>((r) => gw.proc.once("exit", (code) => r(code)));
    const t0 = Date.now();
    gw.proc.kill("SIGTERM");
    await waitFor(() => gw.stderr().includes("SIGTERM: draining"), "the drain message", 5000);

    // New work is refused: /readyz says 503 on a connection that is still open, or nothing listens.
    const ready = await settle(fetch(`${gw.url}/readyz`));
    if (ready.ok) expect(ready.value.status).toBe(503);
    else expect(String(ready.error?.cause?.code ?? ready.error)).toMatch(/ECONNREFUSED|ECONNRESET|UND_ERR_SOCKET|other side closed/);
    const fresh = await settle(fetch(`${gw.url}/v1/chat/completions`, { method: "POST", body: JSON.stringify({ model: "main", messages: [{ role: "user", content: "late" }] }) }));
    if (fresh.ok) expect(fresh.value.status).toBe(503);
    expect(fake.requests.filter((r) => r.method === "POST")).toHaveLength(3);

    const results = await within(12_000, Promise.all(streams.map((s) => s.done)), "the running streams");
    for (const r of results) {
      expect(r.status).toBe(200);
      expect(r.data.at(-1)).toBe("[DONE]");
      expect(contentOf(r.data)).toBe(REPLY);
      expect(r.data.filter((d) => d !== "[DONE]" && JSON.parse(d).choices?.[0]?.delta?.content?.trim())).toHaveLength(WORDS.length);
      expect(r.data.some((d) => d.includes('"error"'))).toBe(false);
    }
    const streamsDone = Date.now();
    const code = await within(12_000, exited, "process exit");
    expect(code).toBe(0);
    expect(Date.now() - t0).toBeLessThan(10_000);
    // The drain ends with the work, not a keep-alive timeout later.
    expect(Date.now() - streamsDone).toBeLessThan(2000);
  }, 40_000);

  it("SIGHUP under load: running streams finish on the old config, new requests see the new one, a bad file is rejected", async () => {
    const oldFake = await startFakeOpenLLM();
    const newFake = await startFakeOpenLLM();
    fakes.push(oldFake, newFake);
    oldFake.setReply(REPLY);
    oldFake.setBehavior({ kind: "drip", intervalMs: 150 });
    newFake.setReply("served by the new config");
    const configPath = tmpConfig(config(oldFake.url));
    const gw = await startChildGateway(configPath, {}, ["--drain-seconds", "10"]);
    children.push(gw);

    const streams = [openStream(gw.url), openStream(gw.url)];
    await within(5000, Promise.all(streams.map((s) => s.started)), "first chunks");

    writeFileSync(configPath, config(newFake.url, "second"));
    gw.proc.kill("SIGHUP");
    await waitFor(() => gw.stderr().includes("reloaded "), "the reload");
    const ask = async () => {
      const r = await fetch(`${gw.url}/v1/chat/completions`, { method: "POST", body: JSON.stringify({ model: "main", messages: [{ role: "user", content: "x" }] }) });
      expect(r.status).toBe(200);
      return ((await r.json()) as any).choices[0].message.content as string;
    };
    expect(await ask()).toBe("served by the new config");

    const results = await within(10_000, Promise.all(streams.map((s) => s.done)), "streams across the reload");
    for (const r of results) {
      expect(r.data.at(-1)).toBe("[DONE]");
      expect(contentOf(r.data)).toBe(REPLY);
      expect(r.data.some((d) => d.includes('"error"'))).toBe(false);
    }
    expect(oldFake.requests.filter((r) => r.method === "POST")).toHaveLength(2);

    // A bad file (an unknown key, then broken YAML) is rejected and the running config stays.
    writeFileSync(configPath, config(oldFake.url).replace("description:", "descriptoin:"));
    gw.proc.kill("SIGHUP");
    await waitFor(() => gw.stderr().includes("reload rejected"), "the rejection");
    expect(gw.stderr()).toMatch(/descriptoin: unknown key/);
    expect(await ask()).toBe("served by the new config");
    writeFileSync(configPath, "providers: [targets:\n  - {");
    gw.proc.kill("SIGHUP");
    await waitFor(() => gw.stderr().split("reload rejected").length === 3, "the second rejection");
    expect(await ask()).toBe("served by the new config");
    expect(oldFake.requests.filter((r) => r.method === "POST")).toHaveLength(2);
    expect(gw.proc.exitCode).toBeNull();
    expect(await gw.stop("SIGTERM")).toBe(0);
  }, 40_000);
});

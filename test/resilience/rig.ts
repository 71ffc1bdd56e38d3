/**
 * Shared pieces of the fault-injection suite: N fake OpenLLMs and a real in-process gateway (the
 * same composition `kt gateway run` uses), plus readers for the audit log and raw SSE streams.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import { queryAuditLog, type StoredAuditRecord } from "../../src/audit/index.js";
import { createGatewayServices, type ComposeOptions, type GatewayServices } from "../../src/cli/compose.js";
import type { GatewayOptions } from "../../src/server/index.js";
import { createKeeptrustsClient, type KeeptrustsClient, type KeeptrustsProtocol } from "../../clients/typescript/src/index.js";
import { startFakeOpenLLM, type FakeOpenLLM, type FakeOpenLLMOptions } from "../fixtures/fake-openllm.js";

export const MODEL = "meta-llama/Llama-3.1-8B-Instruct";

export interface Rig {
  fakes: FakeOpenLLM[];
  services: GatewayServices;
  url: string;
  dir: string;
  auditDir: string;
  configPath: string;
  openai(opts?: { apiKey?: string }): OpenAI;
  kt(protocol?: KeeptrustsProtocol, apiKey?: string): KeeptrustsClient;
  /** Every audit record written so far (after a flush), oldest first. */
  audit(): Promise<StoredAuditRecord[]>;
  /** Waits until the audit log holds more than `n` request records; returns the newest. */
  nextAudit(n: number, timeoutMs?: number): Promise<StoredAuditRecord>;
  close(): Promise<void>;
}

export interface RigOptions {
  fakes?: FakeOpenLLMOptions[];
  /** Extra GatewayOptions (circuit, headersTimeoutMs…), passed through the real composition. */
  gateway?: Partial<Pick<GatewayOptions, "circuit" | "headersTimeoutMs" | "requestTimeoutMs">>;
  maxBodyBytes?: number;
}

/** `config(fakeUrls, auditDir)` renders policy-config.yaml. */
export async function startRig(config: (urls: string[], auditDir: string) => string, opts: RigOptions = {}): Promise<Rig> {
  const fakes = await Promise.all((opts.fakes ?? [{}]).map((o) => startFakeOpenLLM(o)));
  const dir = mkdtempSync(join(tmpdir(), "kt-resilience-"));
  const auditDir = join(dir, "audit");
  const configPath = join(dir, "policy-config.yaml");
  writeFileSync(configPath, config(fakes.map((f) => f.url), auditDir));
  const compose: ComposeOptions & NonNullable<RigOptions["gateway"]> = {
    listen: "127.0.0.1:0",
    configPath,
    maxBodyBytes: opts.maxBodyBytes,
    telemetry: null,
    ...opts.gateway,
  };
  const services = await createGatewayServices(compose);
  const url = services.gateway.url;
  const audit = async () => {
    const log = services.auditLog();
    if (!log) return [];
    await log.flush();
    return (await queryAuditLog(log.path, { pageSize: 1000 })).events.filter((r) => r.kind === "request");
  };
  return {
    fakes,
    services,
    url,
    dir,
    auditDir,
    configPath,
    openai: (o = {}) => new OpenAI({ baseURL: `${url}/v1`, apiKey: o.apiKey ?? "kt-test", maxRetries: 0, timeout: 15_000 }),
    kt: (protocol = "grpc", apiKey = "kt-test") => createKeeptrustsClient({ baseUrl: url, apiKey, protocol }),
    audit,
    async nextAudit(n, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const all = await audit();
        if (all.length > n) return all.at(-1)!;
        if (Date.now() > deadline) throw new Error(`no audit record #${n + 1} within ${timeoutMs} ms (have ${all.length})`);
        await sleep(25);
      }
    },
    async close() {
      await services.close({ drainMs: 1000 });
      await Promise.all(fakes.map((f) => f.close()));
    },
  };
}

/** Pack-form config with the audit-logger, one target per line of `targets` (YAML flow maps). */
export function packConfig(auditDir: string, targets: string[], extra = ""): string {
  return `pack:
  name: resilience
  version: 1.0.0
providers:
  targets:
${targets.map((t) => `    - ${t}`).join("\n")}
policies:
  chain: [audit-logger]
policy:
  audit-logger:
    path: ${auditDir}
${extra}`;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Rejects when `p` takes longer than `ms`: a hang is a failure, never a stuck test. */
export async function within<T>(ms: number, p: Promise<T>, what = "operation"): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        t = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(t);
  }
}

/** Drains a promise-returning call into its outcome: the value or the thrown error. */
export async function settle<T>(p: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: any }> {
  try {
    return { ok: true, value: await p };
  } catch (error) {
    return { ok: false, error };
  }
}

/** Reads an OpenAI SDK stream to its end; returns the text, or throws what the SDK threw. */
export async function sdkStreamText(client: OpenAI, body: { model: string; content: string }, signal?: AbortSignal): Promise<string> {
  const s = await client.chat.completions.create({ model: body.model, messages: [{ role: "user", content: body.content }], stream: true }, { signal });
  let text = "";
  for await (const c of s) text += c.choices[0]?.delta?.content ?? "";
  return text;
}

/** Reads a gRPC/Connect server stream to its end; returns the text, or throws the ConnectError. */
export async function ktStreamText(client: KeeptrustsClient, model: string, content: string, timeoutMs?: number): Promise<string> {
  let text = "";
  for await (const c of client.chat.streamChatCompletion({ model, messages: [{ role: "user", content }] }, timeoutMs ? { timeoutMs } : {}))
    text += c.choices[0]?.delta?.content ?? "";
  return text;
}

/** A raw SSE reader: every `data:` payload in order, `[DONE]` included. */
export async function rawSse(url: string, body: unknown, headers: Record<string, string> = {}, signal?: AbortSignal): Promise<{ status: number; data: string[] }> {
  const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body), signal });
  const text = await res.text();
  const data = text
    .split("\n")
    .filter((l) => l.startsWith("data: "))
    .map((l) => l.slice(6));
  return { status: res.status, data };
}

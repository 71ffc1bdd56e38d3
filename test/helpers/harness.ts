import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import { createGatewayServices, type GatewayServices } from "../../src/cli/compose.js";
import { startFakeOpenLLM, type FakeOpenLLM, type FakeOpenLLMOptions } from "../fixtures/fake-openllm.js";

export interface Stack {
  fake: FakeOpenLLM;
  services: GatewayServices;
  /** http://127.0.0.1:PORT */
  url: string;
  configPath: string;
  dir: string;
  openai(opts?: { apiKey?: string; maxRetries?: number }): OpenAI;
  close(): Promise<void>;
}

export interface StackOptions {
  fake?: FakeOpenLLMOptions;
  env?: Record<string, string>;
  maxBodyBytes?: number;
}

/** A fake OpenLLM and a real gateway on real loopback ports, configured by `config(fakeUrl, dir)`. */
export async function startStack(config: (fakeUrl: string, dir: string) => string, opts: StackOptions = {}): Promise<Stack> {
  const fake = await startFakeOpenLLM(opts.fake);
  const dir = mkdtempSync(join(tmpdir(), "kt-test-"));
  const configPath = join(dir, "policy-config.yaml");
  writeFileSync(configPath, config(fake.url, dir));
  const services = await createGatewayServices({
    listen: "127.0.0.1:0",
    configPath,
    env: { ...process.env, ...opts.env },
    maxBodyBytes: opts.maxBodyBytes,
  });
  const url = services.gateway.url;
  return {
    fake,
    services,
    url,
    configPath,
    dir,
    openai: (o = {}) => new OpenAI({ baseURL: `${url}/v1`, apiKey: o.apiKey ?? "kt-test", maxRetries: o.maxRetries ?? 0 }),
    async close() {
      await services.close({ drainMs: 1000 });
      await fake.close();
    },
  };
}

export const MODEL = "meta-llama/Llama-3.1-8B-Instruct";

/** A one-target plain config pointing at the fake, with `model:` set to what the fake serves. */
export function simpleConfig(extra = ""): (url: string) => string {
  return (url) => `providers:
  targets:
    - id: openllm-llama3
      provider: openllm:chat:llama3:8b-instruct
      model: ${MODEL}
      base_url: ${url}
    - id: openllm-llama3-completion
      provider: openllm:completion:llama3:8b
      model: ${MODEL}
      base_url: ${url}
${extra}`;
}

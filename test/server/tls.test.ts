import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import OpenAI from "openai";
import { Agent } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createKeeptrustsClient, type KeeptrustsProtocol } from "../../clients/typescript/src/index.js";
import { createGatewayServices, type GatewayServices } from "../../src/cli/compose.js";
import { startFakeOpenLLM, type FakeOpenLLM } from "../fixtures/fake-openllm.js";
import { MODEL } from "../helpers/harness.js";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const certFile = fileURLToPath(new URL("../fixtures/tls/localhost.crt", import.meta.url));
const keyFile = fileURLToPath(new URL("../fixtures/tls/localhost.key", import.meta.url));
const ca = readFileSync(certFile);

describe("--tls-cert/--tls-key: one TLS port for HTTP/1.1 and HTTP/2 through ALPN", () => {
  let fake: FakeOpenLLM;
  let services: GatewayServices;
  let url: string;
  beforeAll(async () => {
    fake = await startFakeOpenLLM();
    const dir = mkdtempSync(join(tmpdir(), "kt-tls-"));
    writeFileSync(join(dir, "c.yaml"), `providers:\n  targets:\n    - { id: t, provider: "openllm:chat:llama3:8b-instruct", model: ${MODEL}, base_url: "${fake.url}" }\n`);
    services = await createGatewayServices({ listen: "127.0.0.1:0", configPath: join(dir, "c.yaml"), tls: { certFile, keyFile }, telemetry: null });
    url = services.gateway.url.replace("127.0.0.1", "localhost");
  });
  afterAll(async () => {
    await services?.close({ drainMs: 500 });
    await fake?.close();
  });

  it("serves the OpenAI SDK over HTTPS", async () => {
    expect(url).toMatch(/^https:/);
    const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: "x", maxRetries: 0, fetchOptions: { dispatcher: new Agent({ connect: { ca } }) } as never });
    const r = await client.chat.completions.create({ model: "t", messages: [{ role: "user", content: "over tls" }] });
    expect(r.choices[0]!.message.content).toBe("You said: over tls");
  });

  it.each(["grpc", "connect", "grpc-web"] as KeeptrustsProtocol[])("serves %s on the same TLS port", async (protocol) => {
    const kt = createKeeptrustsClient({ baseUrl: url, protocol, nodeOptions: { ca } });
    const r = await kt.chat.createChatCompletion({ model: "t", messages: [{ role: "user", content: protocol }] });
    expect(r.choices[0]!.message!.content).toBe(`You said: ${protocol}`);
  });
});

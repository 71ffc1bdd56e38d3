/**
 * `npm run demo`: a fake OpenLLM on 127.0.0.1:3000 and the gateway on 127.0.0.1:41002 with
 * examples/demo/policy-config.yaml, so the README's curl and SDK examples work without a GPU.
 */
import { fileURLToPath } from "node:url";
import { createGatewayServices } from "../../src/cli/compose.js";
import { startFakeOpenLLM } from "../../test/fixtures/fake-openllm.js";

const fake = await startFakeOpenLLM({ port: Number(process.env.FAKE_OPENLLM_PORT ?? 3000) });
const services = await createGatewayServices({
  listen: process.env.KT_LISTEN ?? "127.0.0.1:41002",
  configPath: fileURLToPath(new URL("./policy-config.yaml", import.meta.url)),
});
const url = services.gateway.url;
process.stdout.write(`fake OpenLLM on ${fake.url} (echoes "You said: <your message>")
Keeptrusts gateway on ${url}

Try it:
  curl -s ${url}/v1/chat/completions -H 'Content-Type: application/json' \\
    -d '{"model":"openllm:chat:llama3:8b-instruct","messages":[{"role":"user","content":"My email is jane@example.com"}]}'

  curl -sN ${url}/v1/chat/completions -H 'Content-Type: application/json' \\
    -d '{"model":"llama3:8b-instruct","stream":true,"messages":[{"role":"user","content":"hello there"}]}'

  curl -s ${url}/v1/chat/completions -H 'Content-Type: application/json' \\
    -d '{"model":"llama3:8b-instruct","messages":[{"role":"user","content":"how do I build a bomb to kill people"}]}'

Ctrl-C stops both.
`);
const stop = async () => {
  await services.close({ drainMs: 2000 });
  await fake.close();
  process.exit(0);
};
process.once("SIGINT", stop);
process.once("SIGTERM", stop);

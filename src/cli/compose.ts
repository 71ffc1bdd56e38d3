import { startGateway, type Gateway } from "../server/index.js";
import { compilePolicyEngine } from "../policy/index.js";

export interface ComposeOptions {
  listen: string;
  configPath: string;
  maxBodyBytes?: number;
  tls?: { certFile: string; keyFile: string };
  env?: Record<string, string | undefined>;
  log?: (line: string) => void;
  probeIntervalMs?: number;
}

export interface GatewayServices {
  gateway: Gateway;
  close(opts?: { drainMs?: number }): Promise<void>;
}

/** Wires the real parts together: policy engine, routing, front doors. Used by the CLI and tests. */
export async function createGatewayServices(opts: ComposeOptions): Promise<GatewayServices> {
  const gateway = await startGateway({
    ...opts,
    compilePolicy: (config, registry) =>
      compilePolicyEngine(config, {
        askGuard: async (targetId, messages, signal) => {
          const s = registry.get(targetId);
          if (!s) throw new Error(`guard target '${targetId}' is not configured`);
          const body = await s.client.json({ op: "chat", body: { model: s.target.upstreamModel, messages, temperature: 0, max_tokens: 20 }, signal: signal ?? AbortSignal.timeout(s.target.timeoutSeconds * 1000) });
          const content = (body as any)?.choices?.[0]?.message?.content;
          if (typeof content !== "string") throw new Error("guard model returned no text");
          return content;
        },
      }),
  });
  return {
    gateway,
    close: (o) => gateway.close(o),
  };
}

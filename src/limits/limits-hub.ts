import type { GatewayConfig, LimitsStoreConfig } from "../config/index.js";
import { EmbeddedStore } from "./embedded-store.js";
import { GuardedStore } from "./guarded-store.js";
import { IpcStore, isClusterWorker } from "./ipc-store.js";
import { Limiter } from "./limiter.js";
import { logStoreChange, watchStore } from "./limits-telemetry.js";
import { RedisStore } from "./redis-store.js";

/** Requests admitted under an old store may still settle into it for this long after a reload. */
const OLD_STORE_GRACE_MS = 10 * 60_000;

/**
 * Owns the limits store across reloads: counters must survive a SIGHUP, so a reload that keeps
 * the same store settings keeps the same store and only rebuilds the Limiter (the per-config
 * plans). A reload that changes the store opens the new one before the swap.
 */
export class LimitsHub {
  private store: GuardedStore | undefined;
  private storeKey = "";
  onStoreChange: GuardedStore["onChange"];

  async configure(config: GatewayConfig): Promise<Limiter> {
    const key = storeKey(config.limits.store);
    if (!this.store || key !== this.storeKey) {
      const next = new GuardedStore(await openStore(config.limits.store));
      next.onChange = (h, e) => {
        logStoreChange(next.kind, h, e);
        this.onStoreChange?.(h, e);
      };
      watchStore(next);
      const old = this.store;
      this.store = next;
      this.storeKey = key;
      if (old) setTimeout(() => void old.close(), OLD_STORE_GRACE_MS).unref();
    }
    return new Limiter(config.limits, config.apiKeys, config.targets, this.store);
  }

  get current(): GuardedStore | undefined {
    return this.store;
  }

  async close(): Promise<void> {
    await this.store?.close();
  }
}

async function openStore(c: LimitsStoreConfig) {
  if (c.kind === "redis") return new RedisStore({ url: c.url, keyPrefix: c.keyPrefix, timeoutMs: c.timeoutMs }).open();
  return isClusterWorker() ? new IpcStore() : new EmbeddedStore();
}

function storeKey(c: LimitsStoreConfig): string {
  return c.kind === "redis" ? `redis|${c.url}|${c.keyPrefix}|${c.timeoutMs}` : "embedded";
}

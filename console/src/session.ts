import { Code, ConnectError, createKeeptrustsClient, type KeeptrustsClient } from "../../clients/typescript/src/web.js";

/**
 * The admin key lives in sessionStorage only: it survives a reload of this tab, is gone when the
 * tab closes, is never put in a URL, and goes to the gateway only as the `authorization` bearer.
 */
const KEY = "keeptrusts.console.apiKey";

export function storedKey(): string | null {
  return sessionStorage.getItem(KEY);
}

export function storeKey(key: string): void {
  sessionStorage.setItem(KEY, key);
}

export function forgetKey(): void {
  sessionStorage.removeItem(KEY);
}

/**
 * Clients for the gateway that served this page (same origin, so the strict CSP's
 * `connect-src 'self'` allows it). An empty key sends no header: a gateway without keys serves
 * loopback callers only, and then this works on the gateway's own machine.
 */
export function clientFor(key: string): KeeptrustsClient {
  return createKeeptrustsClient({ baseUrl: location.origin, apiKey: key === "" ? undefined : key });
}

/** Is this the gateway refusing the key (so the console should ask for another)? */
export function isAuthError(err: unknown): boolean {
  const e = ConnectError.from(err);
  return e.code === Code.Unauthenticated || e.code === Code.PermissionDenied;
}

/** A sentence for a person, from a failed call. */
export function describeError(err: unknown): string {
  const e = ConnectError.from(err);
  switch (e.code) {
    case Code.Unauthenticated:
      return `The gateway did not accept this API key (${e.rawMessage}).`;
    case Code.PermissionDenied:
      return /scope/.test(e.rawMessage)
        ? "This API key has no admin scope. The console needs a key with `scopes: [admin]` in auth.api_keys."
        : e.rawMessage;
    case Code.Unavailable:
      return `The gateway is unavailable: ${e.rawMessage}`;
    case Code.Canceled:
      return "Cancelled.";
    default:
      return e.rawMessage || String(err);
  }
}

export { Code, ConnectError, type KeeptrustsClient };

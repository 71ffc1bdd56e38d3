/** What a request's audit record and span say about its usage. */
export interface UsageRecord {
  store: "embedded" | "redis";
  /** `unavailable` when the store could not be reached and `on_store_failure: allow` let it through. */
  storeState: "ok" | "unavailable";
  reservedTokens: number;
  chargedTokens: number | undefined;
  /** The limit that refused the request, e.g. `key:a requests_per_minute`. */
  refusedBy?: string;
}

import type { GetOverviewResponse } from "../../clients/typescript/src/web.js";
import type { KeeptrustsClient } from "./session.js";

/** What every page gets: the clients, what sign-in learnt about the gateway, and a way out. */
export interface PageContext {
  client: KeeptrustsClient;
  /** The overview fetched at sign-in (trace URL, whether an audit log exists, policies). */
  overview: GetOverviewResponse;
  /** Called when a call fails for want of a valid admin key. */
  signOut(message?: string): void;
  /** Moves to another page (e.g. from a Live event to its Audit record). */
  go(hash: string): void;
}

export interface Page {
  el: HTMLElement;
  /** Stops the page's streams and timers when it is left. */
  dispose?(): void;
}

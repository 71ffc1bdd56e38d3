import { GovernanceService } from "../../../clients/typescript/src/web.js";
import { h } from "../dom.js";
import type { Page, PageContext } from "../page.js";

/**
 * Usage per key and team comes from GetUsage, which the limits work adds to the Governance
 * service. Until the service has that method, the page says so rather than showing anything made up.
 */
export function usagePage(_ctx: PageContext): Page {
  const has = Object.keys(GovernanceService.method).includes("getUsage");
  return {
    el: h(
      "div",
      {},
      h("p", { class: "notice", attrs: { role: "status" } }, has ? "Usage is not shown by this console build yet." : "Usage limits are not available on this gateway: its Governance service has no GetUsage method yet."),
    ),
  };
}

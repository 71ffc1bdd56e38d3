import { type AuditEvent } from "../../../clients/typescript/src/web.js";
import { eventDetail, eventsTable } from "../audit-events.js";
import { button, field, h, input, replace, select } from "../dom.js";
import { fmtInt } from "../format.js";
import type { Page, PageContext } from "../page.js";
import { Code, ConnectError, describeError, isAuthError } from "../session.js";

export const OUTCOMES: [string, string][] = [
  ["", "any"],
  ["ok", "ok"],
  ["blocked", "blocked"],
  ["error", "error"],
  ["cancelled", "cancelled"],
];

const MAX_ROWS = 200;

/**
 * Governance events as the gateway records them (WatchAuditEvents, a server stream over
 * Connect). Filters go to the server; changing one restarts the stream. Pausing keeps the stream
 * and holds what arrives, so nothing is missed when it resumes.
 */
export function livePage(ctx: PageContext): Page {
  const key = input({ name: "key", placeholder: "any" });
  const target = input({ name: "target", placeholder: "any" });
  const rule = input({ name: "rule", placeholder: "policy/rule" });
  const outcome = select(OUTCOMES);
  const status = h("p", { class: "status", attrs: { role: "status", "aria-live": "polite" } });
  const held: AuditEvent[] = [];
  let paused = false;
  let received = 0;
  let abort: AbortController | undefined;
  let retry: ReturnType<typeof setTimeout> | undefined;
  const detail = h("section", { class: "detail-panel", attrs: { "aria-label": "Record detail", hidden: true, tabindex: -1 } });

  const open = (ev: AuditEvent) => {
    detail.hidden = false;
    replace(detail, h("h2", { text: `Record ${ev.seq}` }), eventDetail(ev, ctx.overview.traceUrl), button("Find in Audit", () => ctx.go(`#/audit?trace=${ev.traceId}`)));
    detail.focus();
  };
  const table = eventsTable({ caption: "Live governance events, newest first", onOpen: open, newestFirst: true, max: MAX_ROWS });
  const pause = button("Pause", () => {
    paused = !paused;
    pause.textContent = paused ? "Resume" : "Pause";
    pause.setAttribute("aria-pressed", String(paused));
    if (!paused) while (held.length) table.add(held.shift()!);
    showStatus();
  });
  pause.setAttribute("aria-pressed", "false");

  const showStatus = (extra = "") => {
    const parts = [abort ? "Watching" : "Not connected", `${fmtInt(received)} events received`];
    if (paused) parts.push(`paused, ${fmtInt(held.length)} held`);
    status.textContent = parts.join(" · ") + (extra ? ` · ${extra}` : "");
  };

  const watch = async () => {
    abort?.abort();
    clearTimeout(retry);
    const mine = new AbortController();
    abort = mine;
    showStatus();
    try {
      const stream = ctx.client.governance.watchAuditEvents(
        { principal: key.value.trim(), target: target.value.trim(), rule: rule.value.trim(), outcome: outcome.value },
        { signal: mine.signal },
      );
      for await (const { event } of stream) {
        if (!event) continue;
        received++;
        if (paused) held.push(event);
        else table.add(event);
        showStatus();
      }
    } catch (err) {
      if (mine.signal.aborted) return;
      if (isAuthError(err)) return ctx.signOut(describeError(err));
      if (ConnectError.from(err).code === Code.FailedPrecondition) {
        abort = undefined;
        return showStatus(describeError(err));
      }
      abort = undefined;
      showStatus(`${describeError(err)}; reconnecting…`);
      retry = setTimeout(() => void watch(), 2_000);
      return;
    }
    // The server ended the stream (a reload reopened the log, say): watch again.
    if (!mine.signal.aborted) retry = setTimeout(() => void watch(), 500);
  };

  const form = h(
    "form",
    {
      class: "filters",
      attrs: { "aria-label": "Filter live events" },
      on: {
        submit: (e) => {
          e.preventDefault();
          table.clear();
          held.length = 0;
          received = 0;
          void watch();
        },
      },
    },
    field("Key", key),
    field("Target", target),
    field("Rule", rule),
    field("Outcome", outcome),
    h("div", { class: "buttons" }, button("Apply filters", () => {}, { type: "submit", kind: "primary" }), pause),
  );
  void watch();
  return {
    el: h("div", {}, form, status, table.el, detail),
    dispose() {
      clearTimeout(retry);
      abort?.abort();
      abort = undefined;
    },
  };
}

import { timestampFromDate, type AuditEvent, ListAuditEventsRequestSchema, type MessageInitShape } from "../../../clients/typescript/src/web.js";
import { eventDetail, eventsTable } from "../audit-events.js";
import { button, field, h, input, replace, select } from "../dom.js";
import { fmtInt } from "../format.js";
import type { Page, PageContext } from "../page.js";
import { describeError, isAuthError } from "../session.js";
import { OUTCOMES } from "./live.js";

const PAGE_SIZE = 50;

type Query = Omit<MessageInitShape<typeof ListAuditEventsRequestSchema>, "$typeName">;

/** `datetime-local` wants local time without a zone. */
function localInput(d: Date): string {
  const off = d.getTimezoneOffset() * 60_000;
  return new Date(d.getTime() - off).toISOString().slice(0, 16);
}

/**
 * Searches the local audit log (ListAuditEvents, oldest first, a page at a time), shows a
 * record's every field and chain hash, and verifies the whole log's hash chain.
 */
export function auditPage(ctx: PageContext, params: URLSearchParams): Page {
  const trace = params.get("trace") ?? "";
  const from = input({ type: "datetime-local", name: "from" });
  const to = input({ type: "datetime-local", name: "to" });
  if (!trace) from.value = localInput(new Date(Date.now() - 24 * 3600_000));
  const key = input({ name: "key", placeholder: "any" });
  const target = input({ name: "target", placeholder: "any" });
  const outcome = select(OUTCOMES);
  const rule = input({ name: "rule", placeholder: "policy/rule" });
  const traceId = input({ name: "trace", placeholder: "32 hex digits", pattern: "[0-9a-f]{32}" });
  traceId.value = trace;
  const status = h("p", { class: "status", attrs: { role: "status", "aria-live": "polite" } });
  const detail = h("section", { class: "detail-panel", attrs: { "aria-label": "Record detail", hidden: true, tabindex: -1 } });
  let stopped = false;
  let nextToken = "";
  let lastQuery: Query = {};
  let shown = 0;

  const open = (ev: AuditEvent) => {
    detail.hidden = false;
    replace(detail, h("h2", { text: `Record ${ev.seq}` }), eventDetail(ev, ctx.overview.traceUrl));
    detail.focus();
  };
  const table = eventsTable({ caption: "Audit records, oldest first", onOpen: open });
  const more = button("Next page", () => void search(true));
  more.hidden = true;

  const search = async (next = false) => {
    if (!next) {
      const q: Query = {
        principal: key.value.trim(),
        target: target.value.trim(),
        outcome: outcome.value,
        rule: rule.value.trim(),
        traceId: traceId.value.trim(),
        pageSize: PAGE_SIZE,
      };
      if (from.value) q.startTime = timestampFromDate(new Date(from.value));
      if (to.value) q.endTime = timestampFromDate(new Date(to.value));
      lastQuery = q;
      table.clear();
      shown = 0;
      detail.hidden = true;
    }
    status.textContent = "Searching…";
    try {
      const r = await ctx.client.governance.listAuditEvents({ ...lastQuery, pageToken: next ? nextToken : "" });
      if (stopped) return;
      for (const ev of r.events) table.add(ev);
      shown += r.events.length;
      nextToken = r.nextPageToken;
      more.hidden = nextToken === "";
      status.textContent = shown === 0 ? "No records match." : `${fmtInt(shown)} records${nextToken ? ", more on the next page" : ""}.`;
      if (trace && r.events.length === 1 && !next) open(r.events[0]!);
    } catch (err) {
      if (isAuthError(err)) return ctx.signOut(describeError(err));
      status.textContent = describeError(err);
    }
  };

  const form = h(
    "form",
    {
      class: "filters",
      attrs: { "aria-label": "Search the audit log" },
      on: {
        submit: (e) => {
          e.preventDefault();
          void search();
        },
      },
    },
    field("From", from),
    field("To", to),
    field("Key", key),
    field("Target", target),
    field("Outcome", outcome),
    field("Rule", rule),
    field("Trace id", traceId),
    h("div", { class: "buttons" }, button("Search", () => {}, { type: "submit", kind: "primary" })),
  );

  const verifyOut = h("div", { class: "verify-result", attrs: { role: "status", "aria-live": "polite" } });
  const verify = button("Verify the log", async () => {
    verify.disabled = true;
    const started = performance.now();
    const progress = h("progress", { attrs: { "aria-label": "Verifying the audit log" } });
    const elapsed = h("span");
    const tick = setInterval(() => (elapsed.textContent = ` ${fmtInt((performance.now() - started) / 1000)} s`), 1000);
    replace(verifyOut, progress, " Checking every record's hash and position…", elapsed);
    try {
      const v = await ctx.client.governance.verifyAuditLog({});
      if (stopped) return;
      const secs = (performance.now() - started) / 1000;
      replace(
        verifyOut,
        v.ok
          ? h(
              "p",
              { class: "ok-box" },
              h("strong", { text: "The log is intact. " }),
              `${fmtInt(v.records)} records checked (seq ${fmtInt(v.firstSeq)}–${fmtInt(v.lastSeq)}) in ${secs.toFixed(1)} s.`,
            )
          : h("p", { class: "bad-box" }, h("strong", { text: "The log is broken. " }), v.brokenSeq !== undefined ? `First bad record: seq ${fmtInt(v.brokenSeq)}. ` : "", v.reason),
      );
    } catch (err) {
      if (isAuthError(err)) return ctx.signOut(describeError(err));
      replace(verifyOut, h("p", { class: "bad-box", text: `Could not verify: ${describeError(err)}` }));
    } finally {
      clearInterval(tick);
      verify.disabled = false;
    }
  });

  void search();
  return {
    el: h(
      "div",
      {},
      ctx.overview.auditLog ? null : h("p", { class: "notice", text: "No audit-logger is configured in policy-config.yaml, so there is no local log to search." }),
      form,
      status,
      table.el,
      more,
      detail,
      h("section", { class: "verify", attrs: { "aria-labelledby": "verify-title" } }, h("h2", { id: "verify-title", text: "Integrity" }), verify, verifyOut),
    ),
    dispose() {
      stopped = true;
    },
  };
}

import { timestampDate, type AuditEvent } from "../../clients/typescript/src/web.js";
import { h } from "./dom.js";
import { fmtDateTime, fmtInt, fmtMs, fmtTime } from "./format.js";

const COLUMNS = ["#", "Time", "Key", "Target", "Model", "Outcome", "Decision", "Rules fired", "Redactions", "Latency"];

/** A table of audit events; each row's number opens that record's detail. */
export function eventsTable(opts: { caption: string; onOpen: (ev: AuditEvent) => void; newestFirst?: boolean; max?: number }) {
  const tbody = h("tbody");
  const table = h(
    "table",
    { class: "events" },
    h("caption", { class: "sr-only", text: opts.caption }),
    h("thead", {}, h("tr", {}, ...COLUMNS.map((c, i) => h("th", { attrs: { scope: "col" }, class: i === 9 ? "num" : "", text: c })))),
    tbody,
  );
  return {
    el: h("div", { class: "table-wrap" }, table),
    clear: () => tbody.replaceChildren(),
    get size() {
      return tbody.rows.length;
    },
    add(ev: AuditEvent): HTMLTableRowElement {
      const row = eventRow(ev, opts.onOpen);
      if (opts.newestFirst) tbody.prepend(row);
      else tbody.append(row);
      if (opts.max !== undefined) while (tbody.rows.length > opts.max) tbody.rows[opts.newestFirst ? tbody.rows.length - 1 : 0]!.remove();
      return row;
    },
  };
}

function eventRow(ev: AuditEvent, onOpen: (ev: AuditEvent) => void): HTMLTableRowElement {
  const redactions = Object.entries(ev.redactions);
  const row = h(
    "tr",
    { class: `o-${ev.outcome}` },
    h("td", {}, h("button", { class: "link", attrs: { type: "button", "aria-label": `Open record ${ev.seq}` }, on: { click: () => onOpen(ev) }, text: String(ev.seq) })),
    h("td", {}, h("time", { attrs: { datetime: ev.time ? timestampDate(ev.time).toISOString() : "" }, text: fmtTime(ev.time ? timestampDate(ev.time) : undefined) })),
    h("td", { text: ev.principal }),
    h("td", { text: ev.target || "—" }),
    h("td", {}, h("code", { text: ev.model || ev.operation })),
    h("td", {}, h("span", { class: `badge o-${ev.outcome}`, text: ev.outcome })),
    h("td", {}, h("span", { class: `badge d-${ev.decision}`, text: ev.decision })),
    h("td", { text: ev.rulesFired.join(", ") || "—" }),
    h("td", { text: redactions.length ? redactions.map(([k, v]) => `${k} ×${fmtInt(v)}`).join(", ") : "—" }),
    h("td", { class: "num", text: fmtMs(ev.latencyMs) }),
  );
  row.dataset.trace = ev.traceId;
  return row;
}

/** Every field of a record, its chain hashes, and a link to its trace when Jaeger is configured. */
export function eventDetail(ev: AuditEvent, traceUrl: string): HTMLElement {
  const rows: [string, Node | string][] = [
    ["Sequence", fmtInt(ev.seq)],
    ["Time", fmtDateTime(ev.time ? timestampDate(ev.time) : undefined)],
    ["Kind", ev.kind],
    ["Operation", ev.operation],
    ["Key (principal)", ev.principal],
    ["Model asked for", ev.model || "—"],
    ["Target", ev.target || "— (not routed)"],
    ["Streamed", ev.stream ? "yes" : "no"],
    ["Outcome", ev.outcome],
    ["Error code", ev.errorCode || "—"],
    ["Policy decision", ev.decision],
    ["Rules fired", ev.rulesFired.join(", ") || "—"],
    ["Redactions", Object.entries(ev.redactions).map(([k, v]) => `${k}: ${fmtInt(v)}`).join(", ") || "—"],
    ["Latency", fmtMs(ev.latencyMs)],
    ["Input tokens", ev.inputTokens === undefined ? "—" : fmtInt(ev.inputTokens)],
    ["Output tokens", ev.outputTokens === undefined ? "—" : fmtInt(ev.outputTokens)],
    ["Trace id", traceLink(ev.traceId, traceUrl)],
    ["Span id", h("code", { text: ev.spanId })],
    ["Chain hash", h("code", { class: "hash", text: ev.hash || "—" })],
    ["Previous hash", h("code", { class: "hash", text: ev.prevHash || "—" })],
  ];
  return h("dl", { class: "detail" }, ...rows.flatMap(([k, v]) => [h("dt", { text: k }), h("dd", {}, v)]));
}

function traceLink(traceId: string, traceUrl: string): Node {
  if (!traceUrl) return h("code", { text: traceId });
  const url = `${traceUrl.replace(/\/+$/, "")}/trace/${encodeURIComponent(traceId)}`;
  return h("a", { attrs: { href: url, target: "_blank", rel: "noopener noreferrer" } }, h("code", { text: traceId }), " (open in Jaeger)");
}

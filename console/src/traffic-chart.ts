import { timestampDate, type TrafficBucket } from "../../clients/typescript/src/web.js";
import { h, svg } from "./dom.js";
import { fmtHourMinute, fmtInt } from "./format.js";

const SERIES = [
  { key: "requests", label: "Requests", cls: "s-requests" },
  { key: "blocked", label: "Blocked", cls: "s-blocked" },
  { key: "redacted", label: "Redacted", cls: "s-redacted" },
] as const;

/**
 * The last hour by minute as an SVG line chart: three series on one axis, drawn with plain SVG
 * (no library, nothing inline the CSP would refuse: colours come from the stylesheet). A table
 * with the same numbers follows for screen readers and anyone who wants the figures.
 */
export function trafficChart(buckets: TrafficBucket[]): HTMLElement {
  // Scaled uniformly (text keeps its shape); on a narrow screen the chart scrolls sideways.
  const W = 960;
  const H = 200;
  const pad = { l: 40, r: 10, t: 10, b: 24 };
  const n = buckets.length;
  const max = Math.max(1, ...buckets.map((b) => Number(b.requests)));
  const x = (i: number) => pad.l + (n <= 1 ? 0 : (i * (W - pad.l - pad.r)) / (n - 1));
  const y = (v: number) => H - pad.b - (v * (H - pad.t - pad.b)) / max;
  const totals = { requests: 0, blocked: 0, redacted: 0 };
  for (const b of buckets) for (const s of SERIES) totals[s.key] += Number(b[s.key]);

  const grid = [0, 0.5, 1].map((f) => {
    const v = Math.round(max * f);
    return [
      svg("line", { x1: pad.l, x2: W - pad.r, y1: y(v), y2: y(v), class: "grid" }),
      svg("text", { x: pad.l - 4, y: y(v) + 4, "text-anchor": "end", class: "axis" }, fmtInt(v)),
    ];
  });
  const ticks = [0, Math.floor((n - 1) / 2), n - 1]
    .filter((i, k, a) => i >= 0 && a.indexOf(i) === k)
    .map((i) => svg("text", { x: x(i), y: H - 6, "text-anchor": i === 0 ? "start" : i === n - 1 ? "end" : "middle", class: "axis" }, fmtHourMinute(timestampDate(buckets[i]!.start!))));
  const lines = SERIES.map((s) =>
    svg("polyline", { class: `series ${s.cls}`, points: buckets.map((b, i) => `${x(i).toFixed(1)},${y(Number(b[s.key])).toFixed(1)}`).join(" ") }),
  );
  const chart = svg(
    "svg",
    { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-labelledby": "traffic-title traffic-desc", class: "chart" },
    svg("title", { id: "traffic-title" }, "Requests, blocks and redactions per minute, last hour"),
    svg("desc", { id: "traffic-desc" }, SERIES.map((s) => `${s.label}: ${fmtInt(totals[s.key])}`).join(", ")),
    ...grid.flat(),
    ...ticks,
    ...lines,
  );
  const legend = h(
    "ul",
    { class: "legend" },
    ...SERIES.map((s) => h("li", {}, h("span", { class: `swatch ${s.cls}`, attrs: { "aria-hidden": "true" } }), `${s.label} `, h("strong", { text: fmtInt(totals[s.key]) }))),
  );
  const busy = buckets.filter((b) => b.requests > 0n);
  const table = h(
    "details",
    { class: "chart-data" },
    h("summary", { text: "Figures by minute" }),
    busy.length === 0
      ? h("p", { text: "No requests in the last hour." })
      : h(
          "table",
          {},
          h("thead", {}, h("tr", {}, h("th", { attrs: { scope: "col" }, text: "Minute" }), ...SERIES.map((s) => h("th", { attrs: { scope: "col" }, class: "num", text: s.label })))),
          h(
            "tbody",
            {},
            ...busy.map((b) =>
              h("tr", {}, h("td", { text: fmtHourMinute(timestampDate(b.start!)) }), ...SERIES.map((s) => h("td", { class: "num", text: fmtInt(b[s.key]) }))),
            ),
          ),
        ),
  );
  const scroller = h("div", { class: "chart-scroll" }, chart);
  // On a narrow screen show the latest minutes first.
  requestAnimationFrame(() => (scroller.scrollLeft = scroller.scrollWidth));
  return h("figure", { class: "traffic" }, scroller, h("figcaption", {}, legend), table);
}

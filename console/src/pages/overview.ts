import { timestampDate, type GetOverviewResponse, type Target, type TargetTraffic } from "../../../clients/typescript/src/web.js";
import { button, h, replace } from "../dom.js";
import { fmtDateTime, fmtInt, fmtMs, fmtPct } from "../format.js";
import type { Page, PageContext } from "../page.js";
import { describeError, isAuthError } from "../session.js";
import { trafficChart } from "../traffic-chart.js";

const REFRESH_MS = 5_000;

/** Targets and their health, the last hour's traffic, and the policies in force; refreshed every 5 s. */
export function overviewPage(ctx: PageContext): Page {
  const body = h("div", { class: "overview" });
  const status = h("p", { class: "status", attrs: { role: "status", "aria-live": "polite" } });
  const el = h("div", {}, status, body);
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;

  const load = () => {
    ctx.client.governance.getOverview({}).then(
      (o) => {
        if (stopped) return;
        status.textContent = "";
        render(o);
        timer = setTimeout(load, REFRESH_MS);
      },
      (err) => {
        if (stopped) return;
        if (isAuthError(err)) return ctx.signOut(describeError(err));
        status.textContent = `Could not refresh: ${describeError(err)}`;
        timer = setTimeout(load, REFRESH_MS);
      },
    );
  };

  const render = (o: GetOverviewResponse) => {
    const traffic = new Map(o.targetTraffic.map((t) => [t.targetId, t]));
    replace(
      body,
      h(
        "section",
        { attrs: { "aria-labelledby": "ov-targets" } },
        h("h2", { id: "ov-targets", text: "Targets" }),
        h(
          "div",
          { class: "table-wrap" },
          h(
            "table",
            { class: "targets" },
            h(
              "thead",
              {},
              h(
                "tr",
                {},
                ...["Target", "Model", "Health", "Circuit", "In flight", "Requests (1 h)", "p50 latency", "p95 latency", "Error rate"].map((t, i) =>
                  h("th", { attrs: { scope: "col" }, class: i >= 4 ? "num" : "", text: t }),
                ),
              ),
            ),
            h("tbody", {}, ...o.targets.map((t) => targetRow(t, traffic.get(t.id)))),
          ),
        ),
      ),
      h(
        "section",
        { attrs: { "aria-labelledby": "ov-traffic" } },
        h("h2", { id: "ov-traffic", text: "Last hour" }),
        trafficChart(o.traffic),
      ),
      h(
        "section",
        { attrs: { "aria-labelledby": "ov-policies" } },
        h("h2", { id: "ov-policies", text: "Policies in force" }),
        h(
          "p",
          { class: "meta" },
          o.pack ? `Pack ${o.pack.name}, version ${o.pack.version}${o.pack.enabled ? "" : " (disabled)"}. ` : "Plain configuration (no pack). ",
          `Loaded ${fmtDateTime(o.loadedAt ? timestampDate(o.loadedAt) : undefined)}. `,
          o.auditLog ? "Audit log on." : "No audit log configured.",
        ),
        o.policies.length === 0
          ? h("p", { text: "No policies: requests pass unchecked." })
          : h(
              "ul",
              { class: "policies" },
              ...o.policies.map((p) =>
                h(
                  "li",
                  {},
                  h("strong", { text: p.id }),
                  p.description ? ` — ${p.description}` : "",
                  p.rules.length === 0
                    ? null
                    : h(
                        "ul",
                        {},
                        ...p.rules.map((r) =>
                          h("li", {}, h("code", { text: r.id }), ` ${r.type} → `, h("span", { class: `badge a-${r.action}`, text: r.action }), ` on ${r.applyTo}: ${r.matches.join(", ")}`),
                        ),
                      ),
                ),
              ),
            ),
      ),
      h("p", { class: "actions" }, button("Refresh now", () => (clearTimeout(timer), load()))),
    );
  };

  render(ctx.overview);
  load();
  return {
    el,
    dispose() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

function targetRow(t: Target, tr: TargetTraffic | undefined): HTMLElement {
  const requests = tr ? Number(tr.requests) : 0;
  return h(
    "tr",
    {},
    h("th", { attrs: { scope: "row" } }, h("span", { text: t.id }), t.description ? h("small", { class: "sub", text: t.description }) : null),
    h("td", {}, h("code", { text: t.model })),
    h("td", {}, h("span", { class: `badge ${t.healthy ? "ok" : "bad"}`, text: t.healthy ? "healthy" : "unhealthy" }), t.lastError ? h("small", { class: "sub", text: t.lastError }) : null),
    h("td", {}, h("span", { class: `badge c-${t.circuitState}`, text: t.circuitState.replace("_", "-") })),
    h("td", { class: "num", text: fmtInt(t.inFlight) }),
    h("td", { class: "num", text: fmtInt(requests) }),
    h("td", { class: "num", text: requests ? fmtMs(tr!.latencyP50Ms) : "—" }),
    h("td", { class: "num", text: requests ? fmtMs(tr!.latencyP95Ms) : "—" }),
    h("td", { class: "num", text: requests ? fmtPct(tr!.errorRate) : "—" }),
  );
}

import { timestampDate, UsageSubjectKind, type BudgetUsage, type GetUsageResponse, type RateUsage, type UsageSubject } from "../../../clients/typescript/src/web.js";
import { button, field, h, input, replace, select } from "../dom.js";
import { fmtDateTimeIn, fmtDec, fmtInt, fmtTime } from "../format.js";
import type { Page, PageContext } from "../page.js";
import { describeError, isAuthError } from "../session.js";

const REFRESH_MS = 5_000;

const KIND: Record<UsageSubjectKind, string> = {
  [UsageSubjectKind.UNSPECIFIED]: "—",
  [UsageSubjectKind.KEY]: "key",
  [UsageSubjectKind.TEAM]: "team",
  [UsageSubjectKind.TARGET]: "target",
};

const RATE_LABEL: Record<string, string> = {
  requests_per_minute: "requests / min",
  tokens_per_minute: "tokens / min",
  input_tokens_per_minute: "input tokens / min",
  output_tokens_per_minute: "output tokens / min",
};

/**
 * Usage against the configured limits (GetUsage): per key, team and target, each rate window,
 * the token budget of the period, and what is in flight, as the limits store (embedded or Redis)
 * holds it now. Refreshed every 5 s.
 */
export function usagePage(ctx: PageContext): Page {
  const key = input({ name: "key", placeholder: "any" });
  const team = input({ name: "team", placeholder: "any" });
  const target = input({ name: "target", placeholder: "any" });
  const kind = select([
    ["", "all"],
    [String(UsageSubjectKind.KEY), "keys"],
    [String(UsageSubjectKind.TEAM), "teams"],
    [String(UsageSubjectKind.TARGET), "targets"],
  ]);
  const status = h("p", { class: "status", attrs: { role: "status", "aria-live": "polite" } });
  const body = h("div", { class: "usage" });
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;

  const load = async () => {
    clearTimeout(timer);
    try {
      const r = await ctx.client.governance.getUsage({ keyId: key.value.trim(), team: team.value.trim(), targetId: target.value.trim() });
      if (stopped) return;
      render(r);
    } catch (err) {
      if (stopped) return;
      if (isAuthError(err)) return ctx.signOut(describeError(err));
      status.textContent = `Could not read usage: ${describeError(err)}`;
    }
    if (!stopped) timer = setTimeout(() => void load(), REFRESH_MS);
  };

  const render = (r: GetUsageResponse) => {
    const when = r.time ? timestampDate(r.time) : undefined;
    status.textContent = r.storeAvailable ? `Store: ${r.store} · read at ${fmtTime(when)}` : "";
    const subjects = r.subjects.filter((s) => kind.value === "" || String(s.kind) === kind.value);
    replace(
      body,
      r.storeAvailable ? null : h("p", { class: "bad-box" }, h("strong", { text: `The ${r.store} limits store cannot be read. ` }), r.storeError),
      subjects.length === 0
        ? h("p", { class: "notice", text: r.subjects.length === 0 ? "No limits apply to what you selected (see `limits:` and `auth.api_keys[].limits` in policy-config.yaml)." : "No subject of that kind." })
        : h(
            "div",
            { class: "table-wrap" },
            h(
              "table",
              { class: "usage-table" },
              h("caption", { class: "sr-only", text: "Usage by key, team and target" }),
              h(
                "thead",
                {},
                h("tr", {}, ...["Subject", "Rate windows (last minute)", "Token budget", "In flight", "Reserved tokens"].map((t, i) => h("th", { attrs: { scope: "col" }, class: i >= 3 ? "num" : "", text: t }))),
              ),
              h("tbody", {}, ...subjects.map(subjectRow)),
            ),
          ),
    );
  };

  const form = h(
    "form",
    {
      class: "filters",
      attrs: { "aria-label": "Filter usage" },
      on: {
        submit: (e) => {
          e.preventDefault();
          void load();
        },
      },
    },
    field("Key", key),
    field("Team", team),
    field("Target", target),
    field("Show", kind),
    h("div", { class: "buttons" }, button("Show usage", () => {}, { type: "submit", kind: "primary" })),
  );
  void load();
  return {
    el: h("div", {}, form, status, body),
    dispose() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

function subjectRow(s: UsageSubject): HTMLElement {
  return h(
    "tr",
    {},
    h("th", { attrs: { scope: "row" } }, h("span", { class: "badge", text: KIND[s.kind] }), " ", h("span", { text: s.id }), s.team ? h("small", { class: "sub", text: `team ${s.team}` }) : null),
    h("td", {}, s.rates.length === 0 ? "—" : h("ul", { class: "bare" }, ...s.rates.map(rateItem))),
    h("td", {}, s.budget ? budgetItem(s.budget) : "—"),
    h("td", { class: "num", text: s.maxConcurrentRequests ? `${fmtInt(s.inFlightRequests)} of ${fmtInt(s.maxConcurrentRequests)}` : fmtInt(s.inFlightRequests) }),
    h("td", { class: "num", text: fmtInt(s.reservedTokens) }),
  );
}

/** A meter per window: the number is in the text too, for anyone who cannot see the bar. */
function rateItem(r: RateUsage): HTMLElement {
  const label = RATE_LABEL[r.name] ?? r.name;
  const full = r.remaining === 0n;
  return h(
    "li",
    {},
    h("meter", { attrs: { min: 0, max: Number(r.limit), value: Number(r.used), high: Number(r.limit) * 0.8, "aria-label": label } }),
    ` ${fmtInt(r.used)} of ${fmtInt(r.limit)} ${label}`,
    full ? h("span", { class: "badge bad", text: `full, room in ${fmtDec(r.resetSeconds)} s` }) : null,
  );
}

function budgetItem(b: BudgetUsage): HTMLElement {
  const end = b.periodEnd ? timestampDate(b.periodEnd) : undefined;
  return h(
    "div",
    {},
    h("meter", { attrs: { min: 0, max: Number(b.limit), value: Number(b.used + b.reserved), high: Number(b.limit) * 0.8, "aria-label": "token budget" } }),
    ` ${fmtInt(b.used)} used + ${fmtInt(b.reserved)} reserved of ${fmtInt(b.limit)} per ${b.period}`,
    h("small", { class: "sub", text: `${fmtInt(b.remaining)} left · resets ${fmtDateTimeIn(end, b.timeZone)} ${b.timeZone} time` }),
  );
}

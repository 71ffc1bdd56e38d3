import { timestampDate, type GetPolicyConfigResponse } from "../../../clients/typescript/src/web.js";
import { button, h, replace } from "../dom.js";
import { fmtDateTime } from "../format.js";
import type { Page, PageContext } from "../page.js";
import { describeError, isAuthError } from "../session.js";

/**
 * The configuration in force (GetPolicyConfig: normalised, every secret and key digest masked by
 * the gateway before it leaves), and a reload from its file (ReloadPolicyConfig). A rejected
 * reload keeps the running configuration and lists each error at its line and column.
 */
export function configPage(ctx: PageContext): Page {
  const info = h("div", { class: "config-info" });
  const reloadOut = h("div", { class: "reload-result", attrs: { role: "status", "aria-live": "polite" } });
  const view = h("pre", { class: "config-json", attrs: { tabindex: 0, "aria-label": "Effective configuration as JSON" } });
  let stopped = false;

  const load = async () => {
    try {
      const c = await ctx.client.governance.getPolicyConfig({});
      if (!stopped) show(c);
    } catch (err) {
      if (isAuthError(err)) return ctx.signOut(describeError(err));
      replace(info, h("p", { class: "bad-box", text: describeError(err) }));
    }
  };
  const show = (c: GetPolicyConfigResponse) => {
    replace(
      info,
      h(
        "dl",
        { class: "detail" },
        h("dt", { text: "Source" }),
        h("dd", {}, h("code", { text: c.source })),
        h("dt", { text: "Pack" }),
        h("dd", { text: c.pack ? `${c.pack.name} ${c.pack.version}${c.pack.enabled ? "" : " (disabled)"}` : "— (plain form)" }),
        h("dt", { text: "Loaded" }),
        h("dd", { text: fmtDateTime(c.loadedAt ? timestampDate(c.loadedAt) : undefined) }),
      ),
    );
    view.textContent = JSON.stringify(c.config ?? {}, null, 2);
  };

  const reload = button("Reload from file", async () => {
    reload.disabled = true;
    replace(reloadOut, h("p", { text: "Validating and reloading…" }));
    try {
      const r = await ctx.client.governance.reloadPolicyConfig({});
      if (stopped) return;
      if (r.ok) {
        replace(reloadOut, h("p", { class: "ok-box", text: `Reloaded: the new configuration is in force since ${fmtDateTime(r.loadedAt ? timestampDate(r.loadedAt) : undefined)}.` }));
        await load();
      } else {
        replace(
          reloadOut,
          h("div", { class: "bad-box" }, h("p", {}, h("strong", { text: "Reload rejected. " }), "The running configuration stays in force. Fix these and reload again:")),
          h(
            "ol",
            { class: "issues" },
            ...(r.issues.length
              ? r.issues.map((i) =>
                  h("li", {}, h("span", { class: "loc", text: `Line ${i.line}, column ${i.column}` }), " ", h("code", { text: i.field || "(file)" }), `: ${i.message}`, h("small", { class: "sub", text: i.file })),
                )
              : r.errors.map((e) => h("li", { text: e }))),
          ),
        );
      }
    } catch (err) {
      if (isAuthError(err)) return ctx.signOut(describeError(err));
      replace(reloadOut, h("p", { class: "bad-box", text: describeError(err) }));
    } finally {
      reload.disabled = false;
    }
  });

  void load();
  return {
    el: h(
      "div",
      {},
      info,
      h("section", { attrs: { "aria-labelledby": "reload-title" } }, h("h2", { id: "reload-title", text: "Reload" }), h("p", { class: "meta", text: "Reads the file again, validates it, and swaps it in whole; on any error nothing changes." }), reload, reloadOut),
      h("section", { attrs: { "aria-labelledby": "eff-title" } }, h("h2", { id: "eff-title", text: "Effective configuration (secrets masked)" }), view),
    ),
    dispose() {
      stopped = true;
    },
  };
}

import type { GetOverviewResponse } from "../../../clients/typescript/src/web.js";
import { button, field, h, input } from "../dom.js";
import { clientFor, describeError, storeKey } from "../session.js";

/**
 * The admin key is typed here and kept in this tab's sessionStorage only. It is checked with a
 * real Governance call before it is stored, so a wrong key or one without the admin scope is
 * said so at once, in words.
 */
export function signInView(notice: string | undefined, signedIn: (key: string, overview: GetOverviewResponse) => void): HTMLElement {
  const key = input({ type: "password", name: "api-key", autocomplete: "off", spellcheck: "false", required: true, autofocus: true });
  const error = h("p", { class: "error", attrs: { role: "alert", "aria-live": "assertive" } });
  const submit = button("Sign in", () => {}, { kind: "primary", type: "submit" });
  const form = h(
    "form",
    {
      class: "signin card",
      attrs: { "aria-labelledby": "signin-title", novalidate: true },
      on: {
        submit: (e) => {
          e.preventDefault();
          const k = key.value.trim();
          error.textContent = "";
          submit.disabled = true;
          submit.textContent = "Checking…";
          clientFor(k)
            .governance.getOverview({}, { timeoutMs: 15_000 })
            .then(
              (overview) => {
                storeKey(k);
                signedIn(k, overview);
              },
              (err) => {
                error.textContent = describeError(err);
                submit.disabled = false;
                submit.textContent = "Sign in";
                key.select();
                key.focus();
              },
            );
        },
      },
    },
    h("h1", { id: "signin-title", text: "Keeptrusts console" }),
    notice ? h("p", { class: "notice", attrs: { role: "status" }, text: notice }) : null,
    field("Admin API key", key, "A key from auth.api_keys with the admin scope. It stays in this browser tab until you sign out or close it."),
    error,
    submit,
  );
  return h("div", { class: "signin-wrap" }, form);
}

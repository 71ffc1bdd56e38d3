import { h, replace } from "./dom.js";
import type { Page, PageContext } from "./page.js";
import { auditPage } from "./pages/audit.js";
import { configPage } from "./pages/config.js";
import { livePage } from "./pages/live.js";
import { overviewPage } from "./pages/overview.js";
import { playgroundPage } from "./pages/playground.js";
import { signInView } from "./pages/sign-in.js";
import { usagePage } from "./pages/usage.js";
import { clientFor, forgetKey, storedKey } from "./session.js";

const PAGES: { id: string; title: string; make: (ctx: PageContext, params: URLSearchParams) => Page }[] = [
  { id: "overview", title: "Overview", make: overviewPage },
  { id: "live", title: "Live", make: livePage },
  { id: "audit", title: "Audit", make: auditPage },
  { id: "playground", title: "Policy playground", make: playgroundPage },
  { id: "usage", title: "Usage", make: usagePage },
  { id: "config", title: "Config", make: configPage },
];

const root = document.getElementById("app")!;

function start(message?: string): void {
  const key = storedKey();
  if (key === null) {
    document.title = "Sign in · Keeptrusts console";
    replace(root, signInView(message, (k, overview) => shell(k, overview)));
    return;
  }
  // A reload of a signed-in tab: check the stored key again before showing anything.
  const client = clientFor(key);
  client.governance.getOverview({}).then(
    (overview) => shell(key, overview),
    () => {
      forgetKey();
      start("Your session's key is no longer accepted. Sign in again.");
    },
  );
}

function shell(key: string, overview: import("../../clients/typescript/src/web.js").GetOverviewResponse): void {
  const client = clientFor(key);
  let current: Page | undefined;
  const main = h("main", { id: "main", attrs: { tabindex: -1 } });
  const links = PAGES.map((p) => h("a", { attrs: { href: `#/${p.id}` }, text: p.title }));
  const signOut = (message?: string) => {
    current?.dispose?.();
    current = undefined;
    forgetKey();
    window.removeEventListener("hashchange", route);
    location.hash = "";
    start(message ?? "Signed out.");
  };
  const ctx: PageContext = { client, overview, signOut, go: (hash) => (location.hash = hash) };

  function route(): void {
    const [path, query] = (location.hash.replace(/^#\/?/, "") || "overview").split("?", 2) as [string, string | undefined];
    const page = PAGES.find((p) => p.id === path) ?? PAGES[0]!;
    current?.dispose?.();
    links.forEach((a, i) => (PAGES[i] === page ? a.setAttribute("aria-current", "page") : a.removeAttribute("aria-current")));
    document.title = `${page.title} · Keeptrusts console`;
    current = page.make(ctx, new URLSearchParams(query ?? ""));
    replace(main, h("h1", { text: page.title }), current.el);
    // Screen readers announce the new page; keyboard users continue from its top.
    if (document.activeElement && document.activeElement !== document.body && !main.contains(document.activeElement)) main.focus({ preventScroll: true });
  }

  const pack = overview.pack ? `${overview.pack.name} ${overview.pack.version}` : "";
  replace(
    root,
    h("a", { class: "skip", attrs: { href: "#main" }, on: { click: (e) => (e.preventDefault(), main.focus()) }, text: "Skip to content" }),
    h(
      "header",
      { class: "top" },
      h("span", { class: "brand", text: "Keeptrusts" }),
      pack ? h("span", { class: "pack", attrs: { title: "policy pack" }, text: pack }) : null,
      h("nav", { attrs: { "aria-label": "Console pages" } }, ...links),
      h("button", { class: "signout", attrs: { type: "button" }, on: { click: () => signOut() }, text: "Sign out" }),
    ),
    main,
  );
  window.addEventListener("hashchange", route);
  route();
}

start();

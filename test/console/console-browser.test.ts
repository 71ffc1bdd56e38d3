import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from "vitest";
import { createGatewayServices } from "../../src/cli/compose.js";
import { sha256Hex } from "../../src/config/index.js";
import { MODEL, startStack, type Stack } from "../helpers/harness.js";
import { launchChromium } from "./browser.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const JAEGER = "http://jaeger.example:16686";
const ADMIN_KEY = "kt-console-admin-key";
const APP_KEY = "kt-console-app-key";
const EMAIL = "jane.doe@example.com";
/** Set to a directory (docs/console) to save a screenshot of each page there. */
const SHOTS = process.env.KT_CONSOLE_SCREENSHOTS;

function config(fakeUrl: string, dir: string, baseUrl = fakeUrl): string {
  return `pack:
  name: console-demo
  version: 1.2.0
auth:
  api_keys:
    - { id: ops-admin, sha256: ${sha256Hex(ADMIN_KEY)}, scopes: [chat, admin] }
    - { id: app, sha256: ${sha256Hex(APP_KEY)}, scopes: [chat], team: support, limits: { requests_per_minute: 600, token_budget: { tokens: 1000000, period: month, time_zone: UTC } } }
providers:
  targets:
    - id: openllm-llama3
      provider: openllm:chat:llama3:8b-instruct
      model: ${MODEL}
      base_url: ${baseUrl}
      description: Llama 3 on the GPU pool
limits:
  teams:
    support: { requests_per_minute: 1200 }
policies:
  chain: [pii, audit-logger]
policy:
  pii:
    description: Redact personal data before it reaches a model
    rules:
      - { type: pii_detection, action: redact, patterns: [email, credit_card, ssn] }
  audit-logger: { path: "${dir}/audit", retention_days: 30 }
`;
}

/**
 * The console in a real headless Chromium against a real gateway and the fake OpenLLM: sign in
 * (wrong key, key without admin, admin key by keyboard), targets, a request with an email arriving
 * on Live, found in Audit with its chain hash and Jaeger link, the log verified, the playground,
 * a rejected reload with its line number, phone width, dark mode, sign-out.
 */
describe("the console in a real browser", () => {
  let stack: Stack;
  let browser: Awaited<ReturnType<typeof launchChromium>>;
  let page: Page;
  const problems: string[] = [];

  beforeAll(async () => {
    execFileSync(process.execPath, [join(ROOT, "console/build.mjs")], { stdio: "ignore" });
    stack = await startStack((url, dir) => config(url, dir), { env: { KT_JAEGER_URL: JAEGER } });
    browser = await launchChromium();
    page = await browser.context.newPage();
    page.setDefaultTimeout(10_000);
    page.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`));
    page.on("console", (m) => {
      if (m.type() === "error" && !/Failed to load resource: the server responded with a status of (401|403)/.test(m.text())) problems.push(`console: ${m.text()}`);
    });
    page.on("request", (r) => {
      if (!r.url().startsWith(stack.url)) problems.push(`request outside the gateway: ${r.url()}`);
    });
    if (SHOTS) mkdirSync(SHOTS, { recursive: true });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await stack?.close();
  });

  const shot = async (name: string, fullPage = false) => {
    if (SHOTS) await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage });
  };

  it("signs in, watches, searches, verifies, evaluates, reloads and signs out", async () => {
    onTestFailed(async () => {
      // What the page showed, to read a failure by.
      console.log(`console test: page text at failure:\n${await page.locator("body").innerText().catch(() => "")}\n${problems.join("\n")}`);
    });
    await page.goto(`${stack.url}/console/`);
    await page.getByRole("heading", { name: "Keeptrusts console" }).waitFor();
    const key = page.getByLabel("Admin API key");
    await key.fill("not-a-key");
    await page.getByRole("button", { name: "Sign in" }).click();
    await expect.poll(() => page.getByRole("alert").textContent()).toContain("did not accept this API key");
    await key.fill(APP_KEY);
    await page.getByRole("button", { name: "Sign in" }).click();
    await expect.poll(() => page.getByRole("alert").textContent()).toContain("no admin scope");
    await shot("sign-in");

    // Keyboard only: the field keeps focus after an error; type the key and press Enter.
    await key.fill("");
    await key.focus();
    await page.keyboard.type(ADMIN_KEY);
    await page.keyboard.press("Enter");
    await page.getByRole("heading", { name: "Overview", level: 1 }).waitFor();
    expect(await page.evaluate(`sessionStorage.getItem("keeptrusts.console.apiKey")`)).toBe(ADMIN_KEY);
    expect(page.url()).not.toContain(ADMIN_KEY);
    const targetRow = page.locator("table.targets tbody tr", { hasText: "openllm-llama3" });
    await targetRow.waitFor();
    expect(await targetRow.textContent()).toContain("healthy");
    expect(await targetRow.textContent()).toContain("closed");
    expect(await page.locator("header .pack").textContent()).toBe("console-demo 1.2.0");
    expect(await page.locator("ul.policies").textContent()).toContain("pii_detection");

    // Live: a request with an email shows up as its governance event.
    await page.getByRole("link", { name: "Live" }).click();
    await expect.poll(() => page.getByRole("status").first().textContent()).toContain("Watching");
    const app = stack.openai({ apiKey: APP_KEY });
    const sent = Date.now();
    await app.chat.completions.create({ model: "openllm-llama3", messages: [{ role: "user", content: `Write to ${EMAIL} today` }] });
    const liveRow = page.locator("table.events tbody tr", { hasText: "email ×1" });
    await liveRow.first().waitFor({ timeout: 5_000 });
    const arrivalMs = Date.now() - sent;
    const rowText = await liveRow.first().textContent();
    expect(rowText).toContain("app");
    expect(rowText).toContain("redact");
    expect(rowText).not.toContain(EMAIL);
    console.log(`console: governance event on Live ${arrivalMs} ms after the request was answered`);

    // Pause holds new events; resume shows them.
    await page.getByRole("button", { name: "Pause" }).click();
    await app.chat.completions.create({ model: "openllm-llama3", messages: [{ role: "user", content: "nothing personal" }] });
    await expect.poll(() => page.getByRole("status").first().textContent()).toContain("1 held");
    expect(await page.locator("table.events tbody tr").count()).toBe(1);
    await page.getByRole("button", { name: "Resume" }).click();
    await expect.poll(() => page.locator("table.events tbody tr").count()).toBe(2);
    await shot("live", true);
    // Filtering by outcome goes to the server: only blocked events, of which there are none.
    await page.getByLabel("Outcome").selectOption("blocked");
    await page.getByRole("button", { name: "Apply filters" }).click();
    await app.chat.completions.create({ model: "openllm-llama3", messages: [{ role: "user", content: "still nothing" }] });
    await page.getByLabel("Outcome").selectOption("");
    await page.getByLabel("Rule").fill("pii/pii_detection#0");
    await page.getByRole("button", { name: "Apply filters" }).click();
    await app.chat.completions.create({ model: "openllm-llama3", messages: [{ role: "user", content: `again ${EMAIL}` }] });
    await page.locator("table.events tbody tr", { hasText: "email ×1" }).waitFor();
    expect(await page.locator("table.events tbody tr").count()).toBe(1);

    // Audit: find the record, open it, see its chain hash and Jaeger link.
    await page.getByRole("link", { name: "Audit" }).click();
    await page.getByLabel("Key", { exact: true }).fill("app");
    await page.getByLabel("Rule").fill("pii");
    await page.getByRole("button", { name: "Search" }).click();
    await expect.poll(() => page.locator("table.events tbody tr").count()).toBe(2);
    await page.locator("table.events tbody tr").first().getByRole("button", { name: /^Open record \d+$/ }).click();
    const detail = page.locator(".detail-panel dl.detail");
    await detail.waitFor();
    const detailText = (await detail.textContent())!;
    expect(detailText).toContain("Key (principal)app");
    expect(detailText).toMatch(/Chain hash[0-9a-f]{64}/);
    const traceHref = await detail.getByRole("link").getAttribute("href");
    expect(traceHref).toMatch(new RegExp(`^${JAEGER}/trace/[0-9a-f]{32}$`));
    await page.getByRole("button", { name: "Verify the log" }).click();
    await expect.poll(() => page.locator(".verify-result").textContent()).toMatch(/The log is intact\. .*\d+ records checked/);
    await shot("audit", true);

    // Playground: findings in place, the redacted text, the decision; then the governed answer.
    await page.getByRole("link", { name: "Policy playground" }).click();
    await page.getByLabel("Text").fill(`Mail ${EMAIL} the card 4111 1111 1111 1111`);
    await page.getByRole("button", { name: "Evaluate" }).click();
    await expect.poll(() => page.getByTestId("decision").textContent()).toBe("redact");
    expect(await page.locator(".marked mark").allTextContents()).toEqual([EMAIL, "4111 1111 1111 1111"]);
    expect(await page.getByTestId("redacted").textContent()).toBe("Mail [REDACTED:EMAIL] the card [REDACTED:CREDIT_CARD]");
    await expect.poll(() => page.getByLabel("Model").locator("option").first().textContent()).toContain("(openllm-llama3)");
    await page.getByRole("button", { name: "Send" }).click();
    await expect.poll(() => page.locator("output.answer").textContent()).toBe("You said: Mail [REDACTED:EMAIL] the card [REDACTED:CREDIT_CARD]");
    await shot("playground");

    // Config: masked, and a reload with an error names the line; the running config stays.
    await page.getByRole("link", { name: "Config" }).click();
    await expect.poll(() => page.locator("pre.config-json").textContent()).toContain('"sha256": "***"');
    expect(await page.locator("pre.config-json").textContent()).not.toContain(sha256Hex(ADMIN_KEY));
    const broken = config(stack.fake.url, stack.dir, "http://127.0.0.1:9/no-version-path");
    const line = broken.split("\n").findIndex((l) => l.includes("no-version-path")) + 1;
    const good = readFileSync(stack.configPath, "utf8");
    writeFileSync(stack.configPath, broken);
    await page.getByRole("button", { name: "Reload from file" }).click();
    // The file is read and validated on a policy worker (src/server/config-job.ts): about a
    // second here, past expect.poll's default of one.
    await expect.poll(() => page.locator(".reload-result").textContent(), { timeout: 15_000 }).toContain(`Line ${line}, column`);
    expect(await page.locator(".reload-result").textContent()).toContain("/v1");
    await shot("config");
    writeFileSync(stack.configPath, good);

    // Usage: the app key's rate window and budget, and its team's, from the limits store.
    await page.getByRole("link", { name: "Usage" }).click();
    const appRow = page.locator("table.usage-table tbody tr", { hasText: /^key app/ });
    await appRow.waitFor();
    expect(await appRow.textContent()).toMatch(/\b4 of 600 requests \/ min/);
    expect(await appRow.textContent()).toMatch(/of 1,000,000 per month/);
    const teamRow = page.locator("table.usage-table tbody tr", { hasText: /^team support/ }).filter({ hasText: "4 of 1,200 requests / min" });
    expect(await teamRow.count()).toBe(1);
    expect(await page.getByRole("status").first().textContent()).toContain("Store: embedded");
    await shot("usage");

    // Overview counts what happened, in the chart's legend.
    await page.getByRole("link", { name: "Overview" }).click();
    await expect.poll(async () => Number((await page.locator(".legend li").first().locator("strong").textContent())!.replace(/\D/g, ""))).toBeGreaterThanOrEqual(5);
    expect(await page.locator("svg.chart polyline").count()).toBe(3);
    await shot("overview");

    // Phone width: one column, nothing wider than the screen; dark mode follows the system.
    await page.setViewportSize({ width: 390, height: 844 });
    expect(await page.evaluate<number>("document.documentElement.scrollWidth")).toBeLessThanOrEqual(390);
    await shot("overview-phone");
    const light = await page.evaluate<string>("getComputedStyle(document.body).backgroundColor");
    await page.emulateMedia({ colorScheme: "dark" });
    const dark = await page.evaluate<string>("getComputedStyle(document.body).backgroundColor");
    expect(dark).not.toBe(light);
    await page.setViewportSize({ width: 1280, height: 800 });
    await shot("overview-dark");
    await page.emulateMedia({ colorScheme: "light" });

    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByLabel("Admin API key").waitFor();
    expect(await page.evaluate(`sessionStorage.getItem("keeptrusts.console.apiKey")`)).toBeNull();
    expect(problems).toEqual([]);
  }, 60_000);

  it("works over TLS, where the browser speaks HTTP/2 to the same port", async () => {
    // Its own audit directory: a log has one writer.
    const tlsDir = join(stack.dir, "tls");
    mkdirSync(tlsDir);
    writeFileSync(join(tlsDir, "policy-config.yaml"), config(stack.fake.url, tlsDir));
    const services = await createGatewayServices({
      listen: "127.0.0.1:0",
      configPath: join(tlsDir, "policy-config.yaml"),
      tls: { certFile: join(ROOT, "test/fixtures/tls/localhost.crt"), keyFile: join(ROOT, "test/fixtures/tls/localhost.key") },
      telemetry: null,
    });
    const tlsPage = await browser.context.newPage();
    try {
      const url = services.gateway.url.replace("127.0.0.1", "localhost");
      await tlsPage.goto(`${url}/console/`);
      expect(await tlsPage.evaluate<string>(`performance.getEntriesByType("navigation")[0].nextHopProtocol`)).toBe("h2");
      await tlsPage.getByLabel("Admin API key").fill(ADMIN_KEY);
      await tlsPage.getByRole("button", { name: "Sign in" }).click();
      await tlsPage.locator("table.targets tbody tr", { hasText: "openllm-llama3" }).waitFor();
      await tlsPage.getByRole("link", { name: "Live" }).click();
      await expect.poll(() => tlsPage.getByRole("status").first().textContent()).toContain("Watching");
      // The server stream over h2: a request to this gateway arrives on the page.
      const res = await fetchInsecure(`${url}/v1/chat/completions`, APP_KEY, EMAIL);
      expect(res).toBe(200);
      await tlsPage.locator("table.events tbody tr", { hasText: "email ×1" }).waitFor();
    } finally {
      await tlsPage.close();
      await services.close({ drainMs: 500 });
    }
  }, 40_000);
});

/** A chat request to the TLS gateway, trusting the test CA. */
async function fetchInsecure(url: string, key: string, email: string): Promise<number> {
  const { Agent, fetch } = await import("undici");
  const ca = readFileSync(join(ROOT, "test/fixtures/tls/localhost.crt"));
  const r = await fetch(url, {
    method: "POST",
    dispatcher: new Agent({ connect: { ca } }),
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "openllm-llama3", messages: [{ role: "user", content: `tls ${email}` }] }),
  });
  await r.text();
  return r.status;
}

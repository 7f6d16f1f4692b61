// What a daily user must be able to trust, end to end in a real browser against a real
// keygate (single-operator mode, logged in with the admin key): dates in the browser's
// own locale and time zone (German, Berlin here), the one-time key that cannot be lost
// by accident and whose check snippet really answers 204, the rotation of an expired
// key, the audit log (names, changes, seconds, filters, export), data that stays on
// screen when a refresh fails, a page that cannot load, a session that ends with unsaved
// input. Every screen is checked with axe-core. Screenshots go to e2e/artifacts/trust-*.
//
//   KEYGATE_BIN=path/to/keygate node --test e2e/trust.test.mjs
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { after, before, describe, test } from "node:test";
import { assertAccessible } from "./axe.mjs";
import {
  adminConsole,
  assertAccessibleEverywhere,
  cleanup,
  launchChromium,
  newPage,
  requireTools,
  shot,
  watchdog,
} from "./harness.mjs";

const dog = watchdog(420_000);
let browser;

before(async () => {
  requireTools();
  browser = await launchChromium();
});

after(async () => {
  await browser?.close().catch(() => undefined);
  cleanup();
  clearTimeout(dog);
});

/** The shell words of a snippet shown in the UI: its `-H 'Name: value'` headers and its URL. */
function parseCurl(text) {
  const headers = {};
  for (const m of text.matchAll(/-H '([^':]+): ([^']*)'/g)) headers[m[1]] = m[2];
  const url = /(https?:\/\/\S+)\s*$/.exec(text)?.[1];
  return { headers, url };
}

describe("a user can trust what the UI shows", () => {
  let kg;
  let adminKey;
  const BERLIN = { locale: "de-DE", timezoneId: "Europe/Berlin" };

  before(async () => {
    ({ kg, adminKey } = await adminConsole());
  });

  const api = (path, init = {}) =>
    fetch(`${kg.url}${path}`, {
      ...init,
      headers: { Authorization: `Bearer ${adminKey}`, "Content-Type": "application/json", ...init.headers },
    });

  async function makeKey(body) {
    const r = await api("/api/me/tokens", { method: "POST", body: JSON.stringify(body) });
    assert.equal(r.status, 201, await r.clone().text());
    return r.json();
  }

  /** Logged in with the admin key, back where the login page was sent from. */
  async function loggedIn(opts = {}, where = "/keys") {
    const p = await newPage(browser, { origin: kg.url, ...BERLIN, ...opts });
    await p.page.goto(`${kg.url}/login`);
    const field = p.page.getByLabel("Admin key");
    await field.waitFor();
    assert.equal(await p.page.evaluate(() => document.activeElement?.id), "admin-key", "the admin-key field has the focus");
    await field.fill(adminKey);
    await p.page.getByRole("button", { name: "Log in" }).click();
    // An admin lands on the overview.
    await p.page.waitForURL(`${kg.url}/admin`);
    await p.page.goto(`${kg.url}${where}`);
    return p;
  }

  test("dates are in the browser's locale and time zone, with the zone, and expiry is entered in it", { timeout: 90_000 }, async () => {
    const made = await makeKey({ name: "berlin dates", expires_at: "2030-01-15T12:00:00Z" });
    const { page, context, problems } = await loggedIn({}, `/keys/${made.id}`);
    await page.getByRole("heading", { level: 1, name: /berlin dates/ }).waitFor();
    // 12:00 UTC is 13:00 in Berlin in winter (MEZ), written the German way.
    const expiry = await page.getByTestId("key-expiry").innerText();
    assert.match(expiry, /15\. Jan\.? 2030, 13:00 MEZ/);
    // (Far enough ahead that the phrase is "in N years" for a long while; how far it is
    // changes with today's date, so any of the forms is accepted.)
    assert.match(expiry, /\((in \d+ (years|months|weeks|days)|next (year|month|week))\)/, "the relative phrase sits next to the date");

    // The custom expiry is typed as a day in Berlin: 00:00 there.
    await page.getByRole("link", { name: "My keys" }).first().click();
    await page.getByRole("button", { name: "New key" }).click();
    const form = page.getByRole("dialog", { name: "New key" });
    await form.getByLabel("Name", { exact: true }).fill("berlin custom");
    await form.getByLabel("Expires").selectOption("custom");
    const date = form.getByLabel(/^Expiry date, in your time zone \(Europe\/Berlin, UTC\+[12]\)$/);
    await date.fill("2030-03-10");
    await shot(page, "trust-custom-expiry-de");
    await form.getByRole("button", { name: "Create key" }).click();
    const shown = page.getByRole("dialog", { name: "Your new key" });
    await shown.getByText(/It expires on 10\. März 2030, 00:00 MEZ/).waitFor();
    await shown.getByRole("button", { name: "I have saved the key" }).click();
    const list = await (await api("/api/me/tokens")).json();
    const custom = list.tokens.find((t) => t.name === "berlin custom");
    assert.equal(custom.expires_at, "2030-03-09T23:00:00Z", "00:00 in Berlin is 23:00 UTC the day before");

    // The audit log, to the second, in the same zone.
    await page.goto(`${kg.url}/admin/audit`);
    await page.getByRole("heading", { name: "Audit log" }).waitFor();
    const when = await page.locator("table.audit tbody tr td").first().innerText();
    assert.match(when, /\d{1,2}\. \S+ \d{4}, \d{2}:\d{2}:\d{2} (MEZ|MESZ)/);
    await page.getByText(/Times are in your time zone \(Europe\/Berlin, UTC\+[12]\)/).waitFor();
    assert.deepEqual(problems, []);
    await context.close();
  });

  test("the one-time key asks before it is closed uncopied, and its check answers 204", { timeout: 120_000 }, async () => {
    const { page, context, problems } = await loggedIn();
    await page.getByRole("button", { name: "New key" }).click();
    const form = page.getByRole("dialog", { name: "New key" });
    await form.getByLabel("Name", { exact: true }).fill("checked");
    await form.getByRole("button", { name: "Add a rule" }).click();
    // The keyboard is taken to the rule's first field.
    assert.equal(await page.evaluate(() => document.activeElement?.getAttribute("placeholder")), "api.example.com, *.example.com");
    await form.getByLabel("Hosts").fill("*.example.com");
    await form.getByLabel("Paths").fill("/v1/*");
    await form.getByRole("group", { name: "Methods" }).getByRole("checkbox", { name: "POST", exact: true }).check();
    await form.getByRole("button", { name: "Create key" }).click();
    const shown = page.getByRole("dialog", { name: "Your new key" });
    const key = await shown.getByTestId("new-key").inputValue();

    // Escape, × and a click outside all ask first; the key stays.
    const guard = shown.getByRole("alert").filter({ hasText: "You have not copied the key" });
    await page.keyboard.press("Escape");
    await guard.waitFor();
    await shot(page, "trust-one-time-key-guard");
    await assertAccessibleEverywhere(page, "the one-time key's close guard");
    await shown.getByRole("button", { name: "Back to the key" }).click();
    await guard.waitFor({ state: "detached" });
    await shown.getByRole("button", { name: "Close" }).click();
    await guard.waitFor();
    await shown.getByRole("button", { name: "Back to the key" }).click();
    await page.mouse.click(3, 3);
    await guard.waitFor();
    await shown.getByRole("button", { name: "Back to the key" }).click();
    assert.ok(await shown.getByTestId("new-key").isVisible());

    // The check snippet, sent as it is: 204. The same without its method header: refused.
    const snippet = parseCurl(await shown.getByTestId("check-snippet").innerText());
    assert.deepEqual(Object.keys(snippet.headers), ["Authorization", "X-Forwarded-Method", "X-Forwarded-Host", "X-Forwarded-Uri"]);
    assert.equal(snippet.headers["X-Forwarded-Method"], "POST");
    assert.equal(snippet.headers["X-Forwarded-Host"], "api.example.com");
    assert.equal(snippet.headers["X-Forwarded-Uri"], "/v1/example");
    assert.equal(snippet.url, `${kg.url}/forward-auth`);
    assert.equal((await fetch(snippet.url, { headers: snippet.headers })).status, 204, "the snippet's request is allowed");
    const wrong = { ...snippet.headers, "X-Forwarded-Method": "GET" };
    assert.equal((await fetch(snippet.url, { headers: wrong })).status, 403, "and the rule's method is what makes it so");
    assert.equal(snippet.headers.Authorization, `Bearer ${key}`);

    // Copied: now Escape closes it at once.
    await shown.getByRole("button", { name: "Copy key" }).click();
    await shown.getByText("Copied", { exact: true }).waitFor();
    await page.keyboard.press("Escape");
    await shown.waitFor({ state: "detached" });
    assert.deepEqual(problems, []);
    await context.close();
  });

  test("an expired key's rotation asks for the new expiry; the keys link to each other", { timeout: 120_000 }, async () => {
    const soon = new Date(Date.now() + 2500).toISOString().replace(/\.\d{3}Z$/, "Z");
    const old = await makeKey({ name: "lapsed", expires_at: soon });
    await new Promise((r) => setTimeout(r, 3500));
    // The API refuses to rotate it without the new key's expiry.
    const refused = await api(`/api/me/tokens/${old.id}/rotate`, { method: "POST", body: JSON.stringify({ grace_seconds: 0 }) });
    assert.equal(refused.status, 422);
    assert.equal((await refused.json()).field, "expires_at");

    const { page, context, problems } = await loggedIn({}, `/keys/${old.id}`);
    await page.getByRole("heading", { level: 1, name: /lapsed/ }).waitFor();
    assert.match(await page.getByTestId("key-expiry").innerText(), /^expired on \d{1,2}\. \S+ \d{4}, \d{2}:\d{2} (MEZ|MESZ) \(.+\)/);
    await page.getByRole("button", { name: "Rotate" }).click();
    const dialog = page.getByRole("dialog", { name: "Rotate “lapsed”" });
    await dialog.getByText("Its expiry is not carried over: choose when the new key expires.").waitFor();
    const choice = dialog.getByLabel("The new key expires");
    assert.equal(await choice.inputValue(), "");
    await dialog.getByRole("button", { name: "Rotate key" }).click();
    await dialog.getByText("Choose when the new key expires.", { exact: true }).waitFor();
    await shot(page, "trust-rotate-expired");
    await assertAccessibleEverywhere(page, "the rotate dialog of an expired key");
    await choice.selectOption("30d");
    await dialog.getByRole("button", { name: "Rotate key" }).click();
    const shown = page.getByRole("dialog", { name: "Your new key" });
    await shown.getByText(/It expires on /).waitFor();
    await shown.getByRole("button", { name: "I have saved the key" }).click();
    await shown.waitFor({ state: "detached" });

    // The old key's page links its successor by name, and back.
    const next = page.getByTestId("replaced-by").getByRole("link", { name: /lapsed/ });
    await next.waitFor();
    await next.click();
    await page.getByTestId("replaces").getByRole("link", { name: /lapsed/ }).waitFor();
    const successor = (await (await api("/api/me/tokens")).json()).tokens.find((t) => t.replaces === old.id);
    assert.ok(successor, "the successor is listed");
    const days = (Date.parse(successor.expires_at) - Date.now()) / 86_400_000;
    assert.ok(days > 29.9 && days < 30.1, `the new key expires in 30 days, not ${days}`);
    await page.waitForURL(`${kg.url}/keys/${successor.id}`);
    await assertAccessibleEverywhere(page, "a rotated key's page");

    // Revoked from its own page: the keyboard lands on the list's heading.
    await page.getByRole("button", { name: "Revoke" }).click();
    const confirm = page.getByRole("dialog", { name: /Revoke/ });
    await confirm.getByRole("button", { name: /Revoke/ }).click();
    await page.waitForURL(`${kg.url}/keys`);
    await page.waitForFunction(() => document.activeElement?.tagName === "H1");
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), "My keys");
    assert.deepEqual(problems, []);
    await context.close();
  });

  test("the audit log names keys, says what changed, filters and exports", { timeout: 120_000 }, async () => {
    const k = await makeKey({ name: "audited" });
    const patched = await api(`/api/me/tokens/${k.id}`, { method: "PATCH", body: JSON.stringify({ name: "audited twice" }) });
    assert.equal(patched.status, 200);
    const { page, context, problems } = await loggedIn({}, "/admin/audit");
    await page.getByRole("heading", { name: "Audit log" }).waitFor();
    const row = page.getByRole("row", { name: /update/ }).filter({ hasText: "audited twice" }).first();
    await row.waitFor();
    assert.match(await row.innerText(), /name: audited → audited twice/);
    assert.equal(await row.getByRole("link", { name: "audited twice" }).getAttribute("href"), `/keys/${k.id}`.replace("/keys", "/admin/keys"));

    // Only updates, since a minute ago (typed in Berlin time).
    await page.getByLabel("Action").selectOption("update");
    const since = await page.evaluate(() => {
      const d = new Date(Date.now() - 60_000);
      const p = (n) => String(n).padStart(2, "0");
      return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
    });
    await page.getByLabel("Since").fill(since);
    await page.getByRole("button", { name: "Filter" }).click();
    await page.waitForURL((u) => u.searchParams.get("action") === "update" && u.searchParams.has("since"));
    const actions = page.locator("table.audit tbody tr td:nth-child(3)");
    await page.waitForFunction(
      () => {
        const cells = [...document.querySelectorAll("table.audit tbody tr td:nth-child(3)")].map((c) => c.textContent);
        return cells.length > 0 && cells.every((c) => c === "update");
      },
      undefined,
      { timeout: 10_000 },
    );
    assert.ok((await actions.count()) >= 1);
    await shot(page, "trust-audit-filtered-de");
    await assertAccessibleEverywhere(page, "the filtered audit log");

    // Exports with the same filter, fetched with the session's credential.
    const [csv] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Export CSV" }).click()]);
    assert.equal(csv.suggestedFilename(), "keygate-audit.csv");
    const text = await readFile(await csv.path(), "utf8");
    const lines = text.trim().split("\r\n");
    assert.equal(lines[0], "seq,at,actor,auth,action,owner,token_id,name,client,changes");
    assert.ok(lines.length >= 2 && lines.slice(1).every((l) => l.split(",")[4] === "update"), text);
    assert.match(text, /name: audited → audited twice/);
    const [json] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Export JSON" }).click()]);
    const events = JSON.parse(await readFile(await json.path(), "utf8"));
    assert.ok(events.length >= 1 && events.every((e) => e.action === "update"));
    assert.ok(events.some((e) => e.name === "audited twice" && e.changes.some((c) => c.field === "name")));
    assert.deepEqual(problems, []);
    await context.close();
  });

  test("a failed refresh keeps the data on screen; a page that cannot load offers a reload", { timeout: 120_000 }, async () => {
    const k = await makeKey({ name: "steady" });
    const { page, context, problems } = await loggedIn({}, `/keys/${k.id}`);
    await page.getByRole("heading", { level: 1, name: /steady/ }).waitFor();
    // keygate stops answering for this key; a change makes the page read it again.
    const path = `/api/me/tokens/${k.id}`;
    const keyRead = (u) => u.pathname === path;
    await page.route(keyRead, (r) => (r.request().method() === "GET" ? r.abort("connectionrefused") : r.continue()),
    );
    await page.getByRole("button", { name: "Disable" }).click();
    // keygate cannot be reached for it: the layout's one banner says so, and since when.
    const banner = page.getByTestId("connection");
    const cut = banner.getByText("Cannot reach keygate");
    await cut.waitFor({ timeout: 15_000 });
    assert.match(await banner.innerText(), /showing what was loaded at .+ \(\d+ s ago\)/);
    assert.ok(await page.getByRole("heading", { level: 1, name: /steady/ }).isVisible(), "the key stays on screen");
    await shot(page, "trust-stale-banner");
    await assertAccessibleEverywhere(page, "a key page under the stale banner");
    await page.unroute(keyRead);
    await banner.getByRole("button", { name: "Try again" }).click();
    await cut.waitFor({ state: "detached" });
    await page.getByRole("heading", { level: 1, name: /Disabled/ }).waitFor();

    // The docs page's chunk cannot be fetched (keygate down, or upgraded since).
    const chunk = (u) => /\/assets\/guide-page-[\w-]+\.js$/.test(u.pathname);
    await page.route(chunk, (r) => r.abort("connectionrefused"));
    await page.getByRole("link", { name: "Docs" }).click();
    const failure = page.getByRole("alert").filter({ hasText: "This page could not be loaded" });
    await failure.waitFor();
    assert.ok(await page.getByRole("navigation", { name: "Main" }).isVisible(), "the navigation stays");
    await shot(page, "trust-chunk-error");
    await assertAccessibleEverywhere(page, "a page that could not be loaded");
    await page.unroute(chunk);
    await failure.getByRole("button", { name: "Reload" }).click();
    await page.getByRole("heading", { level: 1, name: "Docs" }).waitFor();
    await failure.waitFor({ state: "detached" });
    // The refused requests and the caught import are reported by the browser; nothing else.
    const rest = problems.filter((p) => !/ERR_CONNECTION_REFUSED|Failed to load resource|dynamically imported module|a page failed/.test(p));
    assert.deepEqual(rest, []);
    await context.close();
  });

  test("a session that ends keeps unsaved input until the user goes, then returns them", { timeout: 120_000 }, async () => {
    const k = await makeKey({ name: "half edited" });
    const { page, context, problems } = await loggedIn({}, `/keys/${k.id}`);
    await page.getByRole("heading", { level: 1, name: /half edited/ }).waitFor();
    await page.getByRole("button", { name: "Edit" }).click();
    const edit = page.getByRole("dialog", { name: "Edit “half edited”" });
    await edit.getByLabel("Name", { exact: true }).fill("something I typed");
    // keygate no longer takes the credential (it was rotated, say).
    const anyApi = (u) => u.pathname.startsWith("/api/");
    await page.route(anyApi, (r) => r.fulfill({ status: 401, contentType: "application/json", body: '{"error":"unauthorized","message":"bad credential"}' }),
    );
    await edit.getByRole("button", { name: "Save changes" }).click();
    const ended = edit.getByRole("alert").filter({ hasText: "Your session has ended" });
    await ended.waitFor();
    assert.equal(await edit.getByLabel("Name", { exact: true }).inputValue(), "something I typed", "the input is still there");
    assert.equal(page.url(), `${kg.url}/keys/${k.id}`);
    await shot(page, "trust-session-ended");
    await assertAccessible(page, "the session-ended notice");
    await page.unroute(anyApi);
    await ended.getByRole("button", { name: "Log in again" }).click();
    await page.waitForURL(`${kg.url}/login`);
    await page.getByText("Your session has ended").waitFor();
    await page.getByLabel("Admin key").fill(adminKey);
    await page.getByRole("button", { name: "Log in" }).click();
    // Back where they were.
    await page.waitForURL(`${kg.url}/keys/${k.id}`);
    await page.getByRole("heading", { level: 1, name: /half edited/ }).waitFor();
    const rest = problems.filter((p) => !/401/.test(p));
    assert.deepEqual(rest, []);
    await context.close();
  });
});

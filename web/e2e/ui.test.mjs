// The web UI end to end, in a real browser against a real keygate and a real OIDC
// provider: log in through the provider's login form, create a key, use it, revoke it;
// an admin sees everyone's keys and the audit log; single-operator mode with the admin
// key. Screenshots of the main screens go to e2e/artifacts/ (desktop and 375 px).
//
//   npm run e2e          (KEYGATE_BIN=path/to/keygate to pick the binary)
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  accessToken,
  assertAccessibleEverywhere,
  cleanup,
  freePort,
  gate,
  launchChromium,
  newPage,
  oidcLogin,
  requireTools,
  shot,
  startKeygate,
  startProvider,
  watchdog,
} from "./harness.mjs";

const dog = watchdog(300_000);
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

/** No CSP violation, no script error: the strict policy and the app agree. */
function assertClean(problems, where) {
  assert.deepEqual(problems, [], `${where}: the page reported problems`);
}

async function createKey(page, { name, paths = "", methods = "", expiry = "30d" }) {
  await page.getByRole("button", { name: "New key" }).click();
  const dialog = page.getByRole("dialog", { name: "New key" });
  await dialog.getByLabel("Name", { exact: true }).fill(name);
  await dialog.getByLabel("Expires").selectOption(expiry);
  if (paths || methods) {
    await dialog.getByRole("button", { name: "Add a rule" }).click();
    await dialog.getByLabel("Paths").fill(paths);
    // Methods are ticked from keygate's list, not typed.
    for (const m of methods.split(/[\s,]+/).filter(Boolean)) {
      await dialog.getByRole("group", { name: "Methods" }).getByRole("checkbox", { name: m, exact: true }).check();
    }
  }
  await dialog.getByRole("button", { name: "Create key" }).click();
  const shown = page.getByRole("dialog", { name: "Your new key" });
  await shown.waitFor();
  const key = await shown.getByTestId("new-key").inputValue();
  assert.match(key, /^kg_[0-9A-Za-z]{49}$/);
  await shown.getByText("you will not see it again").waitFor();
  return { key, dialog: shown };
}

describe("with an OIDC provider, under a base path", () => {
  let url;

  before(async () => {
    const port = await freePort();
    url = `http://127.0.0.1:${port}/keygate`;
    // Access tokens live 70 s: the UI renews them silently 60 s before they expire.
    const { issuer } = await startProvider(`${url}/`, { accessTtl: 70 });
    await startKeygate({
      port,
      basePath: "/keygate",
      toml: `base_path = "/keygate"

[oauth]
issuer_url = "${issuer}"
audiences = ["keygate"]

[frontend]
app_name = "Acme keys"
oidc_client_id = "keygate-ui"
oidc_scope = "openid profile api"
oidc_resource = "urn:keygate"
docs_html = '<h2>Getting access</h2><p>Ask in #platform.</p><img src="x" alt="" onerror="window.pwned = 1"><script>window.pwned = 2</script>'
`,
    });
    // The API answers 503 until keygate has the provider's keys.
    for (let i = 0; i < 100; i++) {
      const r = await fetch(`${url}/api/me`, { headers: { Authorization: "Bearer a.b.c" } });
      if (r.status !== 503) break;
      await new Promise((r) => setTimeout(r, 100));
    }
  });

  test("a user logs in, creates a key, uses it, revokes it", { timeout: 120_000 }, async () => {
    const { page, context, problems } = await newPage(browser, { origin: new URL(url).origin });
    await page.goto(`${url}/`);
    await page.waitForURL(`${url}/login`);
    await page.getByRole("heading", { name: "Acme keys" }).waitFor();
    await shot(page, "login-oidc-desktop");
    await assertAccessibleEverywhere(page, "login page (OIDC)");
    // At 375 px the login button's label wraps inside it rather than overflowing.
    await page.setViewportSize({ width: 375, height: 812 });
    const oidcButton = page.getByRole("button", { name: "Log in with your organisation account" });
    const fits = await oidcButton.evaluate((b) => b.scrollWidth <= b.clientWidth && b.getBoundingClientRect().right <= window.innerWidth);
    assert.ok(fits, "the OIDC login button fits at 375 px");
    await page.setViewportSize({ width: 1440, height: 900 });
    await oidcLogin(page, url, "alice");
    const firstToken = await accessToken(page);
    assert.ok(firstToken, "the session holds an access token");
    const who = page.getByTestId("whoami");
    await who.getByText("alice").waitFor();
    assert.equal(await who.locator(".badge-admin").count(), 0, "alice is no admin");
    await page.getByText("No keys yet.").waitFor();

    const { key, dialog } = await createKey(page, { name: "e2e deploys", paths: "/v1/*", methods: "GET" });
    await shot(page, "create-one-time-key-desktop");
    await assertAccessibleEverywhere(page, "the one-time key");
    assert.equal(await gate(url, key), 204, "the new key opens the gate");
    assert.equal(await gate(url, key, { uri: "/admin" }), 403, "and only where its rule allows");
    await dialog.getByRole("button", { name: "I have saved the key" }).click();
    await dialog.waitFor({ state: "detached" });
    const row = page.getByRole("row", { name: /e2e deploys/ });
    await row.waitFor();
    assert.match(await row.innerText(), /GET any host \/v1\/\*/);
    assert.match(await row.innerText(), /Active/i);

    await page.getByRole("button", { name: "Actions for e2e deploys" }).click();
    await page.getByRole("menuitem", { name: "Revoke" }).click();
    const confirm = page.getByRole("dialog", { name: "Revoke “e2e deploys”?" });
    await confirm.getByText("This cannot be undone").waitFor();
    await confirm.getByRole("button", { name: "Revoke “e2e deploys”" }).click();
    await row.waitFor({ state: "detached" });
    assert.equal(await gate(url, key), 401, "a revoked key is refused");

    // One to keep, for the admin to find; and the list as it looks with a key in it.
    const kept = await createKey(page, { name: "alice nightly" });
    await kept.dialog.getByRole("button", { name: "I have saved the key" }).click();
    await page.getByRole("row", { name: /alice nightly/ }).waitFor();
    await shot(page, "my-keys-desktop");
    await assertAccessibleEverywhere(page, "my keys");
    assert.equal(await gate(url, kept.key), 204);

    // Silent renew (a hidden iframe to the provider, allowed by the CSP's frame-src) has
    // replaced the access token by now, and the API takes the new one.
    await page.waitForFunction(
      (first) => Object.entries(sessionStorage).some(([k, v]) => k.startsWith("oidc.user:") && JSON.parse(v).access_token !== first),
      firstToken,
      { timeout: 30_000 },
    );
    const renewed = await accessToken(page);
    assert.equal(
      await page.evaluate(() => Object.entries(sessionStorage).some(([k, v]) => k.startsWith("oidc.user:") && JSON.parse(v).refresh_token)),
      false,
      "no refresh token: the renewal went through the hidden iframe",
    );
    const me = await fetch(`${url}/api/me`, { headers: { Authorization: `Bearer ${renewed}` } });
    assert.equal(me.status, 200);
    assert.equal((await me.json()).subject, "alice");

    // The operator's docs, sanitised: shown, and nothing in them ran.
    await page.getByRole("link", { name: "Docs" }).click();
    await page.getByRole("heading", { name: "Getting access" }).waitFor();
    await assertAccessibleEverywhere(page, "docs page");
    assert.equal(await page.evaluate(() => window.pwned), undefined, "operator HTML ran script");
    assert.equal(await page.locator(".operator-docs [onerror], .operator-docs script").count(), 0);
    // Parsing the snippet to sanitise it makes Chromium check its `onerror` against the
    // CSP, which refuses it (and DOMPurify then drops it): the one report expected.
    const blocked = problems.findIndex((p) => p.includes("inline event handler") && p.includes("/guide"));
    assert.notEqual(blocked, -1, "the CSP refused the operator's inline handler");
    problems.splice(blocked, 1);
    // The parse may also fetch the snippet's `<img src="x">`: a path keygate does not
    // serve, so a 404 (never the app: unknown paths are not the UI's).
    const image = problems.findIndex((p) => p.includes("404") && p.includes("/keygate/x]"));
    if (image !== -1) problems.splice(image, 1);
    const apiLink = page.getByRole("link", { name: "API reference" }).first();
    assert.equal(await apiLink.getAttribute("href"), "/keygate/docs");

    // Log out: at the provider too, then back on the login page.
    await page.getByRole("button", { name: "Log out" }).click();
    await page.waitForURL((u) => !u.href.startsWith(url));
    await page.getByRole("button", { name: /sign me out/i }).click();
    await page.waitForURL(`${url}/login`);
    assert.equal(await page.evaluate(() => Object.keys(sessionStorage).filter((k) => k.startsWith("oidc.")).length), 0);
    assertClean(problems, "user session");
    await context.close();
  });

  test("an admin sees every owner's keys and the audit log", { timeout: 120_000 }, async () => {
    const { page, context, problems } = await newPage(browser, { origin: new URL(url).origin });
    await oidcLogin(page, url, "admin-carol");
    const who = page.getByTestId("whoami");
    await who.getByText("admin-carol").waitFor();
    await who.locator(".badge-admin").waitFor();

    // An admin lands on the overview; the owners are a section of the console.
    assert.equal(page.url(), `${url}/admin`);
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Owners" }).click();
    await page.waitForURL(`${url}/admin/owners`);
    // The overview's rows may still be on screen a moment: the owners' table's own.
    await page.getByRole("heading", { name: "Owners", level: 1 }).waitFor();
    const alice = page.getByRole("table", { name: /owners/i }).getByRole("row", { name: /alice/ });
    await alice.waitFor();
    assert.match(await alice.innerText(), /alice\s+1/);
    await page.getByLabel("Search owners").fill("nobody-matches");
    await page.getByText("No owner matches.").waitFor();
    await page.getByLabel("Search owners").fill("ali");
    await alice.waitFor();
    await shot(page, "admin-owners-desktop");
    await assertAccessibleEverywhere(page, "admin: owners");

    // Someone with no key yet is listed nowhere; open them by subject and make one.
    await page.getByLabel("Keys of someone not listed (their subject)").fill("bob");
    await page.getByRole("button", { name: "Open" }).click();
    await page.waitForURL(`${url}/admin/owners/bob`);
    await page.getByText("No keys yet.").waitFor();
    const bobs = await createKey(page, { name: "bob's batch job" });
    await bobs.dialog.getByRole("button", { name: "I have saved the key" }).click();
    await page.getByRole("row", { name: /bob's batch job/ }).waitFor();
    assert.equal(await gate(url, bobs.key), 204);
    await page.getByRole("navigation", { name: "Breadcrumbs" }).getByRole("link", { name: "Owners" }).click();
    await page.getByRole("row", { name: /bob/ }).waitFor();
    await page.getByLabel("Search owners").fill("ali");
    await page.getByRole("row", { name: /bob/ }).waitFor({ state: "detached" });

    await page.getByRole("link", { name: "alice" }).click();
    await page.waitForURL(`${url}/admin/owners/alice`);
    await page.getByRole("heading", { name: "Keys of alice" }).waitFor();
    await page.getByRole("row", { name: /alice nightly/ }).waitFor();
    await shot(page, "admin-owner-keys-desktop");
    await assertAccessibleEverywhere(page, "admin: an owner's keys");

    // Straight to a client route: served by keygate's index.html fallback.
    await page.goto(`${url}/admin/audit`);
    await page.getByRole("heading", { name: "Audit log" }).waitFor();
    const rows = page.locator("table.audit tbody tr");
    await rows.first().waitFor();
    const text = await page.locator("table.audit").innerText();
    assert.match(text, /alice \(oidc\)\s+delete\s+alice/);
    assert.match(text, /alice \(oidc\)\s+create\s+alice/);
    await page.getByLabel("Actor").fill("nobody");
    await page.getByRole("button", { name: "Filter" }).click();
    await page.getByText("No events match.").waitFor();
    await page.getByRole("button", { name: "Clear" }).click();
    await rows.first().waitFor();
    await page.getByLabel("Owner").fill("alice");
    await page.getByRole("button", { name: "Filter" }).click();
    await page.waitForURL(`${url}/admin/audit?owner=alice`);
    // The unfiltered rows can still be on screen, or none while the filtered page
    // loads: wait for the filtered answer itself.
    let count = 0;
    for (let i = 0; i < 100 && count !== 3; i++) {
      await page.waitForTimeout(50);
      count = await rows.count();
      const owners = await page.locator("table.audit tbody tr td:nth-child(4)").allInnerTexts();
      if (owners.some((o) => !o.includes("alice"))) count = -1;
    }
    assert.equal(count, 3, "alice's two creates and one delete");
    await shot(page, "audit-desktop");
    await assertAccessibleEverywhere(page, "audit log");

    // The same screens at 375 px wide.
    await page.setViewportSize({ width: 375, height: 812 });
    await shot(page, "audit-mobile");
    // The Owners page through the navigation.
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Owners" }).click();
    await page.getByRole("heading", { name: "Owners", level: 1 }).waitFor();
    await page.getByRole("table", { name: /owners/i }).getByRole("row", { name: /alice/ }).waitFor();
    await shot(page, "admin-owners-mobile");
    await page.goto(`${url}/admin/owners/alice`);
    await page.getByRole("row", { name: /alice nightly/ }).waitFor();
    await shot(page, "admin-owner-keys-mobile");
    assertClean(problems, "admin session");
    await context.close();
  });
});

describe("single-operator mode", () => {
  let kg;
  let adminKey;

  before(async () => {
    const port = await freePort();
    kg = await startKeygate({ port, toml: "" });
    const banner = /kgadmin_[0-9A-Za-z]{43}/.exec(kg.output());
    assert.ok(banner, `keygate printed no admin key:\n${kg.output()}`);
    adminKey = banner[0];
  });

  test("log in with the admin key, manage a key, log out", { timeout: 120_000 }, async () => {
    const { url } = kg;
    const { page, context, problems } = await newPage(browser, { origin: url });
    await page.goto(`${url}/keys`);
    await page.waitForURL(`${url}/login`);
    await page.getByText("single-operator mode").waitFor();
    await page.getByLabel("Admin key").fill("kgadmin_not-the-key-at-all");
    await page.getByRole("button", { name: "Log in" }).click();
    await page.getByRole("alert").getByText("That is not the admin key").waitFor();
    await shot(page, "login-admin-key-desktop");
    await assertAccessibleEverywhere(page, "login page (admin key, refused)");
    // A failed login is a 401 by design; the browser logs it. Nothing else may appear.
    problems.splice(0, problems.length, ...problems.filter((p) => !/401/.test(p)));

    await page.getByLabel("Admin key").fill(adminKey);
    await page.getByRole("button", { name: "Log in" }).click();
    // Back where they were going (an admin who just opens the app lands on the overview).
    await page.waitForURL(`${url}/keys`);
    await page.getByTestId("whoami").locator(".badge-admin").waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.getItem("keygate.admin-key")), adminKey);
    assert.equal(await page.evaluate(() => localStorage.length), 0, "nothing in localStorage");

    // Dialogs from the keyboard: Enter opens one with the focus on its first field,
    // Escape closes it and the focus goes back to the button that opened it.
    const newKey = page.getByRole("button", { name: "New key" });
    await newKey.focus();
    await page.keyboard.press("Enter");
    const form = page.getByRole("dialog", { name: "New key" });
    await form.waitFor();
    assert.equal(await page.evaluate(() => document.activeElement?.getAttribute("placeholder")), "e.g. CI deploys");
    await page.keyboard.press("Escape");
    await form.waitFor({ state: "detached" });
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), "New key");

    // The create form refuses bad input next to the field.
    await newKey.click();
    await form.getByRole("button", { name: "Add a rule" }).click();
    await form.getByLabel("Hosts").fill("https://api.example.com");
    await form.getByLabel("Paths").fill("v1/*");
    await form.getByRole("button", { name: "Create key" }).click();
    await form.getByText(/fields? needs? attention/).waitFor();
    assert.match(await form.getByRole("alert").first().innerText(), /^3 fields need attention/);
    await form.getByText("without scheme, port or path").waitFor();
    await shot(page, "create-form-errors-desktop");
    await assertAccessibleEverywhere(page, "the create form with errors");
    await form.getByRole("button", { name: "Cancel" }).click();
    await form.waitFor({ state: "detached" });

    const { key, dialog } = await createKey(page, { name: "operator key" });
    assert.equal(await gate(url, key), 204);
    await page.setViewportSize({ width: 375, height: 812 });
    await shot(page, "create-one-time-key-mobile");
    await dialog.getByRole("button", { name: "I have saved the key" }).click();
    await page.getByRole("row", { name: /operator key/ }).waitFor();
    await shot(page, "my-keys-mobile");

    // Edit: disable the key; the gate refuses it at once.
    await page.getByRole("button", { name: "Actions for operator key" }).click();
    await page.getByRole("menuitem", { name: "Edit" }).click();
    const edit = page.getByRole("dialog", { name: "Edit “operator key”" });
    await edit.getByLabel(/Disabled/).check();
    await edit.getByRole("button", { name: "Save changes" }).click();
    await edit.waitFor({ state: "detached" });
    await page.getByRole("row", { name: /operator key/ }).getByText("Disabled").waitFor();
    assert.equal(await gate(url, key), 401);

    // Rotate with a grace period: a new key shown once, the old one still listed.
    await page.getByRole("button", { name: "Actions for operator key" }).click();
    await page.getByRole("menuitem", { name: "Edit" }).click();
    await edit.getByLabel(/Disabled/).uncheck();
    await edit.getByRole("button", { name: "Save changes" }).click();
    await edit.waitFor({ state: "detached" });
    await page.getByRole("button", { name: "Actions for operator key" }).click();
    await page.getByRole("menuitem", { name: "Rotate" }).click();
    const rot = page.getByRole("dialog", { name: "Rotate “operator key”" });
    await rot.getByText("The new key expires when this one does").waitFor();
    await assertAccessibleEverywhere(page, "the rotate dialog");
    await rot.getByLabel("How long the old key keeps working").selectOption("3600");
    await rot.getByRole("button", { name: "Rotate key" }).click();
    const shown = page.getByRole("dialog", { name: "Your new key" });
    const rotated = await shown.getByTestId("new-key").inputValue();
    assert.notEqual(rotated, key);
    await shown.getByText(/The old key .* keeps working until/).waitFor();
    await shown.getByRole("button", { name: "I have saved the key" }).click();
    assert.equal(await gate(url, rotated), 204);
    assert.equal(await gate(url, key), 204, "the old key works during its grace period");
    await page.setViewportSize({ width: 1440, height: 900 });
    await page.locator(".badge-rotating").first().waitFor();

    // A fuller list: rules, an expiry within a week (flagged), a key that never expires.
    for (const k of [
      { name: "CI deploys", paths: "/v1/*, /v2/*", methods: "GET, POST", expiry: "7d" },
      { name: "Grafana scraper", paths: "/metrics", methods: "GET", expiry: "never" },
    ]) {
      const made = await createKey(page, k);
      await made.dialog.getByRole("button", { name: "I have saved the key" }).click();
      await page.getByRole("row", { name: new RegExp(k.name) }).waitFor();
    }
    const ci = page.getByRole("row", { name: /CI deploys/ });
    await ci.locator(".warn").getByText("in 7 days").waitFor();
    await shot(page, "my-keys-several-desktop");

    // Dark theme follows the system setting.
    await page.emulateMedia({ colorScheme: "dark" });
    await shot(page, "my-keys-dark-desktop");
    const bg = await page.evaluate(() => getComputedStyle(document.documentElement).backgroundColor);
    assert.equal(bg, "rgb(17, 20, 24)");
    await page.emulateMedia({ colorScheme: "light" });

    // A credential the API no longer accepts sends you back to log in.
    await page.evaluate(() => sessionStorage.setItem("keygate.admin-key", "kgadmin_revoked"));
    await page.reload();
    await page.waitForURL(`${url}/login`);
    await page.getByText("Your session has ended").waitFor();
    problems.splice(0, problems.length, ...problems.filter((p) => !/401/.test(p)));

    await page.getByLabel("Admin key").fill(adminKey);
    await page.getByRole("button", { name: "Log in" }).click();
    await page.waitForURL(`${url}/keys`);
    await page.getByRole("button", { name: "Log out" }).click();
    await page.waitForURL(`${url}/login`);
    assert.equal(await page.evaluate(() => sessionStorage.getItem("keygate.admin-key")), null, "logout forgets the key");
    await page.goto(`${url}/keys`);
    await page.waitForURL(`${url}/login`);
    assertClean(problems, "single-operator session");
    await context.close();
  });
});

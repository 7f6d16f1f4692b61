// The key list with 500 keys, end to end: a real keygate, a real OIDC provider, Chromium.
// Alice logs in through the provider; the test makes her 500 keys through the REST API
// with her access token (the UI is for people, not for making 500 keys). Then: the list
// renders one page of rows, pages on, finds a key by a metadata value, keeps filter, sort
// and page across a reload, disables, enables and revokes keys in bulk (checked at the
// gate), links a rotation pair, and shows a use of a key without a reload. An admin's
// overview asks keygate for the stale keys (by keygate's clock, which cannot be moved:
// keys made a minute ago are not stale there), while an owner's list badges and filters
// unused keys by the browser's, which runs 45 days ahead for that. axe-core checks
// every screen. Screenshots go to e2e/artifacts/keys-500-*.png and admin-overview-*.png.
//
//   KEYGATE_BIN=path/to/keygate node --test --test-concurrency=1 e2e/list.test.mjs
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import path from "node:path";
import { assertAccessible } from "./axe.mjs";
import {
  accessToken,
  artifacts,
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

const dog = watchdog(600_000);
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

const KEYS = 500;
const TEAMS = ["payments", "search", "ops", "data", "web"];
const DAY = 86_400_000;
const name = (i) => `service ${String(i).padStart(3, "0")}`;

/** The viewport only (what the docs show), next to the full-page shots. */
async function view(page, name) {
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: path.join(artifacts, `${name}-view.png`) });
}

/** `job(i)` for 0..n-1, `width` at a time. */
async function pool(n, width, job) {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < n) await job(next++);
    }),
  );
}

describe("the key list with 500 keys", () => {
  let url;
  /** name → { id, key } */
  const made = new Map();
  const rows = (page) => page.locator("table.keys tbody tr");

  before(async () => {
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    const { issuer } = await startProvider(`${url}/`);
    await startKeygate({
      port,
      toml: `last_used_flush_secs = 1

[analytics]
flush_secs = 1

[oauth]
issuer_url = "${issuer}"
audiences = ["keygate"]

[frontend]
oidc_client_id = "keygate-ui"
oidc_scope = "openid profile api"
oidc_resource = "urn:keygate"
`,
    });
    for (let i = 0; i < 100; i++) {
      const r = await fetch(`${url}/api/me`, { headers: { Authorization: "Bearer a.b.c" } });
      if (r.status !== 503) break;
      await new Promise((r) => setTimeout(r, 100));
    }
  });

  /** The REST API as the page's user (the access token the UI holds). */
  async function api(page, path, init = {}) {
    const token = await accessToken(page);
    assert.ok(token, "no access token in the session");
    return fetch(`${url}${path}`, {
      ...init,
      headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json", ...init.headers },
    });
  }

  /** The list filtered to one key by its exact name (the filter is the URL's `q`). */
  async function only(page, keyName) {
    await page.getByLabel("Filter").fill(keyName);
    await page.getByText(/^1 of \d+ keys/).waitFor();
    return rows(page).first();
  }

  test("500 keys: one page of rows at a time, found by metadata, kept in the URL", { timeout: 240_000 }, async () => {
    const { page, context, problems } = await newPage(browser, { origin: url });
    await oidcLogin(page, url, "alice");
    await page.getByText("No keys yet.").waitFor();

    const started = Date.now();
    await pool(KEYS, 8, async (i) => {
      const r = await api(page, "/api/me/tokens", {
        method: "POST",
        body: JSON.stringify({
          name: name(i),
          rules: [{ hosts: ["api.example.com"], paths: ["/v1/*"] }],
          metadata: { team: TEAMS[i % TEAMS.length], ...(i === 321 ? { ticket: "OPS-4242" } : {}) },
        }),
      });
      if (r.status !== 201) assert.fail(`creating ${name(i)}: ${r.status} ${await r.text()}`);
      const c = await r.json();
      made.set(name(i), { id: c.id, key: c.key });
    });
    console.log(`made ${KEYS} keys through the API in ${Date.now() - started} ms`);
    // Some traffic, so the list has figures and sparklines: allowed and refused requests.
    for (let i = 490; i < KEYS; i++) {
      const { key } = made.get(name(i));
      for (let n = 0; n < (i % 4) + 1; n++) assert.equal(await gate(url, key), 204);
      if (i % 3 === 0) assert.equal(await gate(url, key, { uri: "/admin" }), 403);
    }

    // "Last used" is written within a flush (1 s here).
    for (const deadline = Date.now() + 15_000; ; ) {
      const t = await (await api(page, `/api/me/tokens/${made.get(name(KEYS - 1)).id}`)).json();
      if (t.last_used_at) break;
      assert.ok(Date.now() < deadline, "the last use was not written");
      await new Promise((r) => setTimeout(r, 200));
    }

    const shown = Date.now();
    await page.reload();
    await page.getByText(`${KEYS} keys, 1–50 shown`).waitFor();
    console.log(`the list of ${KEYS} keys was on screen ${Date.now() - shown} ms after the reload`);
    assert.equal(await rows(page).count(), 50, "one page of 50 rows in the document, not 500");
    // Recently used first: the keys with traffic on top, with their figures and sparklines.
    await page.getByLabel("Sort by").selectOption("last_used_at:desc");
    await rows(page).first().locator("svg.sparkline").waitFor();
    await assertAccessible(page, "the list of 500 keys");
    await shot(page, "keys-500-desktop-light");
    await view(page, "keys-500-desktop-light");

    // Page 2, from the pager; the URL says so.
    const pager = page.getByRole("navigation", { name: "Pages of keys" });
    const firstOnPage1 = await rows(page).first().locator(".key-name").innerText();
    await pager.getByRole("button", { name: "Next" }).click();
    await page.getByText(`${KEYS} keys, 51–100 shown`).waitFor();
    assert.equal(new URL(page.url()).searchParams.get("page"), "2");
    assert.equal(await rows(page).count(), 50);
    assert.notEqual(await rows(page).first().locator(".key-name").innerText(), firstOnPage1);
    await pager.getByLabel(/Page/).selectOption("10");
    await page.getByText(`${KEYS} keys, 451–500 shown`).waitFor();
    assert.ok(await pager.getByRole("button", { name: "Next" }).isDisabled());

    // A metadata value finds its key (and the filter starts again on page 1).
    await page.getByLabel("Filter").fill("OPS-4242");
    await page.getByText(`1 of ${KEYS} keys`).waitFor();
    assert.equal(await rows(page).count(), 1);
    assert.equal(await rows(page).first().locator(".key-name").innerText(), name(321));
    assert.match(await rows(page).first().innerText(), /ticket=OPS-4242/);
    assert.equal(new URL(page.url()).searchParams.get("page"), null);

    // Filter, sort and page survive a reload.
    await page.getByLabel("Filter").fill("team=search");
    await page.getByText(`100 of ${KEYS} keys, 1–50 shown`).waitFor();
    await page.getByLabel("Sort by").selectOption("name:asc");
    await pager.getByRole("button", { name: "Next" }).click();
    await page.getByText(`100 of ${KEYS} keys, 51–100 shown`).waitFor();
    assert.deepEqual(Object.fromEntries(new URL(page.url()).searchParams), { q: "team=search", sort: "name:asc", page: "2" });
    await page.reload();
    await page.getByText(`100 of ${KEYS} keys, 51–100 shown`).waitFor();
    assert.equal(await page.getByLabel("Filter").inputValue(), "team=search");
    assert.equal(await page.getByLabel("Sort by").inputValue(), "name:asc");
    // team=search is every fifth key from 1: the 51st of them is 251.
    assert.equal(await rows(page).first().locator(".key-name").innerText(), name(251));
    await assertAccessible(page, "the filtered list, page 2");
    assert.deepEqual(problems, []);
    await context.close();
  });

  test("bulk disable, enable and revoke, checked at the gate", { timeout: 120_000 }, async () => {
    const { page, context, problems } = await newPage(browser, { origin: url });
    await oidcLogin(page, url, "alice");
    await page.goto(`${url}/keys?q=team%3Ddata&sort=name:asc`);
    await page.getByText(`100 of ${KEYS} keys, 1–50 shown`).waitFor();
    // team=data: 3, 8, 13, 18, 23, …
    const three = [3, 8, 13].map(name);
    for (const n of three) await page.getByRole("checkbox", { name: `Select ${n}`, exact: true }).check();
    const bar = page.getByRole("group", { name: "Selected keys" });
    await bar.getByText("3 selected").waitFor();
    await bar.getByRole("button", { name: "Disable selected" }).click();
    let dialog = page.getByRole("dialog", { name: "Disable 3 keys?" });
    await dialog.waitFor();
    assert.deepEqual(
      (await dialog.getByRole("listitem").allInnerTexts()).map((t) => t.split(/\s/).slice(0, 2).join(" ")),
      three,
    );
    await assertAccessible(page, "the bulk confirmation");
    await shot(page, "keys-500-bulk-dialog");
    await dialog.getByRole("button", { name: "Disable 3 keys" }).click();
    await page.getByText("3 keys disabled.").waitFor();
    assert.equal(await dialog.count(), 0);
    // The toolbar that opened the dialog is gone: focus is on "Select all shown", not lost.
    await page.waitForFunction(() => document.activeElement?.closest(".select-all") !== null);
    for (const n of three) {
      await page.locator(`tr[data-key-id="${made.get(n).id}"]`).getByText("Disabled", { exact: true }).waitFor();
      assert.ok([401, 403].includes(await gate(url, made.get(n).key)), `${n} still works at the gate`);
    }
    assert.equal(await gate(url, made.get(name(18)).key), 204, "a key not selected stopped working");

    // Enable them again: select all shown on a page filtered to disabled keys.
    await page.getByLabel("Status").selectOption("disabled");
    await page.getByText(`3 of ${KEYS} keys`).waitFor();
    await page.getByRole("checkbox", { name: "Select all shown" }).check();
    await bar.getByRole("button", { name: "Enable selected" }).click();
    dialog = page.getByRole("dialog", { name: "Enable 3 keys?" });
    await dialog.getByRole("button", { name: "Enable 3 keys" }).click();
    await page.getByText("3 keys enabled.").waitFor();
    await page.getByText("No key matches.").waitFor();
    for (const n of three) assert.equal(await gate(url, made.get(n).key), 204, `${n} does not work again`);

    // Revoke two.
    await page.getByLabel("Status").selectOption("all");
    const two = [18, 23].map(name);
    for (const n of two) await page.getByRole("checkbox", { name: `Select ${n}`, exact: true }).check();
    await bar.getByRole("button", { name: "Revoke selected" }).click();
    dialog = page.getByRole("dialog", { name: "Revoke 2 keys?" });
    assert.match(await dialog.innerText(), /This cannot be undone/);
    await dialog.getByRole("button", { name: "Revoke 2 keys" }).click();
    await page.getByText("2 keys revoked.").waitFor();
    await page.getByText(`98 of ${KEYS - 2} keys`).waitFor();
    for (const n of two) {
      assert.equal(await page.locator(`tr[data-key-id="${made.get(n).id}"]`).count(), 0);
      assert.equal(await gate(url, made.get(n).key), 401, `${n} still works at the gate`);
    }
    await assertAccessible(page, "the list after the bulk changes");
    assert.deepEqual(problems, []);
    await context.close();
  });

  test("a rotation pair is linked, and its two keys have different names for assistive tech", { timeout: 60_000 }, async () => {
    const { page, context, problems } = await newPage(browser, { origin: url });
    await oidcLogin(page, url, "alice");
    const old = made.get(name(100));
    const r = await api(page, `/api/me/tokens/${old.id}/rotate`, {
      method: "POST",
      body: JSON.stringify({ grace_seconds: 86_400 }),
    });
    assert.equal(r.status, 201);
    const fresh = await r.json();
    await page.reload();
    await page.getByLabel("Filter").fill(name(100));
    await page.getByText(`2 of ${KEYS - 1} keys`).waitFor();
    const oldRow = page.locator(`tr[data-key-id="${old.id}"]`);
    const newRow = page.locator(`tr[data-key-id="${fresh.id}"]`);
    assert.match(await oldRow.innerText(), /replaced by service 100/);
    assert.match(await newRow.innerText(), /replaces service 100/);
    await oldRow.getByRole("button", { name: "Actions for service 100 (replaced, stops in 24 h)", exact: true }).waitFor();
    await newRow.getByRole("button", { name: "Actions for service 100 (new)", exact: true }).waitFor();
    await oldRow.getByRole("link", { name: "service 100 (replaced, stops in 24 h)", exact: true }).waitFor();
    await assertAccessible(page, "a rotation pair in the list");
    await shot(page, "keys-500-rotation");
    await view(page, "keys-500-rotation");
    // The old row links to its successor.
    await oldRow.getByRole("link", { name: "service 100 (new)", exact: true }).click();
    await page.waitForURL(`${url}/keys/${fresh.id}`);
    await page.getByRole("heading", { level: 1, name: /service 100/ }).waitFor();
    await page.goBack();
    await page.getByText(`2 of ${KEYS - 1} keys`).waitFor();
    assert.equal(await page.getByLabel("Filter").inputValue(), name(100));
    assert.deepEqual(problems, []);
    await context.close();
  });

  test("'last used' updates while the list stays open", { timeout: 90_000 }, async () => {
    const { page, context, problems } = await newPage(browser, { origin: url });
    await oidcLogin(page, url, "alice");
    const k = made.get(name(200));
    const row = await only(page, name(200));
    const used = row.locator('td[data-label="Last used"]');
    assert.match(await used.innerText(), /never/);
    assert.equal(await gate(url, k.key), 204);
    // No reload, no focus change: the list asks again by itself (every 30 s).
    await used.getByText(/just now|minute ago/).waitFor({ timeout: 45_000 });
    assert.doesNotMatch(await used.innerText(), /never/);
    assert.deepEqual(problems, []);
    await context.close();
  });

  for (const [width, colorScheme] of [
    [375, "light"],
    [1440, "dark"],
    [375, "dark"],
  ]) {
    test(`the list at ${width} px, ${colorScheme}`, { timeout: 60_000 }, async () => {
      const { page, context, problems } = await newPage(browser, {
        origin: url,
        width,
        height: width < 500 ? 812 : 900,
        colorScheme,
      });
      await oidcLogin(page, url, "alice");
      await page.goto(`${url}/keys?sort=last_used_at:desc`);
      await page.getByText(/^\d+ keys, 1–\d+ shown/).waitFor();
      await rows(page).first().locator("svg.sparkline").waitFor();
      const count = await rows(page).count();
      assert.ok(count <= (width < 500 ? 20 : 50), `${count} rows on one page`);
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow} px`);
      if (width < 500) {
        // A phone: a page is a few screens of cards.
        const screens = await page.evaluate(() => document.documentElement.scrollHeight / window.innerHeight);
        console.log(`${count} cards at 375 px: ${screens.toFixed(1)} screens`);
        assert.ok(screens < 10, `${screens.toFixed(1)} screens of cards`);
      }
      await assertAccessible(page, `the list at ${width} px, ${colorScheme}`);
      await shot(page, `keys-500-${width < 500 ? "mobile" : "desktop"}-${colorScheme}`);
      await view(page, `keys-500-${width < 500 ? "mobile" : "desktop"}-${colorScheme}`);
      assert.deepEqual(problems, []);
      await context.close();
    });
  }

  for (const width of [1440, 375]) {
    test(`an admin's overview asks keygate for stale keys; an owner's list badges them (browser 45 days ahead), ${width} px`, { timeout: 90_000 }, async () => {
      // Tall enough at 1440 px for the chart, the busiest keys and the stale keys.
      const { page, context, problems } = await newPage(browser, { origin: url, width, height: width < 500 ? 812 : 1500 });
      await page.clock.install({ time: Date.now() + 45 * DAY });
      const asked = [];
      page.on("request", (r) => {
        const u = new URL(r.url());
        if (u.pathname === "/api/tokens") asked.push(u.searchParams.get("q"));
      });
      // An admin lands on the overview.
      await oidcLogin(page, url, "admin-carol");
      assert.equal(page.url(), `${url}/admin`);
      // 90 days back from 45 days ahead: today's requests are in range.
      await page.getByRole("button", { name: "90d" }).click();
      await page.getByRole("region", { name: "Busiest keys" }).getByRole("link", { name: name(499) }).waitFor();
      const stale = page.getByRole("region", { name: "Stale keys" });
      // keygate's clock decides: every key was made (or used) today.
      await stale.getByText("No key unused for 30 days or more.").waitFor();
      assert.deepEqual([...new Set(asked)], ["unused:30d"], "one search, never every key");
      await page.locator(".usage-canvas canvas").first().waitFor();
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      assert.ok(overflow <= 0, `the overview scrolls sideways by ${overflow} px`);
      await assertAccessible(page, `the admin overview at ${width} px`);
      await shot(page, `admin-overview-${width < 500 ? "mobile" : "desktop"}-light`);
      await view(page, `admin-overview-${width < 500 ? "mobile" : "desktop"}-light`);

      if (width > 500) {
        // The owner's list filters and badges unused keys by the browser's clock.
        await page.goto(`${url}/admin/owners/alice?unused=30`);
        const all = KEYS - 2 + 1; // two revoked, one made by the rotation
        await page.getByText(`${all} keys, 1–50 shown`).waitFor();
        assert.equal(await page.getByLabel("Unused for").inputValue(), "30");
        assert.equal(await rows(page).filter({ hasText: /unused 45 d/ }).count(), 50);
        await page.getByLabel("Unused for").selectOption("90");
        await page.getByText("No key matches.").waitFor();
        await assertAccessible(page, "an owner's keys, none unused for 90 days");
      }
      assert.deepEqual(problems, []);
      await context.close();
    });
  }

  test("a short list, as the README shows it: a rotation pair, traffic, a disabled key, a close expiry", { timeout: 90_000 }, async () => {
    const { page, context, problems } = await newPage(browser, { origin: url });
    await oidcLogin(page, url, "dana");
    const make = async (body) => {
      const r = await api(page, "/api/me/tokens", { method: "POST", body: JSON.stringify(body) });
      assert.equal(r.status, 201);
      return r.json();
    };
    const billing = await make({ name: "billing export", metadata: { team: "finance" } });
    assert.equal((await api(page, `/api/me/tokens/${billing.id}`, { method: "PATCH", body: JSON.stringify({ disabled: true }) })).status, 200);
    const soon = new Date(Date.now() + 5 * DAY).toISOString().replace(/\.\d{3}Z$/, "Z");
    await make({ name: "nightly backup", expires_at: soon, rules: [{ paths: ["/backup/*"], methods: ["PUT"] }], metadata: { env: "prod" } });
    const search = await make({ name: "search indexer", rules: [{ hosts: ["api.example.com"], paths: ["/v1/search/*"] }] });
    const grafana = await make({ name: "Grafana scraper", rules: [{ paths: ["/metrics"], methods: ["GET"] }], metadata: { team: "sre" } });
    const ci = await make({ name: "CI deploys", rules: [{ paths: ["/v1/*"], methods: ["GET", "POST"] }], metadata: { team: "platform" } });
    const rotated = await api(page, `/api/me/tokens/${ci.id}/rotate`, { method: "POST", body: JSON.stringify({ grace_seconds: 86_400 }) });
    assert.equal(rotated.status, 201);
    for (let i = 0; i < 6; i++) assert.equal(await gate(url, grafana.key, { uri: "/metrics" }), 204);
    assert.equal(await gate(url, grafana.key, { uri: "/admin" }), 403);
    for (let i = 0; i < 3; i++) assert.equal(await gate(url, search.key, { uri: "/v1/search/q" }), 204);
    assert.ok([401, 403].includes(await gate(url, billing.key)), "a disabled key works");
    for (const deadline = Date.now() + 15_000; ; ) {
      const t = await (await api(page, `/api/me/tokens/${search.id}`)).json();
      if (t.last_used_at) break;
      assert.ok(Date.now() < deadline, "the last use was not written");
      await new Promise((r) => setTimeout(r, 200));
    }
    await page.reload();
    await page.getByText("6 keys").waitFor();
    await page.locator(`tr[data-key-id="${grafana.id}"] svg.sparkline`).waitFor();
    await page.getByRole("checkbox", { name: "Select billing export", exact: true }).check();
    await assertAccessible(page, "a short list");
    await view(page, "my-keys-desktop-light");
    for (const [width, height] of [[375, 812]]) {
      await page.setViewportSize({ width, height });
      await page.locator(`tr[data-key-id="${grafana.id}"] svg.sparkline`).waitFor();
      await assertAccessible(page, `a short list at ${width} px`);
      await view(page, "my-keys-mobile-light");
    }
    assert.deepEqual(problems, []);
    await context.close();
  });
});

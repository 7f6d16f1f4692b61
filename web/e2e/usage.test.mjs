// Usage analytics (issue 14) end to end, in single-operator mode (an admin): make a key,
// send requests through the gate with curl (some allowed, some outside its rules), wait
// for keygate to write its counts (flush every second here), then open the key's page
// from the list and read the figures in the chart's table. Screenshots of the key's page
// (light and dark, 1440 and 375 px) go to e2e/artifacts/usage-*.png.
//
//   npm run e2e          (KEYGATE_BIN=path/to/keygate to pick the binary)
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { assertAccessible } from "./axe.mjs";
import {
  assertAccessibleEverywhere,
  cleanup,
  freePort,
  launchChromium,
  newPage,
  requireTools,
  shot,
  startKeygate,
  watchdog,
} from "./harness.mjs";

const run = promisify(execFile);

const dog = watchdog(240_000);
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

/** The gate's status for a key and path, asked with curl as a proxy would. */
async function forwardAuth(url, key, uri) {
  const { stdout } = await run("curl", [
    "-s",
    "-o",
    "/dev/null",
    "-w",
    "%{http_code}",
    "-H",
    `Authorization: Bearer ${key}`,
    "-H",
    "X-Forwarded-Method: GET",
    "-H",
    "X-Forwarded-Host: api.example.com",
    "-H",
    `X-Forwarded-Uri: ${uri}`,
    `${url}/forward-auth`,
  ]);
  return Number(stdout);
}

const ALLOWED = 6;
const FORBIDDEN = 2;

describe("usage analytics", () => {
  let kg;
  let adminKey;
  let keyId;

  before(async () => {
    const port = await freePort();
    kg = await startKeygate({ port, toml: "[analytics]\nflush_secs = 1\n" });
    const banner = /kgadmin_[0-9A-Za-z]{43}/.exec(kg.output());
    assert.ok(banner, `keygate printed no admin key:\n${kg.output()}`);
    adminKey = banner[0];
  });

  /** Logged in with the admin key, on the list of my keys. */
  async function loggedIn(opts) {
    const { url } = kg;
    const p = await newPage(browser, { origin: url, ...opts });
    await p.page.goto(`${url}/login`);
    await p.page.getByLabel("Admin key").fill(adminKey);
    await p.page.getByRole("button", { name: "Log in" }).click();
    // An admin lands on the overview; their own keys are a link by their name.
    await p.page.waitForURL(`${url}/admin`);
    await p.page.getByRole("banner").getByRole("link", { name: "My keys" }).click();
    await p.page.waitForURL(`${url}/keys`);
    // The overview (its top lists link the same key twice) is gone once this shows.
    await p.page.getByRole("heading", { level: 1, name: "My keys" }).waitFor();
    return p;
  }

  /** The key's page, reached from the list (a reload of /keys/{id} needs the server to serve it). */
  async function keyPage(opts) {
    const p = await loggedIn(opts);
    await p.page.getByRole("link", { name: "reporting" }).click();
    await p.page.waitForURL(`${kg.url}/keys/${keyId}`);
    await p.page.getByRole("heading", { level: 1, name: /reporting/ }).waitFor();
    await p.page.locator(".usage-canvas canvas").first().waitFor();
    return p;
  }

  test("a key's requests show on its page, by outcome", { timeout: 120_000 }, async () => {
    const { url } = kg;
    const api = (path, init = {}) =>
      fetch(`${url}${path}`, { ...init, headers: { Authorization: `Bearer ${adminKey}`, "Content-Type": "application/json", ...init.headers } });
    const made = await api("/api/me/tokens", {
      method: "POST",
      body: JSON.stringify({ name: "reporting", rules: [{ hosts: ["api.example.com"], paths: ["/v1/*"] }], metadata: { team: "data" } }),
    });
    assert.equal(made.status, 201);
    const created = await made.json();
    keyId = created.id;

    for (let i = 0; i < ALLOWED; i++) assert.ok([200, 204].includes(await forwardAuth(url, created.key, "/v1/orders")));
    for (let i = 0; i < FORBIDDEN; i++) assert.equal(await forwardAuth(url, created.key, "/admin"), 403);

    // Written within a flush (1 s here).
    const deadline = Date.now() + 15_000;
    let totals;
    for (;;) {
      totals = (await (await api(`/api/me/tokens/${keyId}/usage`)).json()).totals;
      if (totals.allowed === ALLOWED && totals.forbidden === FORBIDDEN) break;
      assert.ok(Date.now() < deadline, `the counts were not written: ${JSON.stringify(totals)}`);
      await new Promise((r) => setTimeout(r, 250));
    }

    // The list: the key's last 24 h, with a sparkline.
    {
      const { page, context, problems } = await loggedIn({});
      const row = page.locator(`tr[data-key-id="${keyId}"]`);
      // Both figures in the narrow column, and the sparkline, named with them in words.
      await row.getByText(`${FORBIDDEN} of ${ALLOWED + FORBIDDEN} refused`).waitFor();
      await row.getByRole("img", { name: new RegExp(`^24 h: ${ALLOWED} allowed, ${FORBIDDEN} refused; peak \\d+/h$`) }).waitFor();
      await row.locator("svg.sparkline").waitFor();
      await shot(page, "usage-list-desktop-light");
      await assertAccessibleEverywhere(page, "my keys with usage");
      assert.deepEqual(problems, []);
      await context.close();
    }

    const { page, context, problems } = await keyPage({});
    const main = page.getByRole("main");
    assert.ok(await main.getByText(keyId, { exact: true }).isVisible());
    assert.ok(await main.getByRole("button", { name: "Copy id" }).isVisible());
    assert.match(await page.locator(".key-details").innerText(), /team\s*= data/);
    assert.ok(await page.getByRole("img", { name: new RegExp(`${ALLOWED + FORBIDDEN} requests: ${ALLOWED} allowed, ${FORBIDDEN} refused`) }).isVisible());

    await page.getByText("Show the figures as a table").click();
    const table = page.getByRole("table", { name: /Requests over the last 24 hours/ });
    await table.waitFor();
    const totalRow = table.getByRole("row", { name: /Total/ });
    const cells = await totalRow.getByRole("cell").allInnerTexts();
    assert.deepEqual(cells, [String(ALLOWED), String(FORBIDDEN), "0", "0", "0"]);
    // The range picker asks again, in minutes for an hour.
    await page.getByRole("button", { name: "1h" }).click();
    const hour = page.getByRole("table", { name: /Requests over the last 1 hour, by minute/ });
    await hour.waitFor();
    assert.deepEqual(await hour.getByRole("row", { name: /Total/ }).getByRole("cell").allInnerTexts(), [String(ALLOWED), String(FORBIDDEN), "0", "0", "0"]);
    await page.getByRole("button", { name: "24h" }).click();
    await table.waitFor();
    await shot(page, "usage-key-desktop-light");
    await assertAccessibleEverywhere(page, "a key's page");

    // Everyone's usage (admin): the key among the busiest, linked to its admin page.
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Overview" }).click();
    await page.waitForURL(`${url}/admin`);
    const top = page.getByRole("region", { name: "Busiest keys" });
    await top.getByRole("link", { name: "reporting" }).waitFor();
    const topRow = top.getByRole("row", { name: /reporting/ });
    // Requests, allowed, refused (its first line; each kind of refusal is listed under it).
    const topCells = (await topRow.getByRole("cell").allInnerTexts()).slice(2);
    assert.deepEqual(
      topCells.map((c) => c.split("\n")[0]),
      [String(ALLOWED + FORBIDDEN), String(ALLOWED), String(FORBIDDEN)],
    );
    assert.match(topCells[2] ?? "", new RegExp(`${FORBIDDEN} forbidden`));
    await page.locator(".usage-canvas canvas").first().waitFor();
    await shot(page, "usage-admin-desktop-light");
    await assertAccessibleEverywhere(page, "everyone's usage");
    await top.getByRole("link", { name: "reporting" }).click();
    await page.waitForURL(`${url}/admin/keys/${keyId}`);
    await page.getByRole("heading", { level: 1, name: /reporting/ }).waitFor();
    await page.getByRole("img", { name: new RegExp(`${ALLOWED + FORBIDDEN} requests`) }).waitFor();
    assert.deepEqual(problems, []);
    await context.close();
  });

  for (const [width, colorScheme] of [
    [1440, "dark"],
    [375, "light"],
    [375, "dark"],
  ]) {
    test(`the key's page at ${width} px, ${colorScheme}`, { timeout: 60_000 }, async () => {
      const { page, context, problems } = await keyPage({ width, height: width < 500 ? 800 : 900, colorScheme });
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow} px`);
      await shot(page, `usage-key-${width < 500 ? "mobile" : "desktop"}-${colorScheme}`);
      await assertAccessible(page, `a key's page (${width} px, ${colorScheme})`);
      if (width < 500 && colorScheme === "dark") {
        await page.getByRole("banner").getByRole("link", { name: "My keys" }).click();
        await page.locator("svg.sparkline").first().waitFor();
        await shot(page, "usage-list-mobile-dark");
        await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Overview" }).click();
        await page.getByRole("region", { name: "Busiest keys" }).getByRole("link", { name: "reporting" }).waitFor();
        await page.locator(".usage-canvas canvas").first().waitFor();
        const wide = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
        assert.ok(wide <= 0, `the overview scrolls sideways by ${wide} px`);
        await shot(page, "usage-admin-mobile-dark");
      }
      assert.deepEqual(problems, []);
      await context.close();
    });
  }
});

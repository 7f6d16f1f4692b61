// The operator's console's activity (issue 28) end to end, in single-operator mode (an
// admin): two owners' keys ask the gate — alice's only for what they may, bob's for
// what their rules forbid and with a disabled key — then the browser shows it where an
// operator looks: a key's page lists its last requests (method, path without its query
// string, outcome), the owners page sorted by refusals puts bob first with his counts,
// and the overview's "Most refused keys" names bob's key. keygate writes what it counts
// every second here. axe-core checks the key's page and the owners page in both themes
// at 1440 and 375 px. Screenshots go to e2e/artifacts/console-recent-{1440,375}.png,
// console-owners-{1440,375}.png and console-overview-refusals.png.
//
//   npm run e2e          (KEYGATE_BIN=path/to/keygate to pick the binary)
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  adminConsole,
  assertAccessibleEverywhere,
  cleanup,
  gate,
  launchChromium,
  newPage,
  requireTools,
  shot,
  until,
  watchdog,
} from "./harness.mjs";

const dog = watchdog(180_000);
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

describe("the console's activity", () => {
  let op;

  before(async () => {
    // An empty configuration but for the flush makes keygate print an admin key.
    op = await adminConsole({ toml: "[analytics]\nflush_secs = 1\n" });
  });

  test("recent requests, owners by refusals, the most refused keys", { timeout: 150_000 }, async () => {
    const { url } = op.kg;
    const { api } = op;
    const make = async (owner, name, rules = []) => {
      const r = await api(`/api/users/${owner}/tokens`, "POST", { name, expires_at: null, rules, metadata: {} });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      return r.body;
    };

    // alice: busy, never refused. bob: a scraper outside its rules, and a disabled key.
    const reporting = await make("alice", "reporting");
    const scraper = await make("bob", "scraper", [{ hosts: [], paths: ["/v1/*"], methods: [] }]);
    const cron = await make("bob", "old cron");
    const off = await api(`/api/users/bob/tokens/${cron.id}`, "PATCH", { disabled: true });
    assert.equal(off.status, 200, JSON.stringify(off.body));

    for (let i = 0; i < 6; i++) assert.equal(await gate(url, reporting.key, { uri: `/v1/reports/${i}` }), 204);
    assert.equal(await gate(url, scraper.key, { uri: "/v1/items?page=2&token=s3cret" }), 204);
    for (let i = 0; i < 3; i++) assert.equal(await gate(url, scraper.key, { method: "DELETE", uri: "/admin/users" }), 403);
    assert.equal(await gate(url, cron.key, { uri: "/v1/nightly" }), 401);

    // Written within a flush (1 s here): the recent requests, and the counts by owner.
    await until(async () => (await api(`/api/tokens/${scraper.id}/recent`)).body.requests.length === 4, "scraper's 4 requests kept");
    await until(async () => {
      const owners = (await api("/api/users?sort=refusals")).body.owners;
      return owners[0]?.owner === "bob" && owners[0].activity?.refusals === 4 && owners[1]?.activity?.requests === 6;
    }, "bob first by refusals (4), alice with 6 requests");

    const { page, problems } = await newPage(browser, { origin: url });
    await op.login(page);

    // The scraper's page: its four requests, newest first; the query string never shown.
    await page.goto(`${url}/admin/keys/${encodeURIComponent(scraper.id)}`);
    const panel = page.getByRole("region", { name: "Recent requests" });
    const table = panel.getByRole("table", { name: "Recent requests with this key, newest first" });
    await table.waitFor();
    await panel.getByText("The last 4 requests, newest first").waitFor();
    const rows = table.locator("tbody tr");
    assert.equal(await rows.count(), 4);
    const cells = async (i) => (await rows.nth(i).locator("td").allInnerTexts()).map((t) => t.trim());
    const newest = await cells(0);
    assert.deepEqual(newest.slice(1, 5), ["Forbidden", "DELETE", "api.example.com", "/admin/users"]);
    assert.match(newest[0], /^\d{1,2}:\d{2}:\d{2}/);
    const oldest = await cells(3);
    assert.deepEqual(oldest.slice(1, 5), ["Allowed", "GET", "api.example.com", "/v1/items"]);
    assert.equal(await rows.nth(3).locator("td.recent-path code").getAttribute("title"), "/v1/items");
    const text = await panel.innerText();
    assert.ok(!text.includes("s3cret") && !text.includes("page=2"), `a query string is on screen:\n${text}`);
    // A refusal looks like one: the danger colour, not the allowed green.
    const colour = (i) => rows.nth(i).locator(".outcome").evaluate((el) => getComputedStyle(el).color);
    assert.notEqual(await colour(0), await colour(3));
    await shot(page, "console-recent-1440");
    await assertAccessibleEverywhere(page, "a key's page with its recent requests");
    await page.setViewportSize({ width: 375, height: 812 });
    // The stacked list fits the phone: nothing scrolls sideways.
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `the key's page is ${overflow} px wider than the phone`);
    await shot(page, "console-recent-375");
    await page.setViewportSize({ width: 1440, height: 900 });

    // The disabled key's page: a refusal of its own kind.
    await page.goto(`${url}/admin/keys/${encodeURIComponent(cron.id)}`);
    const cronRow = page.getByRole("region", { name: "Recent requests" }).locator("tbody tr");
    await cronRow.first().waitFor();
    assert.deepEqual((await cronRow.first().locator("td").allInnerTexts()).slice(1, 5), ["Refused", "GET", "api.example.com", "/v1/nightly"]);

    // The owners page, sorted by refusals (in the URL): bob first, with his counts.
    await page.goto(`${url}/admin/owners`);
    await page.getByRole("link", { name: "alice" }).waitFor();
    const owners = () => page.locator("table.owners-activity tbody tr td:first-child").allInnerTexts();
    assert.deepEqual(await owners(), ["alice", "bob"]);
    await page.getByLabel("Sort by").selectOption("refusals");
    await page.waitForURL(`${url}/admin/owners?sort=refusals`);
    await until(async () => JSON.stringify(await owners()) === '["bob","alice"]', "bob first by refusals");
    const figures = async (owner) =>
      (await page.locator("table.owners-activity tbody tr", { has: page.getByRole("link", { name: owner, exact: true }) }).locator("td").allInnerTexts()).slice(1, 4);
    // bob: 2 keys, 5 requests of which 4 refused (80%); alice: 1 key, 6 requests, none refused.
    assert.deepEqual(await figures("bob"), ["2", "5", "4 (80%)"]);
    assert.deepEqual(await figures("alice"), ["1", "6", "0"]);
    assert.equal(
      await page.getByRole("columnheader", { name: /Refused \(24\sh\)/ }).getAttribute("aria-sort"),
      "descending",
    );
    await shot(page, "console-owners-1440");
    await assertAccessibleEverywhere(page, "the owners page sorted by refusals");
    await page.setViewportSize({ width: 375, height: 812 });
    const ownersOverflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(ownersOverflow <= 0, `the owners page is ${ownersOverflow} px wider than the phone`);
    await shot(page, "console-owners-375");
    await page.setViewportSize({ width: 1440, height: 900 });

    // The overview: the scraper tops "Most refused keys", each kind of refusal apart.
    await page.goto(`${url}/admin`);
    const refused = page.getByRole("region", { name: "Most refused keys" });
    await refused.getByRole("link", { name: "scraper" }).waitFor();
    const top = refused.locator("tbody tr").first();
    assert.equal(await top.locator("td").first().innerText(), "scraper");
    await top.getByText("3 forbidden").waitFor();
    const refusedOwners = page.getByRole("region", { name: "Most refused owners" });
    assert.equal(await refusedOwners.locator("tbody tr").first().locator("td").first().innerText(), "bob");
    await refusedOwners.getByText("1 refused").waitFor();
    // alice was never refused: busy, but not among the refused.
    assert.equal(await page.getByRole("region", { name: "Busiest owners" }).locator("tbody tr").first().locator("td").first().innerText(), "alice");
    assert.equal(await refusedOwners.getByRole("link", { name: "alice" }).count(), 0);
    await shot(page, "console-overview-refusals");

    assert.deepEqual(problems, [], `the page reported problems:\n${problems.join("\n")}`);
  });
});

// The operator's console (issue 28) as an admin uses it, in single-operator mode: they
// land on the overview; the top bar's sections (Overview · Keys · Owners · Audit log ·
// Docs) mark where they are; every key is one list with its owner, searched on the
// server with the search in the URL, and "New key" there asks whose key it is; the top
// bar's search opens the one key it finds (or lists them), and a whole key pasted into
// it never leaves the browser; the overview's stale keys come from the server; a key's
// page shows the limits its owner's keys share and says when they refuse it; a login
// from an address that failed too often counts down; and when keygate stops answering,
// one banner says since when the screen is, and goes once keygate is back. axe-core
// checks each page in both themes at 1440 and 375 px. Screenshots go to
// e2e/artifacts/console-{overview,keys,search,banner}-{1440,375}.png.
//
//   npm run e2e          (KEYGATE_BIN=path/to/keygate to pick the binary)
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import {
  adminConsole,
  assertAccessibleEverywhere,
  cleanup,
  gate,
  keygateBin,
  launchChromium,
  newPage,
  requireTools,
  shot,
  until,
  watchdog,
} from "./harness.mjs";

const dog = watchdog(300_000);
let browser;
/** keygate restarted by the banner's test: not the harness's, so stopped here. */
let restarted;

before(async () => {
  requireTools();
  browser = await launchChromium();
});

after(async () => {
  await browser?.close().catch(() => undefined);
  if (restarted && restarted.exitCode === null) restarted.kill("SIGKILL");
  cleanup();
  clearTimeout(dog);
});

/** keygate in single-operator mode (harness.mjs's adminConsole), and a way to make keys. */
async function operator(toml = "") {
  const op = await adminConsole({ toml });
  const make = async (owner, name, metadata = {}) => {
    const r = await op.api(owner === "me" ? "/api/me/tokens" : `/api/users/${owner}/tokens`, "POST", {
      name,
      expires_at: null,
      rules: [],
      metadata,
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return r.body;
  };
  return { ...op, make };
}

/** A browser page logged in with the admin key: it lands on the overview. */
async function login(op, options = {}) {
  const p = await newPage(browser, { origin: op.kg.url, ...options });
  await op.login(p.page);
  await p.page.getByRole("heading", { level: 1, name: "Overview" }).waitFor();
  return p;
}

/** The main navigation's links that say they are the current page. */
const current = (page) =>
  page.getByRole("navigation", { name: "Main" }).locator('a[aria-current="page"]').allInnerTexts();

/** Waits until the navigation marks `labels` (and nothing else) as the current page. */
async function marked(page, labels) {
  await until(async () => JSON.stringify(await current(page)) === JSON.stringify(labels), `the navigation marks ${labels}`);
}

/** Both widths, for the screenshots: `name`-1440 and `name`-375. */
async function shots(page, name) {
  const size = page.viewportSize();
  await shot(page, `${name}-1440`);
  await page.setViewportSize({ width: 375, height: 812 });
  await shot(page, `${name}-375`);
  await page.setViewportSize(size);
}

describe("the operator's console", () => {
  let op;
  let keys;

  before(async () => {
    op = await operator();
    keys = {
      checkout: await op.make("alice", "prod checkout", { team: "payments" }),
      staging: await op.make("alice", "staging checkout", { team: "payments" }),
      search: await op.make("alice", "prod search", { team: "search" }),
      reports: await op.make("bob", "nightly reports", { team: "data" }),
      mine: await op.make("me", "operator's own"),
    };
  });

  test("an admin lands on the overview; the top bar's sections lead everywhere", { timeout: 120_000 }, async () => {
    const { url } = op.kg;
    const stale = [];
    const { page, context, problems } = await newPage(browser, { origin: url });
    page.on("request", (r) => {
      const u = new URL(r.url());
      if (u.pathname === "/api/tokens" && u.searchParams.has("q")) stale.push(u.search);
    });
    await op.login(page);
    await page.getByRole("heading", { level: 1, name: "Overview" }).waitFor();
    await marked(page, ["Overview"]);
    const nav = page.getByRole("navigation", { name: "Main" });
    assert.deepEqual(await nav.getByRole("link").allInnerTexts(), ["Overview", "Keys", "Owners", "Audit log", "Docs"]);

    // The stale keys are keygate's to find: one page of `unused:30d`, never every key.
    const section = page.getByRole("region", { name: "Stale keys" });
    await section.getByText("No key unused for 30 days or more.").waitFor();
    assert.ok(stale.some((s) => /[?&]q=unused%3A30d/.test(s) && /[?&]limit=100\b/.test(s)), stale.join("\n"));
    await section.getByLabel("Unused for").selectOption("7");
    await until(() => stale.some((s) => s.includes("q=unused%3A7d")), "the overview asks for unused:7d");
    await page.locator(".usage-canvas canvas").first().waitFor();
    await shots(page, "console-overview");
    await assertAccessibleEverywhere(page, "the overview");

    // Each section, marked as the current page; Roles and Webhooks from the Owners page.
    await nav.getByRole("link", { name: "Keys" }).click();
    await page.waitForURL(`${url}/admin/keys`);
    await marked(page, ["Keys"]);
    await nav.getByRole("link", { name: "Owners" }).click();
    await page.waitForURL(`${url}/admin/owners`);
    await page.getByRole("link", { name: "alice" }).first().waitFor();
    await page.getByRole("link", { name: "Roles" }).click();
    await page.waitForURL(`${url}/admin/roles`);
    await marked(page, ["Owners"]);
    await page.getByRole("link", { name: "Owners", exact: true }).last().click();
    await page.waitForURL(`${url}/admin/owners`);
    await page.getByRole("link", { name: "Webhooks" }).click();
    await page.waitForURL(`${url}/admin/webhooks`);
    await marked(page, ["Owners"]);
    await nav.getByRole("link", { name: "Audit log" }).click();
    await page.waitForURL(`${url}/admin/audit`);
    await page.getByRole("heading", { name: "Audit log" }).waitFor();
    await marked(page, ["Audit log"]);
    // The admin's own keys: by their name in the top bar.
    await page.getByRole("banner").getByRole("link", { name: "My keys" }).click();
    await page.waitForURL(`${url}/keys`);
    await page.getByRole("link", { name: "operator's own" }).waitFor();
    await marked(page, []);
    // The old addresses: the overview was /admin/usage; "/" is the overview for an admin.
    await page.goto(`${url}/admin/usage`);
    await page.waitForURL(`${url}/admin`);
    await page.goto(`${url}/`);
    await page.waitForURL(`${url}/admin`);
    await page.getByRole("heading", { level: 1, name: "Overview" }).waitFor();
    assert.deepEqual(problems, []);
    await context.close();
  });

  test("every key in one list, with its owner, searched on the server; a new key asks whose", { timeout: 120_000 }, async () => {
    const { page, context, problems } = await login(op);
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Keys" }).click();
    await page.getByRole("heading", { level: 1, name: "Keys" }).waitFor();
    const names = async () => JSON.stringify((await page.locator("table.keys .key-name").allInnerTexts()).sort());
    await until(async () => (await names()) === JSON.stringify(["nightly reports", "operator's own", "prod checkout", "prod search", "staging checkout"]), "every key is listed");
    const row = page.locator(`tr[data-key-id="${keys.reports.id}"]`);
    assert.equal(await row.getByRole("link", { name: "bob", exact: true }).getAttribute("href"), "/admin/owners/bob");

    // The server's search, in the URL; the funnel narrows it to one owner.
    const searched = page.waitForRequest((r) => new URL(r.url()).searchParams.get("q") === "team=payments");
    await page.getByLabel("Filter").fill("team=payments");
    await searched;
    await until(async () => (await names()) === JSON.stringify(["prod checkout", "staging checkout"]), "team=payments");
    assert.match(page.url(), /\/admin\/keys\?q=team%3Dpayments$/);
    await page.getByLabel("Filter").fill("checkout OR");
    await page.getByLabel("Filter").fill("");
    await until(async () => (await names()).includes("nightly reports"), "the whole list again");
    await row.getByRole("button", { name: "Show only bob’s keys" }).click();
    await until(async () => (await names()) === JSON.stringify(["nightly reports"]), "owner:bob");
    assert.match(page.url(), /\?q=owner%3Abob$/);
    await page.getByText("1 key found").waitFor();
    await shots(page, "console-keys");
    await assertAccessibleEverywhere(page, "every key, searched for one owner's");

    // "New key" asks whose it is; the key is made for them.
    await page.getByRole("button", { name: "New key" }).click();
    const ask = page.getByRole("dialog", { name: "New key: whose is it?" });
    await ask.getByLabel("Owner").fill("carol@example.com");
    await assertAccessibleEverywhere(page, "the owner question of a new key");
    await ask.getByRole("button", { name: "Continue" }).click();
    const form = page.getByRole("dialog", { name: "New key" });
    await form.getByLabel("Name", { exact: true }).fill("carol's first");
    await form.getByRole("button", { name: "Create key" }).click();
    const shown = page.getByRole("dialog", { name: "Your new key" });
    await shown.getByTestId("new-key").waitFor();
    await shown.getByRole("button", { name: "I have saved the key" }).click();
    const carol = await op.api("/api/users/carol%40example.com/tokens");
    assert.deepEqual(carol.body.tokens.map((t) => t.name), ["carol's first"]);
    assert.deepEqual(problems, []);
    await context.close();
  });

  test("the top bar's search opens the one key, lists several, and never sends a whole key", { timeout: 120_000 }, async () => {
    const { url } = op.kg;
    const { page, context, problems } = await login(op);
    const sent = [];
    page.on("request", (r) => sent.push(r.url()));
    const box = page.getByRole("search", { name: "Keys" }).getByLabel("Search keys");

    // "/" reaches it from anywhere but a field; one match opens the key.
    await page.keyboard.press("/");
    assert.ok(await box.evaluate((el) => el === document.activeElement), "/ focuses the search");
    await box.fill("nightly");
    await box.press("Enter");
    await page.waitForURL(`${url}/admin/keys/${keys.reports.id}`);
    await page.getByRole("heading", { level: 1, name: /nightly reports/ }).waitFor();
    await marked(page, ["Keys"]);

    // Several: every key, with the search.
    await box.fill("checkout");
    await box.press("Enter");
    await page.waitForURL(`${url}/admin/keys?q=checkout`);
    await page.getByText("2 keys found").waitFor();
    // None.
    await box.fill("no-such-key");
    await box.press("Enter");
    await page.waitForURL(`${url}/admin/keys?q=no-such-key`);
    await page.getByText("No key matches.").waitFor();

    // A whole key pasted in: its hint is searched for, and the key goes nowhere.
    const secret = keys.checkout.key;
    await box.fill(secret);
    await box.press("Enter");
    await page.waitForURL(`${url}/admin/keys/${keys.checkout.id}`);
    const note = page.getByRole("search").getByRole("status");
    await note.getByText(`only its hint, ${keys.checkout.hint}, was searched for`, { exact: false }).waitFor();
    assert.ok(!sent.some((u) => u.includes(secret) || decodeURIComponent(u).includes(secret)), "the key was sent");
    assert.ok(!page.url().includes(secret));
    assert.equal(await box.inputValue(), "");
    await shots(page, "console-search");
    await assertAccessibleEverywhere(page, "the search's note about a pasted key");

    // At 375 px the search is a row of its own, and works.
    await page.setViewportSize({ width: 375, height: 812 });
    assert.ok(await box.isVisible());
    const boxWidth = (await box.boundingBox()).width;
    assert.ok(boxWidth > 250, `the search is ${boxWidth} px wide at 375 px`);
    await box.fill("prod search");
    await box.press("Enter");
    await page.waitForURL(`${url}/admin/keys/${keys.search.id}`);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow} px`);
    assert.deepEqual(problems, []);
    await context.close();
  });

  test("a key's page shows the limits its owner's keys share, and that they refuse it", { timeout: 120_000 }, async () => {
    const { url } = op.kg;
    // bob's keys share 1 credit; one request spends it.
    const set = await op.api("/api/users/bob/limits", "PUT", { rate_limits: [], credits: { remaining: 1, refill: null } });
    assert.equal(set.status, 200, JSON.stringify(set.body));
    assert.equal(await gate(url, keys.reports.key), 204);
    assert.notEqual(await gate(url, keys.reports.key), 204);

    const { page, context, problems } = await login(op);
    await page.goto(`${url}/admin/keys/${keys.reports.id}`);
    const panel = page.getByRole("region", { name: "Limits shared by all of bob’s keys" });
    await panel.getByText("These shared credits are used up: they are what refuses this key now").waitFor();
    await panel.getByText("no credits left", { exact: false }).waitFor();
    assert.equal(await panel.getByRole("link", { name: "bob’s keys and limits" }).getAttribute("href"), "/admin/owners/bob");
    await assertAccessibleEverywhere(page, "a key refused by its owner's shared credits");
    await shot(page, "console-key-owner-limits-1440");

    // The admin's own key: their own shared limits (GET /api/me/limits), none here.
    await page.goto(`${url}/keys/${keys.mine.id}`);
    const mine = page.getByRole("region", { name: "Limits shared by all of your keys" });
    await mine.getByText("None: your keys are limited only by their own limits.").waitFor();
    assert.deepEqual(problems, []);
    await context.close();
  });
});

describe("a login from an address that failed too often", () => {
  test("counts down from Retry-After, with Log in off until then", { timeout: 90_000 }, async () => {
    const { kg } = await operator("[throttle]\nmax_failures = 2\nwindow_secs = 8\n");
    const { page, context, problems } = await newPage(browser, { origin: kg.url });
    await page.goto(`${kg.url}/login`);
    const button = page.getByRole("button", { name: "Log in" });
    const throttled = page.getByTestId("throttled");
    for (let i = 0; i < 4 && !(await throttled.isVisible()); i++) {
      await page.getByLabel("Admin key").fill(`kgadmin_wrong${i}`);
      await button.click();
      await until(async () => (await button.innerText()) === "Log in", "the attempt is answered");
    }
    assert.match(await throttled.innerText(), /^Too many attempts — try again in 0:0[1-8]\./);
    assert.equal(await page.getByRole("timer").count(), 1);
    await page.getByLabel("Admin key").fill("kgadmin_another");
    assert.ok(await button.isDisabled(), "Log in waits for the countdown");
    await assertAccessibleEverywhere(page, "the login page, throttled");
    await shot(page, "console-login-throttled-1440");
    await throttled.waitFor({ state: "detached", timeout: 12_000 });
    assert.ok(await button.isEnabled());
    // The browser reports the refusals (401, 429) it saw.
    assert.deepEqual(problems.filter((p) => !/status of (401|429)/.test(p)), []);
    await context.close();
  });
});

describe("when keygate stops answering", () => {
  test("one banner says since when the screen is, and goes once keygate is back", { timeout: 150_000 }, async () => {
    const solo = await operator();
    const { kg, make } = solo;
    await make("alice", "still here");
    const { page, context, problems } = await login(solo);
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Keys" }).click();
    await page.getByRole("link", { name: "still here" }).waitFor();
    const banner = page.getByTestId("connection");
    assert.equal(await banner.innerText(), "");

    // Stopped; the page asks again (as on coming back to the tab).
    const args = kg.child.spawnargs.slice(1);
    const config = args[args.indexOf("--config") + 1];
    const exited = new Promise((resolve) => kg.child.once("exit", resolve));
    kg.child.kill("SIGTERM");
    await exited;
    await page.evaluate(() => window.dispatchEvent(new Event("visibilitychange")));
    await banner.getByText("Cannot reach keygate").waitFor({ timeout: 60_000 });
    assert.match(
      await banner.innerText(),
      /^Cannot reach keygate — showing what was loaded at \d{1,2}:\d{2}:\d{2}( [AP]M)? \(\d+ s ago\)\./,
    );
    // The keys stay; the banner alone says it (no second notice from the list).
    assert.ok(await page.getByRole("link", { name: "still here" }).isVisible());
    assert.equal(await page.getByText("Could not refresh").count(), 0);
    await shots(page, "console-banner");
    await assertAccessibleEverywhere(page, "a page under the connection banner");

    // Back, on the same port with the same data: the banner goes by itself.
    restarted = spawn(keygateBin, args, { cwd: path.dirname(config), stdio: "ignore" });
    await until(async () => (await fetch(`${kg.url}/health`).catch(() => null))?.ok === true, "keygate is back", 20_000);
    await banner.getByText("Cannot reach keygate").waitFor({ state: "detached", timeout: 30_000 });
    assert.equal(await banner.innerText(), "");
    // What the browser logged while keygate was away.
    assert.deepEqual(problems.filter((p) => !/ERR_CONNECTION_REFUSED|Failed to load resource/.test(p)), []);
    await context.close();
  });
});

// The operator's console's key table (issue 28) end to end, in single-operator mode (an
// admin), against 150 keys of one owner with long names, a long owner name, metadata,
// rules and limits, made through the API. At 1280 and 1440 px: rows at most 56 px tall,
// no sideways scrolling, the first row high on the screen; narrower, the table scrolls
// sideways with the names held at the left. The row menu by keyboard and by mouse;
// "Select all 150 matching" and one bulk disable of all of them (checked through the
// API); the new key's snippets aimed at the host its rule names (and the check snippet
// really answered 204); the outcome colours on a key's chart. axe-core checks the list
// and the key page in both themes at 1440 and 375 px. The figures measured are logged.
// Screenshots: e2e/artifacts/console-table-{1440,375}.png, console-colours-{light,dark}.png.
//
//   KEYGATE_BIN=path/to/keygate node --test e2e/console-table.test.mjs
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  adminConsole,
  assertAccessibleEverywhere,
  cleanup,
  launchChromium,
  newPage,
  requireTools,
  shot,
  until,
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

const KEYS = 150;
const OWNER = "payments-platform-service-account@finance-engineering.example.com";
const HOST = "payments-internal.api.example.com";
const name = (i) => `checkout-reconciliation-nightly-batch-exporter-${String(i).padStart(3, "0")}`;

/** `job(i)` for 0..n-1, `width` at a time. */
async function pool(n, width, job) {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < n) await job(next++);
    }),
  );
}

/** The table's figures as the browser lays it out now. */
function measure(page) {
  return page.evaluate(() => {
    const wrap = document.querySelector(".table-wrap");
    const rows = [...document.querySelectorAll("table.keys tbody tr")].map((r) => r.getBoundingClientRect().height);
    const first = document.querySelector("table.keys tbody tr")?.getBoundingClientRect();
    return {
      rows: rows.length,
      tallestRow: Math.max(...rows),
      shortestRow: Math.min(...rows),
      firstRowY: Math.round((first?.top ?? 0) + window.scrollY),
      scrollWidth: wrap?.scrollWidth ?? -1,
      clientWidth: wrap?.clientWidth ?? -1,
      pageScrollWidth: document.documentElement.scrollWidth,
      viewport: window.innerWidth,
      rowsOnFirstScreen: [...document.querySelectorAll("table.keys tbody tr")].filter(
        (r) => r.getBoundingClientRect().bottom + window.scrollY <= window.innerHeight,
      ).length,
    };
  });
}

describe("the console's key table", () => {
  let op;
  let kg;
  /** id → key of each made key, in order. */
  const made = [];

  before(async () => {
    op = await adminConsole({ toml: "last_used_flush_secs = 1\n\n[analytics]\nflush_secs = 1\n" });
    kg = op.kg;
  });

  const api = (path, method, body) => op.api(path, method, body);
  const ownerPath = `/api/users/${encodeURIComponent(OWNER)}/tokens`;

  /** What a proxy would ask the gate about a request with `key`. */
  const ask = async (key, { host = HOST, uri = "/v2/reconciliation/run", method = "POST" } = {}) =>
    (
      await fetch(`${kg.url}/forward-auth`, {
        headers: {
          Authorization: `Bearer ${key}`,
          "X-Forwarded-Method": method,
          "X-Forwarded-Host": host,
          "X-Forwarded-Uri": uri,
        },
      })
    ).status;

  test("150 keys: dense rows, no sideways scroll, a row menu, all 150 disabled at once", { timeout: 360_000 }, async () => {
    const started = Date.now();
    await pool(KEYS, 8, async (i) => {
      const r = await api(ownerPath, "POST", {
        name: name(i),
        expires_at: i % 7 === 0 ? new Date(Date.now() + 3 * 86_400_000).toISOString() : null,
        rules: [{ hosts: [HOST], paths: ["/v2/reconciliation/*"], methods: ["GET", "POST"] }],
        metadata: { team: "payments-reconciliation", environment: "production-eu-west-1", ticket: `FIN-${4000 + i}` },
        limits: {
          rate_limits: [
            { name: "per-minute", limit: 600, window: "1m" },
            { name: "per-hour", limit: 20000, window: "1h" },
          ],
          credits: { remaining: 1_000_000, refill: { amount: 1_000_000, interval: "monthly" } },
        },
      });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      made[i] = r.body;
    });
    console.log(`made ${KEYS} keys through the API in ${Date.now() - started} ms`);
    // Traffic for the sparklines: allowed and refused (a path the rule does not allow).
    for (const k of made.slice(-12)) {
      for (let j = 0; j < 6; j++) assert.equal(await ask(k.key), 204);
      assert.equal(await ask(k.key, { uri: "/admin" }), 403);
    }

    const { page, problems } = await newPage(browser, { origin: kg.url });
    await op.login(page);
    await page.goto(`${kg.url}/admin/owners/${encodeURIComponent(OWNER)}`);
    const rows = page.locator("table.keys tbody tr");
    await rows.first().waitFor();
    await page.getByText(`${KEYS} keys, 1–50 shown`).waitFor();
    // The newest keys were used: their sparklines are drawn, named in words.
    await page.getByRole("img", { name: /^24 h: 6 allowed, 1 refused; peak 7\/h$/ }).first().waitFor();

    // ---- 1440 and 1280 px: every row at most 56 px, the table no wider than its box.
    for (const width of [1440, 1280]) {
      await page.setViewportSize({ width, height: 900 });
      await page.evaluate(() => window.scrollTo(0, 0));
      const m = await measure(page);
      console.log(`key table at ${width} px: ${JSON.stringify(m)}`);
      assert.equal(m.rows, 50);
      assert.ok(m.tallestRow <= 56, `rows at most 56 px tall at ${width} px, the tallest is ${m.tallestRow}`);
      assert.ok(m.scrollWidth <= m.clientWidth, `no sideways scroll at ${width} px: ${m.scrollWidth} in ${m.clientWidth}`);
      assert.ok(m.pageScrollWidth <= width, `the page does not scroll sideways at ${width} px`);
      assert.ok(m.firstRowY < 450, `the first row starts at y=${m.firstRowY} at ${width} px`);
      // Every action of a row is in reach: its menu button is inside the box.
      const box = await page.locator(".table-wrap").boundingBox();
      const menu = await rows.first().getByRole("button", { name: /^Actions for / }).boundingBox();
      assert.ok(box && menu && menu.x + menu.width <= box.x + box.width, "the row menu is not cut off");
    }
    await page.setViewportSize({ width: 1440, height: 900 });
    await page.evaluate(() => window.scrollTo(0, 0));
    await shot(page, "console-table-1440");

    // ---- narrower: the table scrolls sideways, the names stay at the left.
    await page.setViewportSize({ width: 800, height: 900 });
    const wrap = page.locator(".table-wrap");
    const sideways = await wrap.evaluate((w) => ({ scroll: w.scrollWidth, client: w.clientWidth }));
    console.log(`key table at 800 px: scrollWidth ${sideways.scroll}, clientWidth ${sideways.client}`);
    assert.ok(sideways.scroll > sideways.client, "at 800 px the table scrolls sideways");
    const nameCell = rows.first().locator("td.name-cell");
    const expires = rows.first().locator('td[data-label="Expires"]');
    const before = { name: await nameCell.boundingBox(), expires: await expires.boundingBox() };
    const shift = sideways.scroll - sideways.client;
    await wrap.evaluate((w, by) => {
      w.scrollLeft = by;
    }, shift);
    const held = await nameCell.evaluate((td) => {
      const s = getComputedStyle(td);
      return { position: s.position, background: s.backgroundColor };
    });
    assert.equal(held.position, "sticky");
    assert.notEqual(held.background, "rgba(0, 0, 0, 0)", "the held name column is opaque");
    const scrolled = { name: await nameCell.boundingBox(), expires: await expires.boundingBox() };
    assert.ok(Math.abs(before.expires.x - shift - scrolled.expires.x) < 2, `the other columns moved ${shift} px to the left`);
    // (It pins to the box's edge, over the table's 1 px border that scrolls away.)
    assert.ok(Math.abs(scrolled.name.x - before.name.x) <= 1.5, "the name column stayed where it was");
    // Nothing shows through it: the point at its middle is the name cell's.
    const onTop = await nameCell.evaluate((td) => {
      const r = td.getBoundingClientRect();
      const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
      return td.contains(hit);
    });
    assert.ok(onTop, "the name column is drawn over the columns passing under it");
    await wrap.evaluate((w) => {
      w.scrollLeft = 0;
    });
    await page.setViewportSize({ width: 1440, height: 900 });

    // ---- the row menu by keyboard: open on the first item, move, Esc back on the button.
    const firstName = await rows.first().locator(".key-name").innerText();
    const button = rows.first().getByRole("button", { name: `Actions for ${firstName}` });
    assert.equal(await button.getAttribute("aria-haspopup"), "menu");
    await button.focus();
    await page.keyboard.press("Enter");
    const menu = page.getByRole("menu", { name: `Actions for ${firstName}` });
    await menu.waitFor();
    const focused = () => page.evaluate(() => document.activeElement?.textContent);
    assert.equal(await focused(), "Edit");
    await page.keyboard.press("ArrowDown");
    assert.equal(await focused(), "Rotate");
    await page.keyboard.press("ArrowUp");
    await page.keyboard.press("ArrowUp");
    assert.equal(await focused(), "Revoke", "the arrows wrap around");
    await page.keyboard.press("Escape");
    await menu.waitFor({ state: "detached" });
    assert.equal(await button.evaluate((b) => b === document.activeElement), true, "Esc gives focus back to the button");
    // Enter on an item runs it: the edit dialog, and focus back on the button when it closes.
    await page.keyboard.press("ArrowDown");
    await menu.waitFor();
    await page.keyboard.press("Enter");
    const edit = page.getByRole("dialog", { name: `Edit “${firstName}”` });
    await edit.waitFor();
    await page.keyboard.press("Escape");
    await edit.waitFor({ state: "detached" });
    assert.equal(await button.evaluate((b) => b === document.activeElement), true, "the dialog gives focus back");

    // ---- by mouse: it opens whole, on top, even on the last row of the screen; a click outside closes it.
    const last = rows.nth(9);
    await last.scrollIntoViewIfNeeded();
    await page.evaluate(() => window.scrollBy(0, 0));
    const lastName = await last.locator(".key-name").innerText();
    await last.getByRole("button", { name: `Actions for ${lastName}` }).click();
    const lastMenu = page.getByRole("menu", { name: `Actions for ${lastName}` });
    await lastMenu.waitFor();
    for (const item of ["Edit", "Rotate", "Disable", "Revoke"]) {
      const reachable = await lastMenu.getByRole("menuitem", { name: item }).evaluate((el) => {
        const r = el.getBoundingClientRect();
        const inView = r.top >= 0 && r.bottom <= window.innerHeight && r.left >= 0 && r.right <= window.innerWidth;
        return inView && el.contains(document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2));
      });
      assert.ok(reachable, `the menu's ${item} is in view and on top`);
    }
    await page.getByRole("heading", { level: 1 }).click();
    await lastMenu.waitFor({ state: "detached" });

    // ---- select all 150 matching, and disable them in one go.
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.getByRole("checkbox", { name: "Select all shown" }).check();
    const bar = page.getByRole("group", { name: "Selected keys" });
    await bar.getByText("50 selected").waitFor();
    await page.getByRole("button", { name: `Select all ${KEYS} matching` }).click();
    await bar.getByText(`${KEYS} selected`).waitFor();
    await page.getByText(`All ${KEYS} matching keys are selected.`).waitFor();
    await bar.getByRole("button", { name: "Disable selected" }).click();
    const confirm = page.getByRole("dialog", { name: `Disable ${KEYS} keys?` });
    await confirm.getByText(`… and ${KEYS - 50} keys more.`).waitFor();
    await confirm.getByRole("button", { name: `Disable ${KEYS} keys` }).click();
    await page.getByText(`${KEYS} keys disabled.`).waitFor({ timeout: 60_000 });
    const listed = (await api(`${ownerPath}?limit=500`)).body.tokens;
    assert.equal(listed.length, KEYS);
    assert.deepEqual(
      listed.filter((t) => !t.disabled).map((t) => t.name),
      [],
      "every one of the 150 keys is disabled",
    );
    await until(async () => (await page.locator("table.keys .badge-disabled").count()) === 50, "the list shows them disabled");

    // ---- a new key's snippets aim at the host its rule names; the check really answers 204.
    await page.getByRole("button", { name: "New key" }).click();
    const form = page.getByRole("dialog", { name: "New key" });
    await form.getByLabel("Name", { exact: true }).fill("snippet check");
    await form.getByLabel("Expires").selectOption("30d");
    await form.getByRole("button", { name: "Add a rule" }).click();
    await form.getByLabel("Hosts").fill(HOST);
    await form.getByLabel("Paths").fill("/v2/*");
    await form.getByRole("button", { name: "Create key" }).click();
    const shown = page.getByRole("dialog", { name: "Your new key" });
    await shown.waitFor();
    const key = await shown.getByTestId("new-key").inputValue();
    const service = await shown.getByTestId("service-snippet").innerText();
    const check = await shown.getByTestId("check-snippet").innerText();
    console.log(`snippets for a key limited to ${HOST}:\n${service}\n${check}`);
    assert.ok(service.includes(`https://${HOST}/v2/example`), service);
    assert.ok(!service.includes(new URL(kg.url).host), "the service snippet does not aim at keygate's own address");
    assert.ok(check.includes(`X-Forwarded-Host: ${HOST}`), check);
    assert.ok(check.includes(`${kg.url}/forward-auth`), "the check snippet asks keygate");
    assert.equal(await shown.getByTestId("host-blank").count(), 0);
    assert.equal(await ask(key, { uri: "/v2/example", method: "GET" }), 204, "the check snippet's request is let through");
    await shown.getByRole("button", { name: "I have saved the key" }).click();
    await shown.waitFor({ state: "detached" });

    // ---- the list in both themes at 1440 and 375 px, and as a phone shows it.
    await assertAccessibleEverywhere(page, "an owner's 150 keys, dense");
    await page.setViewportSize({ width: 375, height: 812 });
    await page.evaluate(() => window.scrollTo(0, 0));
    const phone = await page.evaluate(() => ({
      pageScrollWidth: document.documentElement.scrollWidth,
      cards: [...document.querySelectorAll("table.keys tbody tr")].slice(0, 5).map((r) => {
        const b = r.getBoundingClientRect();
        return { left: b.left, right: b.right, height: b.height };
      }),
    }));
    console.log(`key cards at 375 px: ${JSON.stringify(phone)}`);
    assert.ok(phone.pageScrollWidth <= 375, `the phone page does not scroll sideways (${phone.pageScrollWidth})`);
    for (const c of phone.cards) assert.ok(c.left >= 0 && c.right <= 375, "each card fits the phone's width");
    const phoneMenu = rows.first().getByRole("button", { name: /^Actions for / });
    await phoneMenu.click();
    await page.getByRole("menu").getByRole("menuitem", { name: "Revoke" }).waitFor();
    await shot(page, "console-table-375");
    await page.keyboard.press("Escape");
    await page.setViewportSize({ width: 1440, height: 900 });

    assert.deepEqual(problems, [], `the page reported problems: ${problems.join("\n")}`);
  });

  test("the outcome colours on a key's chart", { timeout: 120_000 }, async () => {
    // One key that saw every outcome: forbidden by its rule, allowed, rate limited, its
    // credits used up, and refused once disabled.
    const r = await api(ownerPath, "POST", {
      name: "every outcome",
      rules: [{ hosts: [HOST], paths: ["/v2/*"] }],
      metadata: {},
      limits: { rate_limits: [{ name: "burst", limit: 6, window: "1h" }], credits: { remaining: 100, refill: null } },
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const { id, key } = r.body;
    const outcomes = [];
    for (let i = 0; i < 8; i++) outcomes.push(await ask(key, { uri: "/nope" }));
    for (let i = 0; i < 10; i++) outcomes.push(await ask(key, { uri: "/v2/x" }));
    const spent = await api(`/api/tokens/${id}`, "PATCH", { limits: { rate_limits: [], credits: { remaining: 0 } } });
    assert.equal(spent.status, 200, JSON.stringify(spent.body));
    for (let i = 0; i < 5; i++) outcomes.push(await ask(key, { uri: "/v2/x" }));
    assert.equal((await api(`/api/tokens/${id}`, "PATCH", { disabled: true })).status, 200);
    for (let i = 0; i < 4; i++) outcomes.push(await ask(key, { uri: "/v2/x" }));
    console.log(`the gate's answers to "every outcome": ${outcomes.join(" ")}`);

    for (const colorScheme of ["light", "dark"]) {
      const { page, problems } = await newPage(browser, { origin: kg.url, colorScheme });
      await op.login(page);
      await page.goto(`${kg.url}/admin/keys/${encodeURIComponent(id)}`);
      const legend = page.getByRole("list", { name: "Totals by outcome" });
      const expected = /Allowed\s*6\b.*Forbidden\s*8\b.*Refused\s*4\b.*Rate limited\s*4\b.*Usage exceeded\s*5\b/s;
      await until(async () => expected.test(await legend.innerText().catch(() => "")), "the chart has every outcome");
      const totals = await legend.innerText();
      console.log(`the key's chart (${colorScheme}): ${totals.replace(/\s+/g, " ")}`);
      // The legend's swatches take the stylesheet's colours: refusals warm, each darker.
      const swatches = await page.evaluate(() =>
        [...document.querySelectorAll(".usage-legend .swatch")].map((s) => getComputedStyle(s).backgroundColor),
      );
      console.log(`swatches (${colorScheme}): ${swatches.join(" ")}`);
      assert.equal(new Set(swatches).size, 5, "five outcomes, five colours");
      await page.getByRole("img", { name: /stacked by outcome/ }).scrollIntoViewIfNeeded();
      await shot(page, `console-colours-${colorScheme}`);
      if (colorScheme === "light") await assertAccessibleEverywhere(page, "a key's page with every outcome");
      assert.deepEqual(problems, [], `the key page reported problems: ${problems.join("\n")}`);
      await page.context().close();
    }
  });
});

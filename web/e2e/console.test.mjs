// The admin console's key lists (issue 28) end to end, in single-operator mode (an
// admin): a key refused by its owner's shared credits says so, in the owner's list and
// on its page; the owner's list searches on the server (`q`), and says why it cannot
// read a search; an admin adds credits to a key from its page. axe-core checks both
// pages in both themes at 1440 and 375 px. Screenshots go to e2e/artifacts/console-*.png.
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

const dog = watchdog(120_000);
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

describe("the admin console", () => {
  let op;

  before(async () => {
    op = await adminConsole();
  });

  test("refused keys, the server's search, and adding credits", { timeout: 90_000 }, async () => {
    const { url } = op.kg;
    const { api } = op;
    const make = async (name, metadata, limits) => {
      const r = await api("/api/users/alice/tokens", "POST", {
        name,
        expires_at: null,
        rules: [],
        metadata,
        ...(limits ? { limits } : {}),
      });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      return r.body;
    };
    const prod = await make("prod checkout", { team: "payments" }, { rate_limits: [], credits: { remaining: 5, refill: null } });
    await make("staging checkout", { team: "payments" });
    await make("prod search", { team: "search" });

    // alice's keys share 1 credit; one request spends it: every key of hers is refused now.
    const limits = await api("/api/users/alice/limits", "PUT", { rate_limits: [], credits: { remaining: 1, refill: null } });
    assert.equal(limits.status, 200, JSON.stringify(limits.body));
    assert.equal(await gate(url, prod.key), 204);
    assert.notEqual(await gate(url, prod.key), 204, "the owner's credit is spent");
    const listed = (await api("/api/users/alice/tokens")).body.tokens;
    assert.deepEqual(
      listed.map((t) => [t.name, t.status, t.refused_now?.scope]).sort((a, b) => a[0].localeCompare(b[0])),
      [
        ["prod checkout", "active", "owner"],
        ["prod search", "active", "owner"],
        ["staging checkout", "active", "owner"],
      ],
    );
    const reason = "alice's shared credits are used up";

    const { page, problems } = await newPage(browser, { origin: url });
    await op.login(page);

    // The owner's list: "Refused" and why, in words, on an "active" key.
    await page.goto(`${url}/admin/owners/alice`);
    const row = page.locator(`tr[data-key-id="${prod.id}"]`);
    const status = row.locator('td[data-label="Status"]');
    await status.getByText(`— ${reason}`).waitFor();
    assert.match(await status.innerText(), /active\s*refused/i);

    // The search runs on the server: metadata exactly, and a word.
    const names = async () => JSON.stringify(await page.locator("table.keys .key-name").allInnerTexts());
    const searched = page.waitForRequest((r) => new URL(r.url()).searchParams.get("q") === "team=payments prod");
    await page.getByLabel("Filter").fill("team=payments prod");
    await searched;
    await until(async () => (await names()) === '["prod checkout"]', "the search finds prod checkout alone");
    await page.getByText("1 key found").waitFor();
    assert.match(page.url(), /\?q=team%3Dpayments\+prod$/);
    await shot(page, "console-owner-search-desktop");
    await assertAccessibleEverywhere(page, "an owner's keys, searched, with a refused key");

    // A search it cannot read: said under the box; the keys stay.
    await page.getByLabel("Filter").fill("status:bogus");
    await page.getByRole("alert").getByText("status:bogus: a status is one of active, disabled, expired, rotating").waitFor();
    assert.equal(await page.getByLabel("Filter").getAttribute("aria-invalid"), "true");
    await page.getByLabel("Filter").fill("refused:yes -prod");
    await until(async () => (await names()) === '["staging checkout"]', "refused:yes -prod finds staging checkout alone");
    await page.getByRole("alert").waitFor({ state: "detached" });

    // The key's page: a notice by its status, and "Add credits" (admin).
    await page.goto(`${url}/admin/keys/${encodeURIComponent(prod.id)}`);
    await page.getByTestId("refused-now").getByText(`Refused now — ${reason}.`).waitFor();
    const before = (await api(`/api/tokens/${prod.id}`)).body.limits.credits.remaining;
    const field = page.getByLabel("Credits to add");
    await field.fill("1000000000000000");
    await page.getByRole("button", { name: "Add credits" }).click();
    await page.getByText("the balance would be over").waitFor();
    assert.equal(await field.getAttribute("aria-invalid"), "true");
    await field.fill("10");
    await page.getByRole("button", { name: "Add credits" }).click();
    const left = before + 10;
    await page.getByRole("status").getByText(`Added 10 credits: ${left} credits left.`).waitFor();
    await page.getByTestId("key-limits").getByText(`${left} credits left`, { exact: true }).waitFor();
    assert.equal((await api(`/api/tokens/${prod.id}`)).body.limits.credits.remaining, left);
    // "Set balance" beside it, zero included: audited as the balance before and after.
    await page.getByLabel("New balance").fill("0");
    await page.getByRole("button", { name: "Set balance" }).click();
    await page.getByRole("status").getByText("Balance set to 0").waitFor();
    assert.equal((await api(`/api/tokens/${prod.id}`)).body.limits.credits.remaining, 0);
    const audited = (await api(`/api/audit?token_id=${prod.id}`)).body.events
      .flatMap((e) => e.changes ?? [])
      .find((c) => c.field === "credits.remaining" && c.to === "0");
    assert.deepEqual(audited, { field: "credits.remaining", from: String(left), to: "0" });
    await shot(page, "console-key-refused-desktop");
    await assertAccessibleEverywhere(page, "a refused key's page with Add credits");
    await page.setViewportSize({ width: 375, height: 812 });
    await shot(page, "console-key-refused-mobile");

    // The refused search (400) and the refused top-up (422), as the browser logs them.
    const expected = problems.filter((p) => /status of (400|422)/.test(p));
    assert.equal(expected.length, problems.length, `the page reported problems: ${problems.join("\n")}`);
  });
});

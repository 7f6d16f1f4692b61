// Usage limits (issue 13) end to end. In single-operator mode (an admin): make a key
// with a rate limit and credits in the UI, use it with curl until the gate refuses it, and see
// what is left in the list; edit its limits; set and reset an owner's limits. With an
// OIDC user who may not raise limits: the form says so, and shows the server's refusal.
// Screenshots go to e2e/artifacts/limits-*.png.
//
//   npm run e2e          (KEYGATE_BIN=path/to/keygate to pick the binary)
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  adminConsole,
  assertAccessibleEverywhere,
  cleanup,
  freePort,
  launchChromium,
  newPage,
  requireTools,
  shot,
  startKeygate,
  startProvider,
  watchdog,
} from "./harness.mjs";
import { execFile } from "node:child_process";
import { promisify } from "node:util";

const run = promisify(execFile);

const dog = watchdog(280_000);
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

/** The gate's whole answer to a key, asked with curl as a proxy (or a person) would. */
async function forwardAuth(url, key) {
  const { stdout } = await run("curl", [
    "-s",
    "-i",
    "-H",
    `Authorization: Bearer ${key}`,
    "-H",
    "X-Forwarded-Method: GET",
    "-H",
    "X-Forwarded-Host: api.example.com",
    "-H",
    "X-Forwarded-Uri: /v1/orders",
    `${url}/forward-auth`,
  ]);
  const split = stdout.indexOf("\r\n\r\n");
  const head = stdout.slice(0, split).split("\r\n");
  const text = stdout.slice(split + 4);
  const status = Number(head[0].split(" ")[1]);
  const fields = new Map(
    head.slice(1).map((l) => {
      const i = l.indexOf(":");
      return [l.slice(0, i).toLowerCase(), l.slice(i + 1).trim()];
    }),
  );
  let body;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = text;
  }
  return { status, body, headers: { get: (name) => fields.get(name.toLowerCase()) ?? null } };
}

describe("usage limits", () => {
  let kg;
  let adminKey;

  before(async () => {
    ({ kg, adminKey } = await adminConsole());
  });

  test("a key with a rate limit and credits is refused when over, and the list says what is left", { timeout: 150_000 }, async () => {
    const { url } = kg;
    const api = (path, init = {}) =>
      fetch(`${url}${path}`, { ...init, headers: { Authorization: `Bearer ${adminKey}`, "Content-Type": "application/json", ...init.headers } });
    const me = await (await api("/api/me")).json();
    assert.equal(me.may_raise_limits, true, "the admin may raise limits");

    const { page, context, problems } = await newPage(browser, { origin: url });
    await page.goto(`${url}/login`);
    await page.getByLabel("Admin key").fill(adminKey);
    await page.getByRole("button", { name: "Log in" }).click();
    await page.waitForURL(`${url}/admin`);
    await page.goto(`${url}/keys`);

    // Create: 3 requests a minute, 5 credits.
    await page.getByRole("button", { name: "New key" }).click();
    const form = page.getByRole("dialog", { name: "New key" });
    await form.getByLabel("Name", { exact: true }).fill("metered");
    await form.getByLabel("Expires").selectOption("never");
    const limits = form.getByRole("group", { name: "Limits" });
    assert.equal(await limits.getByText("only tighten").count(), 0, "an admin is not told to ask an admin");
    await limits.getByLabel(/Set limits for this key/).check();
    await limits.getByRole("button", { name: "Add a rate limit" }).click();
    await limits.getByLabel("Name, rate limit 1").fill("burst");
    await limits.getByLabel("Requests, rate limit 1").fill("3");
    await limits.getByLabel("Per window, rate limit 1").fill("1");
    await limits.getByLabel("Window unit, rate limit 1").selectOption("m");
    await limits.getByLabel(/Count credits/).check();
    await limits.getByLabel("Credits left").fill("5");
    await form.getByRole("button", { name: "Create key" }).scrollIntoViewIfNeeded();
    await shot(page, "limits-create-form-desktop");
    await assertAccessibleEverywhere(page, "the create form with limits");
    await form.getByRole("button", { name: "Create key" }).click();

    const shown = page.getByRole("dialog", { name: "Your new key" });
    await shown.waitFor();
    const key = await shown.getByTestId("new-key").inputValue();
    assert.match(key, /^kg_[0-9A-Za-z]{49}$/);
    await shown.getByRole("button", { name: "I have saved the key" }).click();
    await shown.waitFor({ state: "detached" });

    // The API has what the form said.
    const listed = (await (await api("/api/me/tokens")).json()).tokens.find((t) => t.name === "metered");
    assert.deepEqual(listed.limits, {
      rate_limits: [{ name: "burst", limit: 3, window: "1m" }],
      credits: { remaining: 5, refill: null },
    });

    // Use it until the gate says no: three times yes, then 429 rate_limited.
    const answers = [];
    for (let i = 0; i < 10; i++) {
      const a = await forwardAuth(url, key);
      answers.push(a);
      if (a.status !== 204) break;
    }
    assert.deepEqual(
      answers.map((a) => a.status),
      [204, 204, 204, 429],
      `the gate answered ${JSON.stringify(answers.map((a) => [a.status, a.body]))}`,
    );
    const refused = answers.at(-1);
    assert.equal(refused.body?.error, "rate_limited");
    assert.ok(refused.headers.get("retry-after"), "a 429 says when to retry");

    // The list: the limit, and the credits left (the server's count).
    const remaining = (await (await api("/api/me/tokens")).json()).tokens.find((t) => t.name === "metered").limits.credits
      .remaining;
    assert.ok(remaining <= 2, `three requests spent three credits (left: ${remaining})`);
    await page.reload();
    const row = page.getByRole("row", { name: /metered/ });
    await row.waitFor();
    const cell = row.locator('td[data-label="Limits"]');
    await cell.getByText("3/1m").waitFor();
    const left = remaining === 0 ? "no credits left" : `${remaining} ${remaining === 1 ? "credit" : "credits"} left`;
    await cell.getByText(left).waitFor();
    // A key without limits, for comparison.
    await page.getByRole("button", { name: "New key" }).click();
    await form.getByLabel("Name", { exact: true }).fill("free");
    await form.getByRole("button", { name: "Create key" }).click();
    await shown.getByRole("button", { name: "I have saved the key" }).click();
    await page.getByRole("row", { name: /free/ }).locator('td[data-label="Limits"]').getByText("unlimited").waitFor();
    await shot(page, "limits-my-keys-desktop");
    await assertAccessibleEverywhere(page, "my keys with limits");

    // Edit: the form shows the limits; raise the rate limit, add a daily refill; only
    // that is sent, and the key works again at once.
    await page.getByRole("button", { name: "Actions for metered" }).click();
    await page.getByRole("menuitem", { name: "Edit" }).click();
    const edit = page.getByRole("dialog", { name: "Edit “metered”" });
    const editLimits = edit.getByRole("group", { name: "Limits" });
    assert.equal(await editLimits.getByLabel("Requests, rate limit 1").inputValue(), "3");
    assert.equal(await editLimits.getByLabel("Credits left").inputValue(), String(remaining));
    await editLimits.getByLabel("Requests, rate limit 1").fill("100");
    await editLimits.getByLabel("Refill").selectOption("daily");
    await editLimits.getByLabel("Refill to").fill("1000");
    await edit.getByRole("button", { name: "Save changes" }).scrollIntoViewIfNeeded();
    await shot(page, "limits-edit-form-desktop");
    await assertAccessibleEverywhere(page, "the edit form with limits");
    const patched = page.waitForRequest((r) => r.method() === "PATCH");
    await edit.getByRole("button", { name: "Save changes" }).click();
    const sent = JSON.parse((await patched).postData() ?? "{}");
    assert.deepEqual(sent.limits, {
      rate_limits: [{ name: "burst", limit: 100, window: "1m" }],
      credits: { refill: { amount: 1000, interval: "daily" } },
    });
    await edit.waitFor({ state: "detached" });
    await row.locator('td[data-label="Limits"]').getByText("100/1m").waitFor();
    await row.locator('td[data-label="Limits"]').getByText(/refills 1\s?000 daily/).waitFor();
    if (remaining > 0) assert.equal((await forwardAuth(url, key)).status, 204, "under the raised limit again");

    await page.setViewportSize({ width: 375, height: 812 });
    await shot(page, "limits-my-keys-mobile");
    await page.setViewportSize({ width: 1440, height: 900 });

    // The owner's limits, as an admin: set them, see them, reset them.
    await page.goto(`${url}/admin/owners/${encodeURIComponent(me.subject)}`);
    const panel = page.getByRole("region", { name: `Limits shared by all of ${me.subject}’s keys` });
    await panel.waitFor();
    await panel.getByRole("button", { name: "Edit owner limits" }).click();
    const ownerForm = panel.getByRole("form", { name: `Limits of ${me.subject}` });
    const rows = await ownerForm.getByRole("button", { name: /Remove rate limit/ }).count();
    for (let i = rows; i > 0; i--) await ownerForm.getByRole("button", { name: `Remove rate limit ${i}` }).click();
    await ownerForm.getByRole("button", { name: "Add a rate limit" }).click();
    await ownerForm.getByLabel("Name, rate limit 1").fill("all-keys");
    await ownerForm.getByLabel("Requests, rate limit 1").fill("600");
    await ownerForm.getByLabel("Window unit, rate limit 1").selectOption("h");
    const credits = ownerForm.getByLabel(/Count credits/);
    if (await credits.isChecked()) await credits.uncheck();
    await ownerForm.getByRole("button", { name: "Save owner limits" }).click();
    await ownerForm.waitFor({ state: "detached" });
    await panel.getByText("600/1h").waitFor();
    await panel.getByText("own limits").waitFor();
    const ownerLimits = await (await api(`/api/users/${encodeURIComponent(me.subject)}/limits`)).json();
    assert.equal(ownerLimits.source, "owner");
    assert.deepEqual(ownerLimits.limits, { rate_limits: [{ name: "all-keys", limit: 600, window: "1h" }], credits: null });
    await shot(page, "limits-owner-panel-desktop");
    await assertAccessibleEverywhere(page, "an owner's limits");
    await panel.getByRole("button", { name: "Reset to the default" }).click();
    await panel.locator(".confirm-reset").getByRole("button", { name: "Reset to the default" }).click();
    await panel.getByText("600/1h").waitFor({ state: "detached" });
    const reset = await (await api(`/api/users/${encodeURIComponent(me.subject)}/limits`)).json();
    assert.notEqual(reset.source, "owner");

    assertClean(problems);
    await context.close();
  });
});

describe("a user who may not raise limits", () => {
  let url;

  before(async () => {
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    const { issuer } = await startProvider(`${url}/`);
    await startKeygate({
      port,
      toml: `[oauth]
issuer_url = "${issuer}"
audiences = ["keygate"]

[frontend]
oidc_client_id = "keygate-ui"
oidc_scope = "openid profile api"
oidc_resource = "urn:keygate"
`,
    });
    // The API answers 503 until keygate has the provider's keys.
    for (let i = 0; i < 100; i++) {
      const r = await fetch(`${url}/api/me`, { headers: { Authorization: "Bearer a.b.c" } });
      if (r.status !== 503) break;
      await new Promise((r) => setTimeout(r, 100));
    }
  });

  test("may tighten a key's limits, and is told so when trying to raise them", { timeout: 120_000 }, async () => {
    const { page, context, problems } = await newPage(browser, { origin: url });
    await page.goto(`${url}/`);
    await page.waitForURL(`${url}/login`);
    await page.getByRole("button", { name: "Log in with your organisation account" }).click();
    await page.waitForURL((u) => !u.href.startsWith(url));
    await page.locator('input[name="login"]').fill("dora");
    await page.locator('input[name="password"]').fill("any password works here");
    await page.locator('button[type="submit"]').click();
    const consent = page.getByRole("button", { name: "Continue" });
    await Promise.race([consent.waitFor(), page.waitForURL(`${url}/keys`)]);
    if (await consent.isVisible()) await consent.click();
    await page.waitForURL(`${url}/keys`);
    const token = await page.evaluate(() => {
      const entry = Object.entries(sessionStorage).find(([k]) => k.startsWith("oidc.user:"));
      return entry ? JSON.parse(entry[1]).access_token : null;
    });
    const me = await (await fetch(`${url}/api/me`, { headers: { Authorization: `Bearer ${token}` } })).json();
    assert.equal(me.may_raise_limits, false, "users may not raise limits by default");

    // A rate limit where there was none is a tightening: allowed.
    await page.getByRole("button", { name: "New key" }).click();
    const form = page.getByRole("dialog", { name: "New key" });
    await form.getByLabel("Name", { exact: true }).fill("dora's job");
    const limits = form.getByRole("group", { name: "Limits" });
    await limits.getByText("You can only tighten limits; ask an administrator to raise them.").waitFor();
    await limits.getByLabel(/Set limits for this key/).check();
    await limits.getByRole("button", { name: "Add a rate limit" }).click();
    await limits.getByLabel("Name, rate limit 1").fill("burst");
    await limits.getByLabel("Requests, rate limit 1").fill("3");
    await form.getByRole("button", { name: "Create key" }).click();
    const shown = page.getByRole("dialog", { name: "Your new key" });
    await shown.getByRole("button", { name: "I have saved the key" }).click();
    const row = page.getByRole("row", { name: /dora's job/ });
    await row.locator('td[data-label="Limits"]').getByText("3/1m").waitFor();

    // Raising it is refused, and the form says why, next to the limits.
    await page.getByRole("button", { name: "Actions for dora's job" }).click();
    await page.getByRole("menuitem", { name: "Edit" }).click();
    const edit = page.getByRole("dialog", { name: "Edit “dora's job”" });
    const editLimits = edit.getByRole("group", { name: "Limits" });
    await editLimits.getByLabel("Requests, rate limit 1").fill("100");
    await edit.getByRole("button", { name: "Save changes" }).click();
    await edit.getByText("keygate refused the limits: see “Limits” below.").waitFor();
    const refusal = editLimits.locator(".notice-error");
    await refusal.waitFor();
    assert.ok((await refusal.innerText()).trim().length > 0, "the server's message is shown");
    await editLimits.scrollIntoViewIfNeeded();
    await shot(page, "limits-locked-desktop");
    await assertAccessibleEverywhere(page, "limits that may only be tightened");
    // The refused PATCH is a 403 the browser logs; nothing else may appear.
    problems.splice(0, problems.length, ...problems.filter((p) => !/403/.test(p)));

    // Lowering it is fine.
    await editLimits.getByLabel("Requests, rate limit 1").fill("2");
    await edit.getByRole("button", { name: "Save changes" }).click();
    await edit.waitFor({ state: "detached" });
    await row.locator('td[data-label="Limits"]').getByText("2/1m").waitFor();
    assertClean(problems);
    await context.close();
  });
});

function assertClean(problems) {
  assert.deepEqual(problems, [], "the page reported problems");
}

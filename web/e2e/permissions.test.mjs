// Permissions and roles (issue 25) end to end, with a real keygate, the real OIDC
// provider and Chromium. An admin makes the role `docs-reader` (docs.read) on the Roles
// page and grants it to dora on her keys page. Dora's key form offers her that role
// and what it covers, and nothing wider; the server refuses a wider permission too,
// and the form shows its refusal. Her key's page lists docs.read from her role, and the
// gate agrees. Deleting the role in use takes it from her first, when asked.
// Screenshots go to e2e/artifacts/permissions-*.png (1440 and 375 px, light and dark).
//
//   node --test e2e/permissions.test.mjs     (KEYGATE_BIN=path/to/keygate; npm run e2e runs them all)
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  accessToken,
  assertAccessibleEverywhere,
  cleanup,
  freePort,
  launchChromium,
  newPage,
  oidcLogin,
  requireTools,
  shot,
  startKeygate,
  startProvider,
  watchdog,
} from "./harness.mjs";

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

/** No CSP violation, no script error; `expected` drops the refusals a step provoked on purpose. */
function assertClean(problems, where, expected = /$^/) {
  assert.deepEqual(
    problems.filter((p) => !expected.test(p)),
    [],
    `${where}: the page reported problems`,
  );
}

/** Screenshots at 1440 and 375 px, light and dark; the page is left as it was. */
async function shots(page, name) {
  const size = page.viewportSize();
  for (const [w, h, tag] of [
    [1440, 900, "desktop"],
    [375, 812, "mobile"],
  ]) {
    await page.setViewportSize({ width: w, height: h });
    for (const scheme of ["light", "dark"]) {
      await page.emulateMedia({ colorScheme: scheme });
      await shot(page, `permissions-${name}-${tag}-${scheme}`);
    }
  }
  await page.setViewportSize(size);
  await page.emulateMedia({ colorScheme: "light" });
}

describe("permissions and roles", () => {
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

  test("a role made and granted by an admin bounds what its owner attaches to keys", { timeout: 240_000 }, async () => {
    // ---- The admin: a role on the Roles page, granted to dora on her keys page.
    const admin = await newPage(browser, { origin: url });
    const ap = admin.page;
    await oidcLogin(ap, url, "admin-carol");
    const adminToken = await accessToken(ap);
    const asAdmin = (path, init = {}) =>
      fetch(`${url}${path}`, {
        ...init,
        headers: { Authorization: `Bearer ${adminToken}`, "Content-Type": "application/json", ...init.headers },
      });

    // Roles are reached from the Owners page.
    await ap.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Owners" }).click();
    await ap.waitForURL(`${url}/admin/owners`);
    await ap.getByRole("link", { name: "Roles" }).click();
    await ap.waitForURL(`${url}/admin/roles`);
    await ap.getByRole("heading", { name: "Roles", level: 1 }).waitFor();
    await ap.getByText("No roles yet.").waitFor();

    const newRole = async (name, description, permissions) => {
      await ap.getByRole("button", { name: "New role" }).click();
      const dialog = ap.getByRole("dialog", { name: "New role" });
      await dialog.getByLabel("Name", { exact: true }).fill(name);
      await dialog.getByLabel("Description").fill(description);
      for (const p of permissions) {
        await dialog.getByLabel("Add a permission").fill(p);
        await dialog.getByLabel("Add a permission").press("Enter");
      }
      return dialog;
    };
    // A name the server refuses shows next to the name; the typed permission is checked at once.
    let dialog = await newRole("docs-reader", "Reads the documentation", []);
    await dialog.getByLabel("Add a permission").fill("docs*");
    await dialog.getByLabel("Add a permission").press("Enter");
    await dialog.getByText("“docs*”: “*” stands alone between dots").waitFor();
    await dialog.getByLabel("Add a permission").fill("docs.read");
    await dialog.getByLabel("Add a permission").press("Enter");
    await dialog.getByRole("list", { name: "Permissions of this role" }).getByText("docs.read").waitFor();
    await shot(ap, "permissions-role-form-desktop-light");
    await assertAccessibleEverywhere(ap, "the new role form");
    await dialog.getByRole("button", { name: "Create role" }).click();
    await dialog.waitFor({ state: "detached" });
    dialog = await newRole("ops", "Deploys", ["ops.*"]);
    await dialog.getByRole("button", { name: "Create role" }).click();
    await dialog.waitFor({ state: "detached" });
    // The same name again: a 409, shown next to the name.
    dialog = await newRole("ops", "", []);
    await dialog.getByRole("button", { name: "Create role" }).click();
    const name = dialog.getByLabel("Name", { exact: true });
    await ap.waitForFunction((el) => el.getAttribute("aria-invalid") === "true", await name.elementHandle());
    await dialog.getByRole("button", { name: "Cancel" }).click();
    await dialog.waitFor({ state: "detached" });
    const roles = (await (await asAdmin("/api/roles")).json()).roles;
    assert.deepEqual(
      roles.map((r) => [r.name, r.description, r.permissions]),
      [
        ["docs-reader", "Reads the documentation", ["docs.read"]],
        ["ops", "Deploys", ["ops.*"]],
      ],
    );

    // Granted to dora, who has no keys yet: her page is opened by subject.
    await ap.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Owners" }).click();
    await ap.getByLabel("Keys of someone not listed (their subject)").fill("dora");
    await ap.getByRole("button", { name: "Open" }).click();
    await ap.waitForURL(`${url}/admin/owners/dora`);
    const panel = ap.getByRole("region", { name: "Roles of dora" });
    await panel.getByRole("button", { name: "Change roles" }).click();
    await panel.getByRole("checkbox", { name: "docs-reader" }).check();
    await shot(ap, "permissions-owner-roles-form-desktop-light");
    await assertAccessibleEverywhere(ap, "an owner's roles, being changed");
    await panel.getByRole("button", { name: "Save roles" }).click();
    await panel.getByRole("list", { name: "Roles of dora" }).getByText("docs-reader").waitFor();
    assert.deepEqual(await (await asAdmin("/api/users/dora/roles")).json(), { owner: "dora", roles: ["docs-reader"] });
    await shots(ap, "owner-roles");

    // The Roles page now says who holds it.
    await ap.goto(`${url}/admin/roles`);
    const row = ap.getByRole("row", { name: /docs-reader/ });
    await row.getByRole("link", { name: "dora" }).waitFor();
    await shots(ap, "roles-page");
    await assertAccessibleEverywhere(ap, "the Roles page");

    // ---- Dora: her key form offers her role and what it covers, nothing wider.
    const user = await newPage(browser, { origin: url });
    const up = user.page;
    await oidcLogin(up, url, "dora");
    const doraToken = await accessToken(up);
    const asDora = (path, body) =>
      fetch(`${url}${path}`, {
        method: "POST",
        headers: { Authorization: `Bearer ${doraToken}`, "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
    const grants = await (await fetch(`${url}/api/me/grants`, { headers: { Authorization: `Bearer ${doraToken}` } })).json();
    assert.equal(grants.any, false);
    assert.deepEqual(grants.roles.map((r) => r.name), ["docs-reader"]);
    assert.deepEqual(grants.permissions, ["docs.read"]);

    await up.getByRole("button", { name: "New key" }).click();
    const form = up.getByRole("dialog", { name: "New key" });
    await form.getByLabel("Name", { exact: true }).fill("docs bot");
    const perms = form.getByRole("group", { name: "Permissions" });
    const offered = perms.getByRole("group", { name: "Roles" }).getByRole("checkbox");
    await offered.first().waitFor();
    assert.equal(await offered.count(), 1, "only her own role is offered");
    await perms.getByRole("checkbox", { name: "docs-reader", exact: true }).waitFor();
    assert.ok(await perms.getByRole("checkbox", { name: "Also holds my roles (docs-reader)" }).isChecked());
    const add = perms.getByLabel("Add a permission");
    await add.fill("docs.write");
    await add.press("Enter");
    await perms.getByText("You may not attach “docs.write”: none of your roles’ permissions covers it (docs.read).").waitFor();
    assert.equal(await add.getAttribute("aria-invalid"), "true");
    await perms.scrollIntoViewIfNeeded();
    await shots(up, "key-form-refused");
    await assertAccessibleEverywhere(up, "the key form, a permission refused");

    // The server refuses what the form would not send: a wider permission, another's role.
    // (The contract said 400; the server answers 422 `invalid`, as it does for limits.)
    const wider = await asDora("/api/me/tokens", { name: "sneaky", permissions: ["docs.*"] });
    const widerBody = await wider.json();
    assert.equal(wider.status, 422, `a permission wider than her roles' is refused: ${JSON.stringify(widerBody)}`);
    assert.equal(widerBody.error, "invalid");
    assert.equal(widerBody.field, "permissions");
    assert.match(widerBody.message, /docs\.\*/);
    const otherRole = await asDora("/api/me/tokens", { name: "sneaky", roles: ["ops"] });
    const otherBody = await otherRole.json();
    assert.equal(otherRole.status, 422, `a role not granted to her is refused: ${JSON.stringify(otherBody)}`);
    assert.equal(otherBody.field, "roles");
    const mine = await (await fetch(`${url}/api/me/tokens`, { headers: { Authorization: `Bearer ${doraToken}` } })).json();
    assert.deepEqual(mine.tokens, [], "nothing was made");

    // A covered one is added; if the role narrows meanwhile, the server's refusal shows
    // next to the permissions.
    await add.fill("docs.read");
    await add.press("Enter");
    await perms.getByRole("list", { name: "Permissions of this key" }).getByText("docs.read").waitFor();
    const narrowed = await asAdmin("/api/roles/docs-reader", {
      method: "PATCH",
      body: JSON.stringify({ permissions: ["docs.list"] }),
    });
    assert.equal(narrowed.status, 200);
    await form.getByRole("button", { name: "Create key" }).click();
    await form.getByText("keygate refused the roles or permissions: see “Permissions” below.").waitFor();
    await up.waitForFunction((el) => el.getAttribute("aria-invalid") === "true", await add.elementHandle());
    const why = await up.evaluate(
      (el) => (el.getAttribute("aria-describedby") ?? "").split(" ").map((id) => document.getElementById(id)?.textContent).join(" "),
      await add.elementHandle(),
    );
    assert.match(why, /docs\.read/, `the refusal names the permission: ${why}`);
    await perms.scrollIntoViewIfNeeded();
    await shot(up, "permissions-key-form-server-refused-desktop-light");
    assert.equal(
      (await asAdmin("/api/roles/docs-reader", { method: "PATCH", body: JSON.stringify({ permissions: ["docs.read"] }) })).status,
      200,
    );
    // The key holds her role's permissions by inheriting it, and nothing of its own.
    await perms.getByRole("button", { name: "Remove docs.read" }).click();
    await form.getByRole("button", { name: "Create key" }).click();
    const shown = up.getByRole("dialog", { name: "Your new key" });
    const key = await shown.getByTestId("new-key").inputValue();
    await shown.getByRole("button", { name: "I have saved the key" }).click();
    await shown.waitFor({ state: "detached" });

    // Her key's page: docs.read, from her role.
    await up.getByRole("link", { name: "docs bot" }).click();
    await up.waitForURL(/\/keys\/[^/]+$/);
    const held = up.getByRole("region", { name: "Permissions" });
    const line = held.getByRole("row", { name: /docs\.read/ });
    await line.waitFor();
    assert.equal(await line.locator("[data-source]").getAttribute("data-source"), "owner-role:docs-reader");
    assert.equal((await line.locator("[data-source]").innerText()).trim(), "owner’s role docs-reader");
    await held.getByText("No roles; no permissions of its own; inherits its owner’s roles.").waitFor();
    await shots(up, "key-page");
    await assertAccessibleEverywhere(up, "a key's permissions");

    // The gate agrees.
    const verify = async (permissions) =>
      (await fetch(`${url}/verify`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ key, permissions }) })).json();
    const yes = await verify("docs.read");
    assert.equal(yes.valid, true, JSON.stringify(yes));
    const no = await verify("docs.read AND docs.write");
    assert.equal(no.valid, false);
    assert.equal(no.code, "insufficient_permissions");
    assert.deepEqual(no.missing, ["docs.write"]);

    // ---- The admin deletes the role in use: asked first, then taken from dora.
    await ap.goto(`${url}/admin/roles`);
    await ap.getByRole("button", { name: "Delete docs-reader" }).click();
    const confirm = ap.getByRole("dialog", { name: "Delete role docs-reader?" });
    await confirm.getByText("1 owner is granted this role.").waitFor();
    await confirm.getByRole("button", { name: "Delete role" }).click();
    const detach = confirm.getByRole("button", { name: "Remove it from 1 owner and delete" });
    await detach.waitFor();
    await shot(ap, "permissions-role-in-use-desktop-light");
    await assertAccessibleEverywhere(ap, "deleting a role in use");
    await detach.click();
    await confirm.waitFor({ state: "detached" });
    await ap.getByRole("row", { name: /docs-reader/ }).waitFor({ state: "detached" });
    assert.deepEqual((await (await asAdmin("/api/users/dora/roles")).json()).roles, []);

    // Dora's key holds nothing now, and says what that means.
    await up.reload();
    await held.getByText("This key holds no permissions.").waitFor();
    await held.getByText(/Routes that require permissions will refuse it/).waitFor();
    await shot(up, "permissions-key-page-none-desktop-light");
    assert.equal((await verify("docs.read")).valid, false);

    // The refusals provoked above are the only console errors.
    assertClean(user.problems, "dora's session", /status of 422/);
    assertClean(admin.problems, "the admin's session", /status of 409/);
    await user.context.close();
    await admin.context.close();
  });
});

// Webhooks end to end, with a real keygate (single-operator mode, the admin key), Chromium
// and a real receiver (tests/support/webhook_receiver.py, which checks every signature
// with the reference standardwebhooks library, not keygate's code). The admin adds an
// endpoint pointing at the receiver on the Webhooks page and gives the receiver the
// secret the UI shows once; a key created meanwhile is delivered, verified, and shown as
// delivered on the endpoint's page; "Send test event" and "Replay" deliver again; with
// the receiver failing, the 503 shows among the attempts and the endpoint is failing;
// a rotated secret is taken by the receiver. Another keygate, with the default address
// policy, refuses a cloud metadata URL, and the form shows why next to the URL.
// Every screen is checked with axe-core (light, dark, 1440 and 375 px); screenshots go to
// e2e/artifacts/webhooks-*.png.
//
//   KEYGATE_BIN=path/to/keygate node --test e2e/webhooks.test.mjs
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import path from "node:path";
import readline from "node:readline";
import { after, before, describe, test } from "node:test";
import {
  assertAccessibleEverywhere,
  cleanup,
  freePort,
  launchChromium,
  newPage,
  requireTools,
  root,
  shot,
  startKeygate,
  watchdog,
} from "./harness.mjs";

const dog = watchdog(120_000);
let browser;
let receiver;

before(async () => {
  requireTools();
  browser = await launchChromium();
});

after(async () => {
  await browser?.close().catch(() => undefined);
  if (receiver && receiver.exitCode === null) receiver.kill("SIGKILL");
  cleanup();
  clearTimeout(dog);
});
process.on("exit", () => {
  if (receiver && receiver.exitCode === null) receiver.kill("SIGKILL");
});

/** The receiver on loopback; resolves to its base URL once it printed its port. */
async function startReceiver() {
  receiver = spawn("python3", [path.join(root, "tests/support/webhook_receiver.py")], {
    cwd: root,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const stderr = [];
  receiver.stderr.on("data", (c) => stderr.push(String(c)));
  const lines = readline.createInterface({ input: receiver.stdout });
  const first = await Promise.race([
    new Promise((resolve) => lines.once("line", resolve)),
    new Promise((_, reject) => setTimeout(() => reject(new Error(`the receiver did not start: ${stderr.join("")}`)), 10_000)),
    new Promise((_, reject) =>
      receiver.once("exit", (code) => reject(new Error(`the receiver exited ${code}: ${stderr.join("")}`))),
    ),
  ]);
  return `http://127.0.0.1:${Number(first.trim())}`;
}

/** No CSP violation, no script error; `expected` drops the refusals a step provoked on purpose. */
function assertClean(problems, where, expected = /$^/) {
  assert.deepEqual(
    problems.filter((p) => !expected.test(p)),
    [],
    `${where}: the page reported problems`,
  );
}

/** Screenshots at 1440 and 375 px (light); the page is left as it was. */
async function shots(page, name) {
  const size = page.viewportSize();
  for (const [w, h, tag] of [
    [1440, 900, "desktop"],
    [375, 812, "mobile"],
  ]) {
    await page.setViewportSize({ width: w, height: h });
    await shot(page, `webhooks-${name}-${tag}`);
  }
  await page.setViewportSize(size);
}

/** Admin key of a keygate in single-operator mode, from its banner. */
function adminKeyOf(kg) {
  const banner = /kgadmin_[0-9A-Za-z]{43}/.exec(kg.output());
  assert.ok(banner, `keygate printed no admin key:\n${kg.output()}`);
  return banner[0];
}

describe("webhooks", () => {
  let kg;
  let strict;
  let adminKey;
  let strictKey;
  let hooks;

  before(async () => {
    const [port, strictPort, receiverUrl] = await Promise.all([freePort(), freePort(), startReceiver()]);
    hooks = receiverUrl;
    [kg, strict] = await Promise.all([
      // The receiver is on loopback: this keygate may send there, and retries after a second.
      startKeygate({ port, toml: `[events]\nallow_private_addresses = true\nretry_schedule = ["1s"]\n` }),
      // The default policy: loopback, private and link-local addresses are refused.
      startKeygate({ port: strictPort, toml: "" }),
    ]);
    adminKey = adminKeyOf(kg);
    strictKey = adminKeyOf(strict);
  });

  const control = async (body) => {
    const r = await fetch(`${hooks}/control`, { method: "POST", body: JSON.stringify(body) });
    assert.equal(r.status, 204);
  };
  const received = async () => (await fetch(`${hooks}/received`)).json();
  /** Waits until the receiver has a request `match` accepts; returns it. */
  async function receivedWhere(match, what) {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const got = (await received()).find(match);
      if (got) return got;
      if (Date.now() > deadline) throw new Error(`the receiver never got ${what}: ${JSON.stringify(await received())}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async function loggedIn(url, key) {
    const p = await newPage(browser, { origin: url });
    await p.page.goto(`${url}/login`);
    await p.page.getByLabel("Admin key").fill(key);
    await p.page.getByRole("button", { name: "Log in" }).click();
    // An admin lands on the overview.
    await p.page.waitForURL(`${url}/admin`);
    return p;
  }

  test("an endpoint added in the UI gets signed deliveries, shown with every attempt", { timeout: 100_000 }, async () => {
    const { url } = kg;
    const api = (p, init = {}) =>
      fetch(`${url}${p}`, { ...init, headers: { Authorization: `Bearer ${adminKey}`, "Content-Type": "application/json", ...init.headers } });
    const { page, context, problems } = await loggedIn(url, adminKey);

    // ---- The Webhooks page, linked from the Owners page.
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Owners" }).click();
    await page.getByRole("link", { name: "Webhooks" }).click();
    await page.waitForURL(`${url}/admin/webhooks`);
    await page.getByRole("heading", { name: "Webhooks", level: 1 }).waitFor();
    await page.getByText("No endpoints yet.").waitFor();

    // ---- A new endpoint: the receiver, key events only.
    await page.getByRole("button", { name: "New endpoint" }).click();
    const form = page.getByRole("dialog", { name: "New webhook endpoint" });
    const hookUrl = `${hooks}/keygate`;
    await form.getByLabel("URL").fill(hookUrl);
    await form.getByLabel("Description").fill("Mirror of key changes");
    await form.getByLabel(/Only the types ticked below/).check();
    // Nothing ticked yet: the form says so before sending.
    await form.getByRole("button", { name: "Create endpoint" }).click();
    await form.getByText("Tick at least one event type, or choose every event.").waitFor();
    await form.getByLabel(/Every key event/).check();
    assert.ok(await form.getByLabel("key.revoked").isChecked(), "the family ticks its types");
    assert.ok(await form.getByLabel("key.revoked").isDisabled());
    await form.getByLabel("webhook.test").check();
    await form.getByRole("radiogroup", { name: "Which events" }).evaluate((el) => el.scrollIntoView({ block: "start" }));
    await shot(page, "webhooks-form-desktop");
    await assertAccessibleEverywhere(page, "the new endpoint form");
    await form.getByRole("button", { name: "Create endpoint" }).click();

    // ---- The secret, shown once: to the receiver.
    const shown = page.getByRole("dialog", { name: "The endpoint’s signing secret" });
    await shown.getByText("Copy this secret now: you will not see it again.").waitFor();
    const secret = await shown.getByTestId("new-secret").inputValue();
    assert.match(secret, /^whsec_[A-Za-z0-9+/=]{40,}$/);
    await shown.getByRole("button", { name: "Copy secret" }).click();
    await shown.getByText("Copied", { exact: true }).waitFor();
    await shots(page, "secret");
    await assertAccessibleEverywhere(page, "the secret shown once");
    await control({ secrets: [secret], mode: "ok" });
    await shown.getByRole("button", { name: "I have saved the secret" }).click();
    await shown.waitFor({ state: "detached" });

    const row = page.getByRole("row", { name: new RegExp(hookUrl.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")) });
    await row.getByText("Active").waitFor();
    await row.getByText("all owners").waitFor();
    assert.deepEqual(await row.getByRole("list", { name: /Event types sent to/ }).getByRole("listitem").allInnerTexts(), [
      "key.*",
      "webhook.test",
    ]);
    await row.getByText(secret.slice(0, 10)).waitFor();
    await shots(page, "list");
    await assertAccessibleEverywhere(page, "the Webhooks page");
    const [endpoint] = (await (await api("/api/webhooks")).json()).endpoints;
    assert.equal(endpoint.url, hookUrl);
    assert.deepEqual(endpoint.event_types, ["key.*", "webhook.test"]);

    // ---- A key is made: key.created reaches the receiver, signed, and shows as delivered.
    const made = await api("/api/me/tokens", { method: "POST", body: JSON.stringify({ name: "hooked" }) });
    assert.equal(made.status, 201);
    const created = await receivedWhere((r) => r.body.includes('"key.created"'), "key.created");
    assert.equal(created.verified, true, `the reference library verified it: ${created.error}`);
    assert.equal(JSON.parse(created.body).data.key.name, "hooked");

    await page.getByRole("link", { name: hookUrl }).click();
    await page.waitForURL(`${url}/admin/webhooks/${endpoint.id}`);
    const deliveries = page.getByRole("region", { name: "Deliveries" });
    const keyCreated = deliveries.locator('tr[data-state="delivered"]', { hasText: "key.created" });
    await keyCreated.waitFor();
    await keyCreated.locator("code.status-code", { hasText: "200" }).waitFor();

    // ---- Test: a webhook.test delivery, verified.
    await page.getByRole("button", { name: "Send test event" }).click();
    await page.getByText(`Test event sent to ${hookUrl}.`).waitFor();
    await deliveries.locator('tr[data-state="delivered"]', { hasText: "webhook.test" }).waitFor();
    const tested = await receivedWhere((r) => r.body.includes('"webhook.test"'), "the test event");
    assert.equal(tested.verified, true);

    // ---- Replay: the same webhook-id again, marked as a replay among the attempts.
    await keyCreated.getByRole("button", { name: /^Replay key\.created/ }).click();
    await keyCreated.getByRole("cell", { name: /2 \(1 replay\)/ }).waitFor();
    const again = (await received()).filter((r) => r.id === created.id);
    assert.equal(again.length, 2, "delivered twice, with the same webhook-id");
    assert.ok(again.every((r) => r.verified));
    await keyCreated.getByRole("button", { name: /^Details of key\.created/ }).click();
    assert.match(page.url(), /\?delivery=/, "the open delivery is in the URL");
    const detail = deliveries.locator("tr.delivery-detail");
    const attempts = detail.getByRole("table");
    await attempts.locator("tbody tr").nth(1).waitFor();
    assert.equal(await attempts.locator("tbody tr").count(), 2);
    assert.equal((await attempts.locator("tbody tr").first().getByRole("cell").last().innerText()).trim(), "yes");
    await detail.getByText('"type": "key.created"').waitFor();
    await detail.getByText(`"name": "hooked"`).waitFor();

    // ---- The receiver fails: the 503 shows among the attempts, and the endpoint is failing.
    await control({ mode: "fail" });
    await page.getByRole("button", { name: "Send test event" }).click();
    const failed = deliveries.locator('tr[data-state="failed"]', { hasText: "webhook.test" });
    await failed.waitFor({ timeout: 10_000 });
    await failed.getByText("the endpoint answered 503").waitFor();
    await failed.getByRole("button", { name: /^Details of webhook\.test/ }).click();
    const failedAttempts = deliveries.locator("tr.delivery-detail").getByRole("table");
    await failedAttempts.locator("tbody tr").nth(1).waitFor();
    assert.deepEqual(await failedAttempts.locator("tbody tr td:nth-child(2)").allInnerTexts(), ["503", "503"]);
    await failedAttempts.getByText("not now").first().waitFor();
    await page.getByTestId("endpoint-state").getByText("Failing").waitFor();
    assert.ok((await received()).filter((r) => r.status === 503).every((r) => r.verified));
    await shots(page, "deliveries");
    await page.emulateMedia({ colorScheme: "dark" });
    await shot(page, "webhooks-deliveries-desktop-dark");
    await page.emulateMedia({ colorScheme: "light" });
    await assertAccessibleEverywhere(page, "an endpoint's deliveries, one failed and open");

    // ---- A new secret, with an hour's overlap: the receiver takes it; the failed one replayed.
    await page.getByRole("button", { name: "Rotate secret" }).click();
    const rotate = page.getByRole("dialog", { name: "Rotate the signing secret" });
    await rotate.getByLabel("1 hour").check();
    await rotate.getByRole("button", { name: "Rotate secret" }).click();
    const fresh = page.getByRole("dialog", { name: "The new signing secret" });
    const secret2 = await fresh.getByTestId("new-secret").inputValue();
    assert.notEqual(secret2, secret);
    await fresh.getByTestId("old-secret-until").getByText(/The previous secret keeps signing too until/).waitFor();
    await control({ secrets: [secret2], mode: "ok" });
    await fresh.getByRole("button", { name: "I have saved the secret" }).click();
    await page.getByText("and 1 older, still signing").waitFor();
    await failed.getByRole("button", { name: /^Replay webhook\.test/ }).click();
    await deliveries.locator('tr[data-state="delivered"]', { hasText: "1 replay" }).filter({ hasText: "webhook.test" }).waitFor();
    const replayed = (await received()).filter((r) => r.status === 200 && r.body.includes('"webhook.test"'));
    assert.equal(replayed.length, 2);
    assert.ok(replayed.every((r) => r.verified), "verified with the new secret alone");
    await page.getByTestId("endpoint-state").getByText("Active").waitFor();

    // ---- Disable, enable, delete (after asking).
    await page.getByRole("button", { name: "Disable", exact: true }).click();
    await page.getByTestId("endpoint-state").getByText("by an administrator").waitFor();
    await page.getByRole("button", { name: "Enable", exact: true }).click();
    await page.getByTestId("endpoint-state").getByText("Active").waitFor();
    await page.getByRole("link", { name: "Webhooks" }).click();
    await row.getByRole("button", { name: `Delete ${hookUrl}` }).click();
    const confirm = page.getByRole("dialog", { name: "Delete this webhook endpoint?" });
    await confirm.getByRole("button", { name: "Delete endpoint" }).click();
    await page.getByText("No endpoints yet.").waitFor();
    assert.deepEqual((await (await api("/api/webhooks")).json()).endpoints, []);

    assertClean(problems, "the admin's session");
    await context.close();
  });

  test("the form shows why keygate refuses an address", { timeout: 40_000 }, async () => {
    const { page, context, problems } = await loggedIn(strict.url, strictKey);
    // Through the links: the app's routes (client_route in src/http/ui.rs) are served
    // only once keygate lists them.
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Owners" }).click();
    await page.getByRole("link", { name: "Webhooks" }).click();
    await page.getByRole("button", { name: "New endpoint" }).click();
    const form = page.getByRole("dialog", { name: "New webhook endpoint" });
    const field = form.getByLabel("URL");
    await field.fill("http://169.254.169.254/");
    await form.getByRole("button", { name: "Create endpoint" }).click();
    await form.getByText("keygate refused the endpoint: see below.").waitFor();
    await page.waitForFunction((el) => el.getAttribute("aria-invalid") === "true", await field.elementHandle());
    const why = await page.evaluate(
      (el) => (el.getAttribute("aria-describedby") ?? "").split(" ").map((id) => document.getElementById(id)?.textContent).join(" "),
      await field.elementHandle(),
    );
    assert.match(why, /points at 169\.254\.169\.254, a link-local/);
    assert.equal(await page.evaluate(() => document.activeElement?.getAttribute("type")), "url", "the URL keeps the focus");
    await shots(page, "refused-url");
    await assertAccessibleEverywhere(page, "the form with the server's refusal");
    assertClean(problems, "the strict keygate's session", /status of 422/);
    await context.close();
  });
});

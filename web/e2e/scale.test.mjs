// The console at 50 000 keys (issue 28): 50 owners of 1 000 imported keys each (the
// CLI's `keygate keys import`, before keygate serves), named keys with metadata beside
// them, and traffic on a few. In Chromium at 1440 px, as an administrator: how long the
// Keys page takes to show its first rows, a search to show its match (from the request
// the search sends, and from the last keystroke), and the overview to show its chart,
// top lists and stale keys. The figures are printed; the bounds asserted are loose
// enough for a debug build on a busy machine (the note and docs/benchmarks.md give a
// release build's figures) and still fail when a page waits on every key.
//
//   KEYGATE_BIN=path/to/keygate node --test e2e/scale.test.mjs
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { adminConsole, cleanup, gate, keygateBin, launchChromium, newPage, requireTools, shot, watchdog } from "./harness.mjs";

const OWNERS = 50;
const PER_OWNER = 1000;
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

/** Imports 50 × 1 000 random keys with the CLI, into the store keygate will serve. */
function seed({ dir, config }) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  for (let o = 0; o < OWNERS; o++) {
    const owner = `team-${String(o).padStart(2, "0")}`;
    const bytes = randomBytes(PER_OWNER * 40);
    const lines = [];
    for (let i = 0; i < PER_OWNER; i++) {
      let k = "ext_";
      for (let j = 0; j < 40; j++) k += alphabet[(bytes[i * 40 + j] ?? 0) % alphabet.length];
      lines.push(k);
    }
    const file = path.join(dir, `${owner}.txt`);
    writeFileSync(file, `${lines.join("\n")}\n`);
    const r = spawnSync(keygateBin, ["keys", "import", file, "--owner", owner, "--config", config], { encoding: "utf8" });
    assert.equal(r.status, 0, `import for ${owner}: ${r.stdout}${r.stderr}`);
  }
}

/** Milliseconds until `locator` is visible, from `start`. */
async function visibleAfter(start, locator) {
  await locator.first().waitFor({ timeout: 60_000 });
  return Math.round(performance.now() - start);
}

describe("the console at 50 000 keys", () => {
  test("keys, search and the overview answer in time", { timeout: 220_000 }, async () => {
    const t0 = performance.now();
    const op = await adminConsole({ toml: "[analytics]\nflush_secs = 1\n", before: seed });
    const seeded = Math.round(performance.now() - t0);
    const { kg, api } = op;
    // Named keys to find among them, some with traffic for the overview.
    const named = [];
    for (let i = 0; i < 12; i++) {
      const r = await api("/api/users/payments-bot/tokens", "POST", {
        name: `checkout ${i}`,
        metadata: { team: "payments", env: i % 2 ? "prod" : "staging" },
      });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      named.push(r.body);
    }
    for (let i = 0; i < 30; i++) await gate(kg.url, named[i % 3].key);
    const all = await api("/api/tokens?limit=1");
    assert.equal(all.body.total, OWNERS * PER_OWNER + named.length);

    const { page } = await newPage(browser, { origin: kg.url });
    await op.login(page);

    // The Keys page over every key: its first rows. Its code is asked for beside the UI
    // settings, not after them (the page then renders without suspending: React holds a
    // suspended page back 300 ms).
    const asked = [];
    const note = (r) => asked.push(new URL(r.url()).pathname);
    page.on("request", note);
    let start = performance.now();
    await page.goto(`${kg.url}/admin/keys`);
    const keysMs = await visibleAfter(start, page.locator("tr[data-key-id]"));
    page.off("request", note);
    const chunk = asked.findIndex((p) => /\/assets\/all-keys-page-[^/]+\.js$/.test(p));
    assert.ok(chunk >= 0 && chunk < asked.indexOf("/ui/config"), `requests in order: ${asked.join(" ")}`);
    await shot(page, "scale-keys-50k");

    // A search: several terms, one match.
    const query = "team=payments env=prod name:\"checkout 7\"";
    start = performance.now();
    const sent = page.waitForRequest((r) => new URL(r.url()).searchParams.get("q") === query);
    await page.getByLabel("Filter").fill(query);
    const searched = await sent;
    const askedAt = performance.now();
    const match = page.locator(`tr[data-key-id="${named[7].id}"]`);
    await match.waitFor({ timeout: 60_000 });
    await page.locator("tr[data-key-id]").nth(1).waitFor({ state: "detached", timeout: 60_000 });
    const searchMs = Math.round(performance.now() - askedAt);
    const typedMs = Math.round(performance.now() - start);
    assert.ok(searched);

    // The overview: the chart, the top lists and the stale keys.
    start = performance.now();
    await page.goto(`${kg.url}/admin`);
    await page.getByRole("heading", { name: "Overview" }).waitFor();
    await page.getByRole("heading", { name: "Stale keys" }).waitFor({ timeout: 60_000 });
    const overviewMs = await visibleAfter(start, page.getByRole("link", { name: /checkout [012]/ }));
    await shot(page, "scale-overview-50k");

    console.log(
      `50 000 keys (${OWNERS} owners × ${PER_OWNER} + ${named.length}): seeded and started in ${seeded} ms; ` +
        `Keys page first rows ${keysMs} ms; search ${searchMs} ms from its request (${typedMs} ms from typing, ` +
        `with the page's debounce); overview ${overviewMs} ms — ${path.basename(keygateBin)} at ${keygateBin}`,
    );
    // Loose bounds (debug builds, busy machines): the targets are 1 s, 300 ms and 1 s in
    // a release build.
    assert.ok(keysMs < 8000, `Keys page: ${keysMs} ms`);
    assert.ok(searchMs < 4000, `search: ${searchMs} ms`);
    assert.ok(overviewMs < 8000, `overview: ${overviewMs} ms`);
  });
});

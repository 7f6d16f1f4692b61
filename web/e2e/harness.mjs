// What the browser tests run against, all on loopback with ports from bind(0): a real
// keygate binary, the real OIDC provider of tests/support/oidc, and Debian's Chromium
// driven by playwright-core (no browser download). Every process started here is killed
// when the run ends, however it ends.
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";
import { chromium } from "playwright-core";
import { assertAccessible } from "./axe.mjs";

export const root = path.resolve(import.meta.dirname, "../..");
export const artifacts = path.join(import.meta.dirname, "artifacts");

/** The keygate binary: $KEYGATE_BIN, else the debug build in $CARGO_TARGET_DIR or target/. */
export const keygateBin =
  process.env.KEYGATE_BIN ?? path.join(process.env.CARGO_TARGET_DIR ?? path.join(root, "target"), "debug", "keygate");
export const chromiumBin = process.env.CHROMIUM ?? "/usr/bin/chromium";
const providerDir = path.join(root, "tests/support/oidc");

const children = new Set();
const tempDirs = new Set();

export function cleanup() {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  }
  children.clear();
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
  tempDirs.clear();
}
process.on("exit", cleanup);
for (const sig of ["SIGINT", "SIGTERM"]) {
  process.on(sig, () => {
    cleanup();
    process.exit(1);
  });
}

/** Fails the whole run, loudly, if it has not finished in `ms`. */
export function watchdog(ms) {
  const t = setTimeout(() => {
    console.error(`e2e watchdog: still running after ${ms / 1000} s; killing everything`);
    cleanup();
    process.exit(1);
  }, ms);
  t.unref();
  return t;
}

/** Fails loudly (never skips) when something the tests need is missing. */
export function requireTools() {
  const missing = [];
  if (!existsSync(chromiumBin)) missing.push(`${chromiumBin} (apt-get install chromium, or run make deps)`);
  if (!existsSync(keygateBin)) missing.push(`${keygateBin} (cargo build, or set KEYGATE_BIN)`);
  if (!existsSync(path.join(providerDir, "node_modules/oidc-provider")))
    missing.push(`oidc-provider in ${providerDir} (npm ci --prefix tests/support/oidc)`);
  if (missing.length) throw new Error(`the browser tests need:\n  ${missing.join("\n  ")}`);
}

export function tempDir(prefix) {
  const d = mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.add(d);
  return d;
}

/** A port that was free a moment ago (bound to 0, then released). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function track(child, name) {
  children.add(child);
  const log = [];
  const keep = (chunk) => {
    log.push(String(chunk));
    if (log.length > 400) log.shift();
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  child.on("exit", () => children.delete(child));
  return { log: () => log.join(""), name };
}

/** The OIDC provider, with the web UI's client when `uiBase` is given. */
export async function startProvider(uiBase, { accessTtl } = {}) {
  const args = [path.join(providerDir, "provider.mjs")];
  if (uiBase) args.push("--ui", uiBase);
  if (accessTtl) args.push("--access-ttl", String(accessTtl));
  const child = spawn(process.execPath, args, { cwd: providerDir, stdio: ["ignore", "pipe", "pipe"] });
  children.add(child);
  child.on("exit", () => children.delete(child));
  const lines = readline.createInterface({ input: child.stdout });
  const stderr = [];
  child.stderr.on("data", (c) => stderr.push(String(c)));
  const first = await Promise.race([
    new Promise((resolve) => lines.once("line", resolve)),
    new Promise((_, reject) => setTimeout(() => reject(new Error(`oidc provider did not start: ${stderr.join("")}`)), 15_000)),
    new Promise((_, reject) => child.once("exit", (code) => reject(new Error(`oidc provider exited ${code}: ${stderr.join("")}`)))),
  ]);
  return { issuer: JSON.parse(first).issuer, child };
}

/**
 * keygate on `port` with `toml` as its configuration; resolves when it is ready.
 * Returns its base URL and whatever it printed so far (the single-operator banner).
 */
export async function startKeygate({ port, toml, basePath = "", before }) {
  const dir = tempDir("keygate-e2e-");
  mkdirSync(path.join(dir, "data"));
  const config = path.join(dir, "keygate.toml");
  writeFileSync(
    config,
    `address = "127.0.0.1"\nport = ${port}\ndata_dir = ${JSON.stringify(path.join(dir, "data"))}\nlog_format = "text"\naccess_log = false\n${toml}`,
  );
  // What a test does to the store before keygate serves it (the CLI, with this config).
  if (before) await before({ dir, config });
  const env = { ...process.env, NO_COLOR: "1" };
  for (const k of Object.keys(env)) if (k.startsWith("KEYGATE_")) delete env[k];
  const child = spawn(keygateBin, ["serve", "--config", config], { cwd: dir, env, stdio: ["ignore", "pipe", "pipe"] });
  const t = track(child, "keygate");
  const url = `http://127.0.0.1:${port}${basePath}`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`keygate exited ${child.exitCode}:\n${t.log()}`);
    try {
      const r = await fetch(`${url}/health`);
      if (r.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`keygate did not start:\n${t.log()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  await sameBuild(url);
  return { url, output: t.log, child };
}

/** Polls `check` until it is true, for `ms` at most (keygate writes every second in these tests). */
export async function until(check, what, ms = 15_000) {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`still not so after ${ms / 1000} s: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * keygate in single-operator mode (no OIDC provider: it prints an admin key when it first
 * starts), for a test that drives the console as that administrator: `kg` (as
 * startKeygate's, on a free port unless `port` is given), `adminKey`, `api(path, method,
 * body)` — the management API with the key, answering `{status, body}` (body parsed, null
 * when empty) — and `login(page)`: the login page with the key, until the overview.
 */
export async function adminConsole({ toml = "", port, ...options } = {}) {
  const kg = await startKeygate({ port: port ?? (await freePort()), toml, ...options });
  const banner = /kgadmin_[0-9A-Za-z]{43}/.exec(kg.output());
  if (!banner) throw new Error(`keygate printed no admin key:\n${kg.output()}`);
  const adminKey = banner[0];
  const api = async (p, method = "GET", body = undefined) => {
    const r = await fetch(`${kg.url}${p}`, {
      method,
      headers: { Authorization: `Bearer ${adminKey}`, "Content-Type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await r.text();
    return { status: r.status, body: text ? JSON.parse(text) : null };
  };
  const login = async (page) => {
    await page.goto(`${kg.url}/login`);
    await page.getByLabel("Admin key").fill(adminKey);
    await page.getByRole("button", { name: "Log in" }).click();
    await page.waitForURL(`${kg.url}/admin`);
  };
  return { kg, adminKey, api, login };
}

/**
 * The app keygate serves must be this checkout's web/dist: a debug binary reads the
 * dist of the checkout it was compiled in, a release binary the one it embedded.
 */
async function sameBuild(url) {
  const script = (html) => /assets\/index-[\w-]+\.js/.exec(html)?.[0];
  const local = script(readFileSync(path.join(root, "web/dist/index.html"), "utf8"));
  const served = script(await (await fetch(`${url}/`)).text());
  if (!local || local !== served) {
    throw new Error(
      `keygate serves ${served ?? "no built UI"}, this checkout's web/dist has ${local}: ` +
        `rebuild it (make web, then cargo build) or point KEYGATE_BIN at a binary built from this checkout`,
    );
  }
}

/** Debian's Chromium; playwright gives it a fresh temporary --user-data-dir. */
export function launchChromium() {
  return chromium.launch({
    executablePath: chromiumBin,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--disable-quic",
      // Loopback only: no name is ever looked up (the provider's development pages ask
      // for web fonts from the internet), so nothing leaves the machine.
      "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    ],
    timeout: 30_000,
  });
}

/**
 * A page that records console errors and page errors (a CSP violation is reported
 * there) while it shows the app at `origin`, so a test can assert the app ran clean.
 * The provider's development pages are not the app: they ask for web fonts that
 * cannot be had offline, and that is not ours to fix.
 */
export async function newPage(browser, { origin, width = 1440, height = 900, colorScheme = "light", locale, timezoneId }) {
  // `locale` and `timezoneId` (e.g. "de-DE", "Europe/Berlin"): the browser's, as a user's would be.
  const context = await browser.newContext({
    viewport: { width, height },
    colorScheme,
    ...(locale ? { locale } : {}),
    ...(timezoneId ? { timezoneId } : {}),
  });
  // And no request to anywhere but loopback even starts.
  await context.route(
    (u) => !["127.0.0.1", "[::1]", "localhost"].includes(u.hostname),
    (r) => r.abort("blockedbyclient"),
  );
  await context.grantPermissions(["clipboard-read", "clipboard-write"]).catch(() => undefined);
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  page.setDefaultNavigationTimeout(20_000);
  const problems = [];
  const ours = () => page.url().startsWith(`${origin}/`);
  page.on("console", (m) => {
    if (m.type() === "error" && ours()) problems.push(`console: ${m.text()} [${page.url()}; ${m.location().url}]`);
  });
  page.on("pageerror", (e) => {
    if (ours()) problems.push(`page error: ${e.message} [${page.url()}]`);
  });
  return { page, context, problems };
}

export async function shot(page, name) {
  mkdirSync(artifacts, { recursive: true });
  await page.screenshot({ path: path.join(artifacts, `${name}.png`), fullPage: true });
}

/** GET the gate's /forward-auth with a key, as a proxy would ask. */
export async function gate(url, key, { method = "GET", uri = "/v1/orders" } = {}) {
  const r = await fetch(`${url}/forward-auth`, {
    headers: {
      Authorization: `Bearer ${key}`,
      "X-Forwarded-Method": method,
      "X-Forwarded-Host": "api.example.com",
      "X-Forwarded-Uri": uri,
    },
  });
  return r.status;
}

/**
 * axe-core (WCAG 2.2 A/AA) on the page as it is, at 1440 and 375 px wide, in the light
 * and the dark theme; the page is left at the size and theme it had.
 */
export async function assertAccessibleEverywhere(page, where) {
  const size = page.viewportSize() ?? { width: 1440, height: 900 };
  const dark = await page.evaluate(() => matchMedia("(prefers-color-scheme: dark)").matches);
  try {
    for (const [width, height] of [
      [1440, 900],
      [375, 812],
    ]) {
      await page.setViewportSize({ width, height });
      for (const colorScheme of ["light", "dark"]) {
        await page.emulateMedia({ colorScheme });
        await assertAccessible(page, `${where} (${width} px, ${colorScheme})`);
      }
    }
  } finally {
    await page.setViewportSize(size);
    await page.emulateMedia({ colorScheme: dark ? "dark" : "light" });
  }
}

/**
 * Logs in on the provider's development pages (login form, then consent). The app's
 * start page follows: the overview for an admin, "My keys" for anyone else.
 */
export async function oidcLogin(page, url, login) {
  const landed = (u) => u.href === `${url}/keys` || u.href === `${url}/admin`;
  await page.goto(`${url}/`);
  await page.waitForURL(`${url}/login`);
  await page.getByRole("button", { name: "Log in with your organisation account" }).click();
  await page.waitForURL((u) => !u.href.startsWith(url));
  await page.locator('input[name="login"]').fill(login);
  await page.locator('input[name="password"]').fill("any password works here");
  await page.locator('button[type="submit"]').click();
  // The consent page, the first time this account uses the client.
  const consent = page.getByRole("button", { name: "Continue" });
  await Promise.race([consent.waitFor(), page.waitForURL(landed)]);
  if (await consent.isVisible()) await consent.click();
  await page.waitForURL(landed);
  await page.getByRole("heading", { level: 1, name: /^(My keys|Overview)$/ }).waitFor();
}

export function accessToken(page) {
  return page.evaluate(() => {
    const entry = Object.entries(sessionStorage).find(([k]) => k.startsWith("oidc.user:"));
    return entry ? JSON.parse(entry[1]).access_token : null;
  });
}

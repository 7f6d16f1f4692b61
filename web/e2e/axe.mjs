// axe-core in the browser tests: every page the suite visits is checked against WCAG
// 2.2 A and AA. The engine is evaluated through the DevTools protocol, so the app's strict
// Content-Security-Policy stays as it is in production (nothing is injected as a script tag).
import assert from "node:assert/strict";
import { createRequire } from "node:module";

const axeSource = createRequire(import.meta.url)("axe-core").source;

export const WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa"];

/** The WCAG 2.2 A/AA violations on the page as it is now (axe's results, trimmed). */
export async function axeViolations(page) {
  const loaded = await page.evaluate(() => typeof window.axe !== "undefined");
  if (!loaded) await page.evaluate(axeSource);
  const found = await page.evaluate(
    (tags) => window.axe.run(document, { runOnly: { type: "tag", values: tags }, resultTypes: ["violations"] }),
    WCAG_TAGS,
  );
  return found.violations.map((v) => ({
    id: v.id,
    impact: v.impact,
    help: v.help,
    nodes: v.nodes.slice(0, 5).map((n) => `${n.target.join(" ")}: ${n.failureSummary ?? ""}`),
  }));
}

/** Fails, listing each violation and where, unless the page has none. */
export async function assertAccessible(page, where) {
  const v = await axeViolations(page);
  assert.deepEqual(v, [], `${where}: axe-core found WCAG 2.2 A/AA violations:\n${JSON.stringify(v, null, 2)}`);
}

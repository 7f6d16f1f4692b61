import { screen, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { throttled } from "../lib/queries/usage";
import type { UsageSeries } from "../lib/schemas";
import { KeysPage } from "../pages/keys-page";
import { limitedToken, me, token } from "../test-fixtures";
import { json, mockApi, renderWithApi } from "../test-render";
import { sparkPoints } from "./sparkline";

const zero = { allowed: 0, forbidden: 0, refused: 0, rate_limited: 0, usage_exceeded: 0 };
const series: UsageSeries = {
  from: "2026-12-01T00:00:00Z",
  to: "2026-12-01T02:00:00Z",
  step: "hour",
  totals: { ...zero, allowed: 7, forbidden: 2 },
  points: [
    { t: "2026-12-01T00:00:00Z", ...zero, allowed: 4 },
    { t: "2026-12-01T01:00:00Z", ...zero, allowed: 3, forbidden: 2 },
  ],
};

describe("the key list's last 24 h", () => {
  it("shows requests and refusals per key, with a sparkline only for keys that were used", async () => {
    const api = mockApi({
      "GET /api/me": () => json(200, me),
      "GET /api/me/tokens": () => json(200, { tokens: [token, limitedToken], damaged: [] }),
      "GET /api/me/limits": () => json(200, { owner: "alice", source: "none", limits: { rate_limits: [], credits: null } }),
      "GET /api/me/usage": (_b, url) => {
        expect(url.searchParams.get("step")).toBe("hour");
        // The same pages as the list: 500 keys each.
        expect(url.searchParams.get("limit")).toBe("500");
        return json(200, {
          owner: "alice",
          series,
          keys: [
            { id: "k1", name: "first", totals: series.totals },
            { id: "k2", name: "limited", totals: zero },
          ],
        });
      },
      "GET /api/me/tokens/k1/usage": () => json(200, series),
    });
    renderWithApi(<KeysPage scope={{ kind: "me" }} title="My keys" />);
    const used = (await screen.findByText("9 requests")).closest("tr") as HTMLElement;
    expect(within(used).getByText("2 refused")).toBeInTheDocument();
    await within(used).findByText((_, el) => el?.tagName.toLowerCase() === "svg");
    const idle = screen.getByText("no requests").closest("tr") as HTMLElement;
    expect(idle.querySelector("svg")).toBeNull();
    expect(screen.getByRole("link", { name: "first" })).toHaveAttribute("href", "/keys/k1");
    // One request for the page of keys, one series for the key that was used.
    expect(api.calls.filter((c) => c.path.endsWith("/usage")).map((c) => c.path)).toEqual([
      "/api/me/usage",
      "/api/me/tokens/k1/usage",
    ]);
  });
});

describe("sparklines", () => {
  it("scales the largest value to the top and zero to the bottom", () => {
    expect(sparkPoints([0, 5, 10], 10)).toBe("0.0,23.0 48.0,12.0 96.0,1.0");
    expect(sparkPoints([0, 0], 0)).toBe("0.0,23.0 96.0,23.0");
  });

  it("fetches at most 20 series at once", async () => {
    let running = 0;
    let most = 0;
    const jobs = Array.from({ length: 45 }, () =>
      throttled(async () => {
        running++;
        most = Math.max(most, running);
        await new Promise((r) => setTimeout(r, 1));
        running--;
      }),
    );
    await Promise.all(jobs);
    expect(most).toBe(20);
  });
});

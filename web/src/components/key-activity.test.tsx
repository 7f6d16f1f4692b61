import { screen, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { throttled } from "../lib/queries/usage";
import type { UsageSeries } from "../lib/schemas";
import { KeysPage } from "../pages/keys-page";
import { limitedToken, me, token } from "../test-fixtures";
import { json, mockApi, renderWithApi } from "../test-render";
import { render } from "@testing-library/react";
import { KeyActivity, sparkFigures } from "./key-activity";
import { Sparkline, sparkBars, sparkLabel } from "./sparkline";

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
      "GET /api/me/tokens": () => json(200, { tokens: [token, limitedToken], damaged: [], total: 2 }),
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
    const used = (await screen.findByText("2 of 9 refused")).closest("tr") as HTMLElement;
    // The figures, then the sparkline, whose name says them (and the peak) once.
    expect(within(used).getByText("2 of 9 refused")).toHaveClass("warn");
    const spark = await within(used).findByRole("img", { name: "24 h: 7 allowed, 2 refused; peak 5/h" });
    expect(spark.querySelector("title")).toHaveTextContent("24 h: 7 allowed, 2 refused; peak 5/h");
    expect(within(used).getByText("5/h")).toHaveAttribute("aria-hidden", "true");
    expect(used.querySelector(".activity-figures")).toHaveAttribute("aria-hidden", "true");
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
  it("stacks refused on allowed, the busiest bucket reaching the top", () => {
    // Four buckets in 96 × 22: 24 px a bar, 23 px wide (1 px apart); a peak of 10 is 22 px tall.
    expect(sparkBars([0, 5, 10, 0], [], 10)).toBe("M24.0 11.0h23.0v11.0h-23.0zM48.0 0.0h23.0v22.0h-23.0z");
    // Refused stand on the allowed of their bucket.
    expect(sparkBars([0, 5, 0, 0], [0, 5, 10, 0], 10)).toBe("M24.0 0.0h23.0v11.0h-23.0z");
    // Nothing at all: nothing drawn.
    expect(sparkBars([0, 0], [], 0)).toBe("");
  });

  it("draws a lone refusal among thousands at least a pixel tall", () => {
    const d = sparkBars([1, 0], [5000, 0], 5001);
    expect(d).toMatch(/^M0\.0 -?\d+\.\dh47\.0v1\.0h-47\.0z$/);
  });

  it("says the totals and the peak in its name, and writes the peak as its scale", () => {
    const f = { allowed: [1000, 204, 0], refused: [0, 37, 0] };
    expect(sparkLabel(f, "24 h", "h")).toBe("24 h: 1\u202f204 allowed, 37 refused; peak 1\u202f000/h");
    const { container } = render(<Sparkline {...f} />);
    expect(screen.getByRole("img")).toHaveAccessibleName("24 h: 1\u202f204 allowed, 37 refused; peak 1\u202f000/h");
    expect(container.querySelector(".spark-peak")?.textContent).toBe("1\u202f000/h");
  });

  it("takes a usage series' buckets as allowed and every refusal together", () => {
    expect(sparkFigures(series)).toEqual({ allowed: [4, 3], refused: [0, 2] });
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

describe("the last 24 h sent with the list", () => {
  it("draws the key's own hourly figures without asking for its series", () => {
    const hourly = Array.from({ length: 24 }, (_, i) => (i === 23 ? [60, 36] : [i, 0]));
    const activity = { requests: 349, refusals: 36, hourly };
    const api = mockApi({});
    renderWithApi(<KeyActivity scope="me" id="k1" totals={undefined} activity={activity} />);
    expect(screen.getByRole("img")).toHaveAccessibleName("24 h: 313 allowed, 36 refused; peak 96/h");
    expect(screen.getByText("36 of 349 refused")).toBeInTheDocument();
    expect(api.calls).toEqual([]);
  });
});

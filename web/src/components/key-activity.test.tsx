import { render, screen, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { KeysPage } from "../pages/keys-page";
import { limitedToken, me, token } from "../test-fixtures";
import { json, mockApi, renderWithApi } from "../test-render";
import { KeyActivity } from "./key-activity";
import { Sparkline, sparkBars, sparkLabel } from "./sparkline";

/** 24 hours, oldest first: 4 allowed two hours ago, 3 allowed and 2 refused in the last. */
const hourly = Array.from({ length: 24 }, (_, i) => (i === 22 ? [4, 0] : i === 23 ? [3, 2] : [0, 0]));

describe("the key list's last 24 h", () => {
  it("shows requests and refusals per key from the list itself, with a sparkline only for keys that were used", async () => {
    const api = mockApi({
      "GET /api/me": () => json(200, me),
      "GET /api/me/tokens": () =>
        json(200, {
          tokens: [{ ...token, activity: { requests: 9, refusals: 2, hourly } }, limitedToken],
          damaged: [],
          total: 2,
        }),
      "GET /api/me/limits": () => json(200, { owner: "alice", source: "none", limits: { rate_limits: [], credits: null } }),
    });
    renderWithApi(<KeysPage scope={{ kind: "me" }} title="My keys" />);
    const used = (await screen.findByText("2 of 9 refused")).closest("tr") as HTMLElement;
    // The figures, then the sparkline, whose name says them (and the peak) once.
    expect(within(used).getByText("2 of 9 refused")).toHaveClass("warn");
    const spark = within(used).getByRole("img", { name: "24 h: 7 allowed, 2 refused; peak 5/h" });
    expect(spark.querySelector("title")).toHaveTextContent("24 h: 7 allowed, 2 refused; peak 5/h");
    expect(within(used).getByText("5/h")).toHaveAttribute("aria-hidden", "true");
    expect(used.querySelector(".activity-figures")).toHaveAttribute("aria-hidden", "true");
    // A key the list sends no activity for made no request.
    const idle = screen.getByText("no requests").closest("tr") as HTMLElement;
    expect(idle.querySelector("svg")).toBeNull();
    expect(screen.getByRole("link", { name: "first" })).toHaveAttribute("href", "/keys/k1");
    // Nothing asked beyond the list: no usage per page of keys, no series per key.
    expect(api.calls.filter((c) => c.path.includes("/usage"))).toEqual([]);
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
});

describe("the last 24 h sent with the list", () => {
  it("draws the key's own hourly figures without asking for its series", () => {
    const hourly = Array.from({ length: 24 }, (_, i) => (i === 23 ? [60, 36] : [i, 0]));
    const activity = { requests: 349, refusals: 36, hourly };
    const api = mockApi({});
    renderWithApi(<KeyActivity activity={activity} />);
    expect(screen.getByRole("img")).toHaveAccessibleName("24 h: 313 allowed, 36 refused; peak 96/h");
    expect(screen.getByText("36 of 349 refused")).toBeInTheDocument();
    expect(api.calls).toEqual([]);
  });
});

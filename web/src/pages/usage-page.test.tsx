import { screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import type { AllUsage } from "../lib/schemas";
import { json, mockApi, renderWithApi } from "../test-render";
import { UsagePage } from "./usage-page";

vi.mock("uplot", () => {
  class FakePlot {
    static paths = {};
    setSize() {}
    destroy() {}
  }
  return { default: FakePlot };
});

const zero = { allowed: 0, forbidden: 0, refused: 0, rate_limited: 0, usage_exceeded: 0 };
const answer: AllUsage = {
  series: {
    from: "2026-12-01T00:00:00Z",
    to: "2026-12-01T01:00:00Z",
    step: "hour",
    totals: { ...zero, allowed: 30, usage_exceeded: 4 },
    points: [{ t: "2026-12-01T00:00:00Z", ...zero, allowed: 30, usage_exceeded: 4 }],
  },
  top_keys: [
    { id: "k1", owner: "alice", name: "search", totals: { ...zero, allowed: 20, usage_exceeded: 4 } },
    { id: "gone", totals: { ...zero, allowed: 10 } },
  ],
  top_owners: [{ owner: "alice", totals: { ...zero, allowed: 30, usage_exceeded: 4 } }],
};

describe("everyone's usage", () => {
  it("charts the series and links the busiest keys and owners to their pages", async () => {
    const api = mockApi({
      "GET /api/usage": (_b, url) => {
        expect(url.searchParams.get("top")).toBe("10");
        return json(200, answer);
      },
    });
    renderWithApi(<UsagePage />);
    const keys = (await screen.findByRole("heading", { name: "Busiest keys" })).closest("section") as HTMLElement;
    expect(within(keys).getByRole("link", { name: "search" })).toHaveAttribute("href", "/admin/keys/k1");
    expect(within(keys).getByText("gone")).toBeInTheDocument();
    const row = within(keys).getByRole("link", { name: "search" }).closest("tr") as HTMLElement;
    expect(within(row).getAllByRole("cell").map((c) => c.textContent)).toEqual(["search", "alice", "24", "20", "4"]);
    const owners = screen.getByRole("heading", { name: "Busiest owners" }).closest("section") as HTMLElement;
    expect(within(owners).getByRole("link", { name: "alice" })).toHaveAttribute("href", "/admin/owners/alice");
    expect(screen.getByRole("img", { name: /34 requests: 30 allowed, 4 refused/ })).toBeInTheDocument();

    await userEvent.setup().click(screen.getByRole("button", { name: "90d" }));
    await screen.findByRole("table", { name: /All requests over the last 90 days/ });
    const asked = api.calls.filter((c) => c.path === "/api/usage");
    expect(asked).toHaveLength(2);
  });

  it("says when it is refused", async () => {
    mockApi({ "GET /api/usage": () => json(403, { error: "forbidden", message: "admins only" }) });
    renderWithApi(<UsagePage />);
    expect(await screen.findByRole("alert")).toHaveTextContent("This needs an administrator.");
  });
});

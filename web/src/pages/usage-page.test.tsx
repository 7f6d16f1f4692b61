import { screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import type { AllUsage, Token } from "../lib/schemas";
import { token } from "../test-fixtures";
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
  top_refused_keys: [
    { id: "k1", owner: "alice", name: "search", totals: { ...zero, allowed: 20, usage_exceeded: 4 } },
  ],
  top_refused_owners: [{ owner: "alice", totals: { ...zero, allowed: 30, usage_exceeded: 4 } }],
};

describe("everyone's usage", () => {
  it("charts the series and links the busiest keys and owners to their pages", async () => {
    const api = mockApi({
      "GET /api/tokens": () => json(200, { tokens: [], damaged: [] }),
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
    mockApi({
      "GET /api/usage": () => json(403, { error: "forbidden", message: "admins only" }),
      "GET /api/tokens": () => json(403, { error: "forbidden", message: "admins only" }),
    });
    renderWithApi(<UsagePage />);
    const alerts = await screen.findAllByRole("alert");
    expect(alerts[0]).toHaveTextContent("This needs an administrator.");
  });
});

describe("stale keys in the overview", () => {
  const DAY = 86_400_000;
  const ago = (days: number) => new Date(Date.now() - days * DAY - 60_000).toISOString();
  const keys: Token[] = [
    { ...token, id: "a1", owner: "alice", name: "busy", last_used_at: ago(0) },
    { ...token, id: "a2", owner: "alice", name: "forgotten", last_used_at: ago(45) },
    { ...token, id: "b1", owner: "bob", name: "never used", created_at: ago(120), last_used_at: null },
    { ...token, id: "b2", owner: "bob", name: "quiet week", last_used_at: ago(8) },
  ];

  it("lists every owner's keys unused for 30 days, longest idle first, linked to their pages", async () => {
    const api = mockApi({
      "GET /api/usage": () => json(200, answer),
      "GET /api/tokens": (_b, url) =>
        url.searchParams.get("cursor") === "next"
          ? json(200, { tokens: keys.slice(2), damaged: [] })
          : json(200, { tokens: keys.slice(0, 2), next_cursor: "next", damaged: [] }),
    });
    renderWithApi(<UsagePage />);
    const section = screen.getByRole("region", { name: "Stale keys" });
    await within(section).findByText("2 keys of 4 unused for 30 days or more.");
    const rows = within(section).getAllByRole("row").slice(1);
    expect(rows.map((r) => within(r).getAllByRole("link")[0]?.textContent)).toEqual(["never used", "forgotten"]);
    expect(within(section).getByRole("link", { name: "forgotten" })).toHaveAttribute("href", "/admin/keys/a2");
    expect(within(rows[0] as HTMLElement).getByRole("link", { name: "bob" })).toHaveAttribute("href", "/admin/owners/bob?unused=30");
    expect(rows[0]).toHaveTextContent("unused 120 d");
    expect(rows[1]).toHaveTextContent("unused 45 d");
    expect(api.calls.filter((c) => c.path === "/api/tokens")).toHaveLength(2);

    await userEvent.setup().selectOptions(within(section).getByLabelText("Unused for"), "7");
    expect(within(section).getAllByRole("row")).toHaveLength(4);
    expect(within(section).getByRole("status")).toHaveTextContent("3 keys of 4 unused for 7 days or more.");
  });
});

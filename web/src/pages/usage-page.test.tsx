import { screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import type { AllUsage, Token } from "../lib/schemas";
import { token } from "../test-fixtures";
import { json, mockApi, renderWithApi } from "../test-render";
import { staleCount } from "../components/stale-keys";
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
    { id: "k2", owner: "bob", name: "scraper", totals: { ...zero, allowed: 1, forbidden: 7, refused: 2 } },
    { id: "k1", owner: "alice", name: "search", totals: { ...zero, allowed: 20, usage_exceeded: 4 } },
  ],
  top_refused_owners: [
    { owner: "bob", totals: { ...zero, allowed: 1, forbidden: 7, refused: 2 } },
    { owner: "alice", totals: { ...zero, allowed: 30, usage_exceeded: 4 } },
  ],
};

describe("everyone's usage", () => {
  it("charts the series and links the busiest keys and owners to their pages", async () => {
    const api = mockApi({
      "GET /api/tokens": () => json(200, { tokens: [], damaged: [], total: 0 }),
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
    expect(within(row).getAllByRole("cell").map((c) => c.textContent)).toEqual([
      "search",
      "alice",
      "24",
      "20",
      "44 usage exceeded",
    ]);
    const owners = screen.getByRole("heading", { name: "Busiest owners" }).closest("section") as HTMLElement;
    expect(within(owners).getByRole("link", { name: "alice" })).toHaveAttribute("href", "/admin/owners/alice");
    expect(screen.getByRole("img", { name: /34 requests: 30 allowed, 4 refused/ })).toBeInTheDocument();

    await userEvent.setup().click(screen.getByRole("button", { name: "90d" }));
    await screen.findByRole("table", { name: /All requests over the last 90 days/ });
    const asked = api.calls.filter((c) => c.path === "/api/usage");
    expect(asked).toHaveLength(2);
  });

  it("lists the most refused keys and owners apart, each kind of refusal counted apart", async () => {
    mockApi({
      "GET /api/tokens": () => json(200, { tokens: [], damaged: [], total: 0 }),
      "GET /api/usage": () => json(200, answer),
    });
    renderWithApi(<UsagePage />);
    const keys = (await screen.findByRole("heading", { name: "Most refused keys" })).closest("section") as HTMLElement;
    const rows = within(keys).getAllByRole("row").slice(1);
    // In the server's order (most refusals first), linked to their pages.
    expect(rows.map((r) => within(r).getAllByRole("link")[0]?.textContent)).toEqual(["scraper", "search"]);
    expect(within(keys).getByRole("link", { name: "scraper" })).toHaveAttribute("href", "/admin/keys/k2");
    const scraper = rows[0] as HTMLElement;
    const refused = within(scraper).getAllByRole("cell")[4] as HTMLElement;
    expect(refused.firstChild?.textContent).toBe("9");
    expect(within(refused).getAllByRole("listitem").map((li) => li.textContent)).toEqual(["7 forbidden", "2 refused"]);
    expect(within(scraper).getAllByRole("cell")[3]).toHaveTextContent("1");

    const owners = screen.getByRole("heading", { name: "Most refused owners" }).closest("section") as HTMLElement;
    expect(within(owners).getAllByRole("link").map((l) => l.textContent)).toEqual(["bob", "alice"]);
    // The lists count the range asked for, and say so.
    expect(screen.getByText(/count exactly the chosen range, the last 24 hours/)).toBeInTheDocument();
  });

  it("says when nothing was refused", async () => {
    mockApi({
      "GET /api/tokens": () => json(200, { tokens: [], damaged: [], total: 0 }),
      "GET /api/usage": () => json(200, { ...answer, top_refused_keys: [], top_refused_owners: [] }),
    });
    renderWithApi(<UsagePage />);
    const keys = (await screen.findByRole("heading", { name: "Most refused keys" })).closest("section") as HTMLElement;
    expect(within(keys).getByText("No refusals.")).toBeInTheDocument();
    expect(within(keys).queryByRole("table")).toBeNull();
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

  it("asks keygate for one page of them, longest idle first, linked to their pages and to all of them", async () => {
    const api = mockApi({
      "GET /api/usage": () => json(200, answer),
      "GET /api/tokens": (_b, url) => {
        expect(url.searchParams.get("limit")).toBe("100");
        expect(url.searchParams.get("cursor")).toBeNull();
        return url.searchParams.get("q") === "unused:30d"
          ? json(200, { tokens: keys.slice(1, 3), next_cursor: "more", damaged: [], total: 140 })
          : json(200, { tokens: [], damaged: [], total: 0 });
      },
    });
    renderWithApi(<UsagePage />);
    const section = screen.getByRole("region", { name: "Stale keys" });
    await within(section).findByText("140 keys unused for 30 days or more. The 2 shown are the first keygate found.");
    expect(within(section).getByRole("link", { name: "Show all 140 in Keys" })).toHaveAttribute(
      "href",
      "/admin/keys?q=unused%3A30d",
    );
    const rows = within(section).getAllByRole("row").slice(1);
    expect(rows.map((r) => within(r).getAllByRole("link")[0]?.textContent)).toEqual(["never used", "forgotten"]);
    expect(within(section).getByRole("link", { name: "forgotten" })).toHaveAttribute("href", "/admin/keys/a2");
    expect(within(rows[0] as HTMLElement).getByRole("link", { name: "bob" })).toHaveAttribute("href", "/admin/owners/bob?unused=30");
    expect(rows[0]).toHaveTextContent("unused 120 d");
    expect(rows[1]).toHaveTextContent("unused 45 d");
    // One page, never every key.
    expect(api.calls.filter((c) => c.path === "/api/tokens")).toHaveLength(1);

    await userEvent.setup().selectOptions(within(section).getByLabelText("Unused for"), "90");
    await within(section).findByText("No key unused for 90 days or more.");
    expect(within(section).queryByRole("link", { name: /Show all/ })).toBeNull();
  });

  it("counts what it was sent when the server does not say how many in all", () => {
    expect(staleCount(2, undefined, true, 30)).toBe("At least 2 keys unused for 30 days or more.");
    expect(staleCount(1, undefined, false, 7)).toBe("1 key unused for 7 days or more.");
    expect(staleCount(0, 0, false, 30)).toBe("No key unused for 30 days or more.");
  });
});

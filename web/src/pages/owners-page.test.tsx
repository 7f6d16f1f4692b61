import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { useLocation } from "react-router-dom";
import { describe, expect, it } from "vitest";
import type { Activity, Owner } from "../lib/schemas";
import { json, mockApi, renderWithApi } from "../test-render";
import { OwnersPage, refusedShare, sortOf } from "./owners-page";

/** 24 hours, oldest first, as [allowed, refused]: all of it in the last hour. */
const lastHour = (allowed: number, refused: number): Activity => ({
  requests: allowed + refused,
  refusals: refused,
  hourly: [...Array.from({ length: 23 }, () => [0, 0]), [allowed, refused]],
});

const alice: Owner = { owner: "alice", keys: 3, activity: lastHour(1200, 4) };
const bob: Owner = { owner: "bob", keys: 1, activity: lastHour(6, 9) };
const carol: Owner = { owner: "carol", keys: 2 };

/** The server's order for each `sort`. */
const sorted: Record<string, Owner[]> = {
  name: [alice, bob, carol],
  requests: [alice, bob, carol],
  refusals: [bob, alice, carol],
};

function Where() {
  const l = useLocation();
  return <output data-testid="where">{l.pathname + l.search}</output>;
}

function setup(route = "/admin/owners") {
  const api = mockApi({
    "GET /api/users": (_b, url) => json(200, { owners: sorted[url.searchParams.get("sort") ?? "name"] ?? [] }),
  });
  renderWithApi(
    <>
      <OwnersPage />
      <Where />
    </>,
    route,
  );
  const href = (u: RequestInfo | URL) => (typeof u === "string" ? u : u instanceof URL ? u.href : u.url);
  const sorts = () => api.fetch.mock.calls.map((c) => new URL(href(c[0]), "http://localhost").searchParams.get("sort"));
  return { api, sorts, user: userEvent.setup() };
}

const names = () =>
  screen
    .getAllByRole("row")
    .slice(1)
    .map((r) => within(r).getAllByRole("link")[0]?.textContent);

describe("the owners page", () => {
  it("shows each owner's requests and refusals over the last 24 hours, with the refused share", async () => {
    const { sorts } = setup();
    await screen.findByRole("link", { name: "alice" });
    expect(screen.getAllByRole("columnheader").map((h) => h.textContent)).toEqual([
      "Owner ↑",
      "Keys",
      "Requests (24\u00a0h)",
      "Refused (24\u00a0h)",
      "Hour by hour",
    ]);
    const row = (name: string) => screen.getByRole("link", { name }).closest("tr") as HTMLElement;
    const figures = (name: string) =>
      within(row(name))
        .getAllByRole("cell")
        .slice(1, 4)
        .map((c) => c.textContent);
    expect(figures("alice")).toEqual(["3", "1\u202f204", "4 (<1%)"]);
    expect(figures("bob")).toEqual(["1", "15", "9 (60%)"]);
    // Nothing in 24 hours: no activity at all.
    expect(figures("carol")).toEqual(["2", "0", "0"]);
    expect(within(row("carol")).getByText("no requests")).toBeInTheDocument();
    // Refusals look like a warning; none do not.
    expect(within(row("bob")).getAllByRole("cell")[3]).toHaveClass("warn");
    expect(within(row("carol")).getAllByRole("cell")[3]).not.toHaveClass("warn");
    // Hour by hour, named in words.
    expect(within(row("bob")).getByRole("img", { name: "24 h: 6 allowed, 9 refused; peak 15/h" })).toBeInTheDocument();
    // By name, the server's default: not asked for.
    expect(sorts()).toEqual([null]);
    expect(screen.getByRole("columnheader", { name: /Owner/ })).toHaveAttribute("aria-sort", "ascending");
  });

  it("sorts on the server by refusals from the select, and keeps it in the URL", async () => {
    const { sorts, user } = setup();
    await screen.findByRole("link", { name: "alice" });
    await user.selectOptions(screen.getByLabelText("Sort by"), "refusals");
    await waitFor(() => {
      expect(names()).toEqual(["bob", "alice", "carol"]);
    });
    expect(sorts()).toContain("refusals");
    expect(screen.getByTestId("where")).toHaveTextContent("/admin/owners?sort=refusals");
    expect(screen.getByRole("columnheader", { name: /Refused \(24\sh\)/ })).toHaveAttribute("aria-sort", "descending");
    expect(screen.getByRole("columnheader", { name: /Owner/ })).not.toHaveAttribute("aria-sort");
    expect(screen.getByRole("table", { name: /^Owners by refusals \(24\sh\), most first$/ })).toBeInTheDocument();

    // Back to by name: the plain URL, and no `sort` asked.
    await user.selectOptions(screen.getByLabelText("Sort by"), "name");
    await waitFor(() => {
      expect(screen.getByTestId("where")).toHaveTextContent(/^\/admin\/owners$/);
    });
  });

  it("sorts by a column from its heading", async () => {
    const { sorts, user } = setup();
    await screen.findByRole("link", { name: "alice" });
    await user.click(screen.getByRole("button", { name: /Requests \(24\sh\)/ }));
    await waitFor(() => {
      expect(sorts()).toContain("requests");
    });
    expect(screen.getByRole("columnheader", { name: /Requests \(24\sh\)/ })).toHaveAttribute("aria-sort", "descending");
    expect(screen.getByLabelText("Sort by")).toHaveValue("requests");
  });

  it("opens sorted as the URL says", async () => {
    const { sorts } = setup("/admin/owners?sort=refusals");
    await screen.findByRole("link", { name: "bob" });
    expect(names()).toEqual(["bob", "alice", "carol"]);
    expect(sorts()).toEqual(["refusals"]);
    expect(screen.getByLabelText("Sort by")).toHaveValue("refusals");
  });
});

describe("the owners page's helpers", () => {
  it("reads only sorts the server knows from the URL", () => {
    expect(sortOf("requests")).toBe("requests");
    expect(sortOf("bogus")).toBe("name");
    expect(sortOf(null)).toBe("name");
  });

  it("writes the refused share", () => {
    expect(refusedShare(undefined)).toBe("");
    expect(refusedShare(lastHour(0, 0))).toBe("");
    expect(refusedShare(lastHour(3, 1))).toBe("25%");
    expect(refusedShare(lastHour(999, 1))).toBe("<1%");
    expect(refusedShare(lastHour(5, 0))).toBe("0%");
  });
});

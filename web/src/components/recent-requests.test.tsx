import { act, render, screen, within } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { absoluteSeconds } from "../lib/format";
import type { RecentPage, RecentRequest } from "../lib/schemas";
import { json, mockApi, renderWithApi } from "../test-render";
import { RecentRequests, RecentRequestsView, ago, clock } from "./recent-requests";

const NOW = Date.parse("2026-12-07T12:00:00Z");
const at = (secondsAgo: number) => NOW - secondsAgo * 1000;
const request = (r: Partial<RecentRequest>): RecentRequest => ({
  id: "k1",
  at_ms: at(12),
  outcome: "allowed",
  method: "GET",
  host: "api.example.com",
  path: "/v1/orders",
  client: "203.0.113.7",
  ...r,
});

const longPath = "/v1/reports/quarterly-revenue-by-region-and-product-line/2026/q4/export-everything-as-csv";
const page: RecentPage = {
  kept: 50,
  requests: [
    request({ at_ms: at(3), outcome: "forbidden", method: "DELETE", path: "/admin/users" }),
    request({ at_ms: at(12), outcome: "rate_limited", path: longPath, client: "2001:db8:85a3::8a2e:370:7334" }),
    request({ at_ms: at(90) }),
  ],
};

const rows = () => screen.getAllByRole("row").slice(1);
const cells = (row: HTMLElement) => within(row).getAllByRole("cell");

afterEach(() => {
  vi.useRealTimers();
});

describe("a key's recent requests", () => {
  it("lists them newest first: time, outcome, method, host, path and client", () => {
    render(<RecentRequestsView page={page} now={NOW} />);
    expect(screen.getByRole("table", { name: "Recent requests with this key, newest first" })).toBeInTheDocument();
    expect(screen.getByText(/The last 3 requests, newest first · keygate keeps the last 50 per key/)).toBeInTheDocument();
    expect(screen.getAllByRole("columnheader").map((h) => h.textContent)).toEqual([
      "Time",
      "Outcome",
      "Method",
      "Host",
      "Path",
      "Client",
    ]);
    const [first, second, third] = rows() as [HTMLElement, HTMLElement, HTMLElement];
    expect(cells(first).map((c) => c.textContent)).toEqual([
      `${clock(at(3), NOW)} just now`,
      "Forbidden",
      "DELETE",
      "api.example.com",
      "/admin/users",
      "203.0.113.7",
    ]);
    expect(cells(second)[0]).toHaveTextContent("12 s ago");
    expect(cells(third)[0]).toHaveTextContent("1 min ago");

    // The full date, to the second, in the tooltip; the machine-readable one on <time>.
    const time = within(first).getByText(clock(at(3), NOW));
    const iso = new Date(at(3)).toISOString();
    expect(time).toHaveAttribute("datetime", iso);
    expect(time).toHaveAttribute("title", absoluteSeconds(iso));
  });

  it("makes a refusal look like one, and an allowed request not", () => {
    render(<RecentRequestsView page={page} now={NOW} />);
    const [first, second, third] = rows() as [HTMLElement, HTMLElement, HTMLElement];
    expect(within(first).getByText("Forbidden")).toHaveClass("outcome", "outcome-refusal");
    expect(within(second).getByText("Rate limited")).toHaveClass("outcome-refusal");
    expect(within(third).getByText("Allowed")).toHaveClass("outcome-allowed");
    expect(first).toHaveClass("is-refusal");
    expect(third).not.toHaveClass("is-refusal");
    // Each kind of refusal in its own chart colour.
    expect(within(second).getByText("Rate limited").querySelector(".swatch")).toHaveClass("swatch-rate_limited");
  });

  it("cuts a long path or address on one line, the whole of it in the tooltip", () => {
    render(<RecentRequestsView page={page} now={NOW} />);
    const second = rows()[1] as HTMLElement;
    const path = within(second).getByText(longPath);
    expect(path.tagName).toBe("CODE");
    expect(path).toHaveClass("recent-clip");
    expect(path).toHaveAttribute("title", longPath);
    expect(within(second).getByText("2001:db8:85a3::8a2e:370:7334")).toHaveAttribute(
      "title",
      "2001:db8:85a3::8a2e:370:7334",
    );
  });

  it("shows an outcome it does not know as sent", () => {
    render(<RecentRequestsView page={{ kept: 50, requests: [request({ outcome: "teapot" })] }} now={NOW} />);
    expect(screen.getByText("teapot")).toHaveClass("outcome-other");
    expect(screen.getByText(/The last request, newest first/)).toBeInTheDocument();
  });

  it("says when the key asked nothing yet", () => {
    render(<RecentRequestsView page={{ kept: 50, requests: [] }} now={NOW} />);
    expect(screen.getByText("No requests with this key yet.")).toBeInTheDocument();
    expect(screen.queryByRole("table")).toBeNull();
  });

  it("says when this keygate keeps none, rather than that there were none", () => {
    render(<RecentRequestsView page={{ kept: 0, requests: [] }} now={NOW} />);
    expect(screen.getByText(/This keygate keeps no recent requests/)).toHaveTextContent(
      "This keygate keeps no recent requests (analytics.recent_requests = 0).",
    );
    expect(screen.queryByText(/No requests with this key yet/)).toBeNull();
  });

  it("reads my key's requests, and again every 5 s", async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true });
    let answer: RecentPage = { kept: 50, requests: [] };
    const api = mockApi({ "GET /api/me/tokens/k1/recent": () => json(200, answer) });
    renderWithApi(<RecentRequests scope="me" id="k1" />);
    expect(await screen.findByRole("heading", { level: 2, name: "Recent requests" })).toBeInTheDocument();
    await screen.findByText("No requests with this key yet.");
    expect(api.calls.filter((c) => c.path === "/api/me/tokens/k1/recent")).toHaveLength(1);
    expect(api.fetch.mock.calls[0]?.[0]).toContain("/api/me/tokens/k1/recent?limit=50");

    answer = { kept: 50, requests: [request({ at_ms: Date.now() - 2000, path: "/v1/new" })] };
    await act(async () => {
      await vi.advanceTimersByTimeAsync(5_000);
    });
    await screen.findByText("/v1/new");
    expect(api.calls.filter((c) => c.path === "/api/me/tokens/k1/recent")).toHaveLength(2);
  });

  it("reads anyone's key through the admin's route", async () => {
    const api = mockApi({ "GET /api/tokens/k1/recent": () => json(200, page) });
    renderWithApi(<RecentRequests scope="any" id="k1" />);
    await screen.findByText("/admin/users");
    expect(api.calls.map((c) => c.path)).toContain("/api/tokens/k1/recent");
  });

  it("asks nothing while the key is being deleted", () => {
    const api = mockApi({});
    renderWithApi(<RecentRequests scope="me" id="k1" enabled={false} />);
    expect(api.calls.filter((c) => c.path.endsWith("/recent"))).toHaveLength(0);
  });
});

describe("how long ago", () => {
  it("counts seconds, then minutes, hours and days", () => {
    expect(ago(at(0), NOW)).toBe("just now");
    expect(ago(NOW + 3000, NOW)).toBe("just now");
    expect(ago(at(12), NOW)).toBe("12 s ago");
    expect(ago(at(59), NOW)).toBe("59 s ago");
    expect(ago(at(60), NOW)).toBe("1 min ago");
    expect(ago(at(3 * 3600 + 10), NOW)).toBe("3 h ago");
    expect(ago(at(2 * 86_400), NOW)).toBe("2 d ago");
  });

  it("writes the date too once it is not today", () => {
    const time = (ms: number) =>
      new Date(ms).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
    expect(clock(at(12), NOW)).toBe(time(at(12)));
    const before = clock(at(3 * 86_400), NOW);
    expect(before).toContain(time(at(3 * 86_400)));
    expect(before).not.toBe(time(at(3 * 86_400)));
  });
});

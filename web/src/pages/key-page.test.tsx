import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { Route, Routes } from "react-router-dom";
import { describe, expect, it, vi } from "vitest";
import type { Token, UsageSeries } from "../lib/schemas";
import { token } from "../test-fixtures";
import { type Route as ApiRoute, json, mockApi, renderWithApi } from "../test-render";
import { absolute } from "../lib/format";
import { KeyPage } from "./key-page";

// jsdom has no canvas: the chart's drawing is uPlot's business, the figures are ours.
vi.mock("uplot", () => {
  class FakePlot {
    static paths = {};
    setSize() {}
    destroy() {}
  }
  return { default: FakePlot };
});

const zero = { allowed: 0, forbidden: 0, refused: 0, rate_limited: 0, usage_exceeded: 0 };
const series: UsageSeries = {
  from: "2026-12-01T00:00:00Z",
  to: "2026-12-01T02:00:00Z",
  step: "hour",
  totals: { ...zero, allowed: 7, rate_limited: 2 },
  points: [
    { t: "2026-12-01T00:00:00Z", ...zero, allowed: 4 },
    { t: "2026-12-01T01:00:00Z", ...zero, allowed: 3, rate_limited: 2 },
  ],
};

const key: Token = {
  ...token,
  expires_at: "2027-01-01T00:00:00Z",
  rules: [{ hosts: ["api.example.com"], paths: ["/v1/*"], methods: ["GET"] }],
  metadata: { team: "search" },
  replaces: "k0",
};

function setup(routes: Record<string, ApiRoute>, scope: "me" | "any" = "me") {
  const api = mockApi({
    "GET /api/me": () => json(200, { subject: "alice", admin: scope === "any", auth: "oidc", single_operator: false }),
    // The recent-requests panel (its own tests are in recent-requests.test.tsx).
    "GET /api/me/tokens/k1/recent": () => json(200, { requests: [], kept: 50 }),
    "GET /api/tokens/k1/recent": () => json(200, { requests: [], kept: 50 }),
    ...routes,
  });
  const base = scope === "me" ? "/keys" : "/admin/keys";
  renderWithApi(
    <Routes>
      <Route path={`${base}/:id`} element={<KeyPage scope={scope} />} />
      <Route path="/keys" element={<p>the list</p>} />
      <Route path="/admin/owners/:owner" element={<p>the owner&apos;s list</p>} />
    </Routes>,
    `${base}/k1`,
  );
  return { api, user: userEvent.setup() };
}

describe("a key's page", () => {
  it("shows the key and its usage, with the figures as a table", async () => {
    const { api, user } = setup({
      "GET /api/me/tokens/k1": () => json(200, key),
      "GET /api/me/tokens/k1/usage": () => json(200, series),
    });
    expect(await screen.findByRole("heading", { level: 1, name: /first/ })).toBeInTheDocument();
    expect(screen.getByText("k1")).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Copy id" })).toBeInTheDocument();
    expect(screen.getByText("GET · api.example.com · /v1/*")).toBeInTheDocument();
    expect(screen.getByText("team")).toBeInTheDocument();
    // The key it replaces was revoked with its rotation (no grace): said, not linked.
    expect(await screen.findByText("(revoked: no longer exists)")).toBeInTheDocument();
    expect(screen.getByText(absolute("2027-01-01T00:00:00Z"))).toHaveAttribute("datetime", "2027-01-01T00:00:00Z");

    const table = await screen.findByRole("table", { name: /Requests over the last 24 hours/ });
    const total = within(table).getByRole("row", { name: /Total/ });
    expect(within(total).getAllByRole("cell").map((c) => c.textContent)).toEqual(["7", "0", "0", "2", "0"]);
    expect(screen.getByRole("img", { name: /9 requests: 7 allowed, 2 refused/ })).toBeInTheDocument();
    const first = api.calls.find((c) => c.path === "/api/me/tokens/k1/usage");
    expect(first).toBeDefined();

    await user.click(screen.getByRole("button", { name: "7d" }));
    expect(screen.getByRole("button", { name: "7d" })).toHaveAttribute("aria-pressed", "true");
    await screen.findByRole("table", { name: /Requests over the last 7 days/ });
    expect(api.calls.filter((c) => c.path === "/api/me/tokens/k1/usage")).toHaveLength(2);
  });

  it("shows what the upstream answered behind the inline proxy, with the error rate", async () => {
    const totals = { ...series.totals, upstream_2xx: 90, upstream_4xx: 4, upstream_5xx: 5, upstream_failed: 1 };
    setup({
      "GET /api/me/tokens/k1": () => json(200, key),
      "GET /api/me/tokens/k1/usage": () => json(200, { ...series, totals }),
    });
    expect(await screen.findByText("Upstream error rate 6.0%")).toBeInTheDocument();
    expect(screen.getByText(/of 100 answers: 90 2xx · 0 3xx · 4 4xx · 5 5xx · 1 without an answer/)).toBeInTheDocument();
  });

  it("says nothing of an upstream when there is none", async () => {
    setup({
      "GET /api/me/tokens/k1": () => json(200, key),
      "GET /api/me/tokens/k1/usage": () => json(200, series),
    });
    await screen.findByRole("table", { name: /Requests over the last 24 hours/ });
    expect(screen.queryByText(/Upstream error rate/)).not.toBeInTheDocument();
  });

  it("says when a range is too long for its step, and is otherwise usable", async () => {
    setup({
      "GET /api/me/tokens/k1": () => json(200, key),
      "GET /api/me/tokens/k1/usage": () => json(422, { error: "invalid", message: "step: too many buckets", field: "step" }),
    });
    expect(await screen.findByRole("alert")).toHaveTextContent("too many buckets");
    expect(screen.getByRole("button", { name: "Revoke" })).toBeInTheDocument();
  });

  it("disables and enables the key", async () => {
    const { api, user } = setup({
      "GET /api/me/tokens/k1": () => json(200, key),
      "GET /api/me/tokens/k1/usage": () => json(200, series),
      "PATCH /api/me/tokens/k1": () => json(200, { ...key, disabled: true, status: "disabled" }),
    });
    await user.click(await screen.findByRole("button", { name: "Disable" }));
    await waitFor(() => {
      expect(api.writes()).toEqual([{ method: "PATCH", path: "/api/me/tokens/k1", body: { disabled: true } }]);
    });
  });

  it("revokes through the same dialog as the list, then goes back to the list", async () => {
    const { api, user } = setup({
      "GET /api/me/tokens/k1": () => json(200, key),
      "GET /api/me/tokens/k1/usage": () => json(200, series),
      "DELETE /api/me/tokens/k1": () => new Response(null, { status: 204 }),
    });
    await user.click(await screen.findByRole("button", { name: "Revoke" }));
    const dialog = screen.getByRole("dialog", { name: /Revoke “first”/ });
    await user.click(within(dialog).getByRole("button", { name: /Revoke/ }));
    expect(await screen.findByText("the list")).toBeInTheDocument();
    expect(api.writes()).toEqual([{ method: "DELETE", path: "/api/me/tokens/k1", body: undefined }]);
    // Not read again once deleted (it would only answer 404).
    expect(api.calls.filter((c) => c.method === "GET" && c.path === "/api/me/tokens/k1")).toHaveLength(1);
  });

  it("for an admin, reads any key and changes it through its owner's routes", async () => {
    const { api, user } = setup(
      {
        "GET /api/tokens/k1": () => json(200, key),
        "GET /api/tokens/k1/usage": () => json(200, series),
        "PATCH /api/users/alice/tokens/k1": () => json(200, key),
      },
      "any",
    );
    const owners = await screen.findAllByRole("link", { name: "alice" });
    expect(owners.map((a) => a.getAttribute("href"))).toEqual(["/admin/owners/alice", "/admin/owners/alice"]);
    expect(await screen.findByRole("link", { name: "k0" })).toHaveAttribute("href", "/admin/keys/k0");
    await user.click(screen.getByRole("button", { name: "Disable" }));
    await waitFor(() => {
      expect(api.writes()).toEqual([{ method: "PATCH", path: "/api/users/alice/tokens/k1", body: { disabled: true } }]);
    });
  });

  it("links the key it replaces and the one that replaced it, by name", async () => {
    const old: Token = { ...key, id: "k0", name: "deploys (old)", hint: "kg_Old…", replaces: null, replaced_by: "k1", status: "rotating", grace_until: "2026-12-02T00:00:00Z" };
    const { user } = setup({
      "GET /api/me/tokens/k1": () => json(200, key),
      "GET /api/me/tokens/k0": () => json(200, old),
      "GET /api/me/tokens/k1/usage": () => json(200, series),
      "GET /api/me/tokens/k0/usage": () => json(200, series),
    });
    const link = await screen.findByRole("link", { name: "deploys (old) kg_Old…" });
    expect(link).toHaveAttribute("href", "/keys/k0");
    await user.click(link);
    expect(await screen.findByRole("heading", { level: 1, name: /deploys \(old\)/ })).toBeInTheDocument();
    expect(await screen.findByRole("link", { name: /first/ })).toHaveAttribute("href", "/keys/k1");
    expect(screen.getByTestId("replaced-by")).toHaveTextContent("this key’s rotation");
  });

  it("says when an expired key expired", async () => {
    setup({
      "GET /api/me/tokens/k1": () => json(200, { ...key, status: "expired", expires_at: "2026-01-01T00:00:00Z" }),
      "GET /api/me/tokens/k1/usage": () => json(200, series),
    });
    const expiry = await screen.findByTestId("key-expiry");
    expect(expiry).toHaveTextContent(`expired on ${absolute("2026-01-01T00:00:00Z")}`);
    expect(expiry).toHaveTextContent(/ago\)/);
    expect(screen.getByText("Expired", { selector: "dt" })).toBeInTheDocument();
  });

  it("keeps the key on screen when a refresh fails, under a banner", async () => {
    let fail = false;
    const { user } = setup({
      "GET /api/me/tokens/k1": () => (fail ? json(503, { error: "unavailable", message: "keygate is restarting" }) : json(200, key)),
      "GET /api/me/tokens/k1/usage": () => json(200, series),
      "PATCH /api/me/tokens/k1": () => {
        fail = true;
        return json(200, key);
      },
    });
    // A change refetches the key; that refetch fails.
    await user.click(await screen.findByRole("button", { name: "Disable" }));
    expect(await screen.findByText(/Could not refresh the key:/)).toBeInTheDocument();
    expect(screen.getByText(/keygate is restarting/)).toBeInTheDocument();
    expect(screen.getByRole("heading", { level: 1, name: /first/ })).toBeInTheDocument();
    expect(screen.getByText("GET · api.example.com · /v1/*")).toBeInTheDocument();
    fail = false;
    await user.click(screen.getByRole("button", { name: "Try again" }));
    await waitFor(() => {
      expect(screen.queryByText(/Could not refresh the key:/)).not.toBeInTheDocument();
    });
  });

  it("says when the key is not there", async () => {
    setup({ "GET /api/me/tokens/k1": () => json(404, { error: "not_found", message: "no such key" }) });
    expect(await screen.findByRole("alert")).toHaveTextContent("no such key");
  });
});

describe("a key the gate refuses now, and its credits", () => {
  const metered: Token = {
    ...key,
    limits: { rate_limits: [], credits: { remaining: 0, refill: null } },
    refused_now: { code: "usage_exceeded", scope: "key", reason: "the key's credits are used up" },
  };

  it("says near the status that an active key is refused, and why", async () => {
    setup({
      "GET /api/me/tokens/k1": () =>
        json(200, {
          ...key,
          refused_now: { code: "usage_exceeded", scope: "owner", reason: "alice's shared credits are used up" },
        }),
      "GET /api/me/tokens/k1/usage": () => json(200, series),
    });
    const heading = await screen.findByRole("heading", { level: 1, name: /first/ });
    expect(heading).toHaveTextContent("Active");
    expect(heading).toHaveTextContent("Refused");
    const notice = screen.getByTestId("refused-now");
    expect(notice).toHaveTextContent("Refused now — alice's shared credits are used up.");
    expect(notice).toHaveTextContent("until an administrator raises your shared credits");
    // Not an admin: no "Add credits".
    expect(screen.queryByRole("button", { name: "Add credits" })).not.toBeInTheDocument();
  });

  it("says nothing of it for a key the gate takes", async () => {
    setup({ "GET /api/me/tokens/k1": () => json(200, key), "GET /api/me/tokens/k1/usage": () => json(200, series) });
    await screen.findByRole("heading", { level: 1, name: /first/ });
    expect(screen.queryByTestId("refused-now")).not.toBeInTheDocument();
    expect(screen.queryByText("Refused")).not.toBeInTheDocument();
  });

  it("lets an admin add credits: the balance shows at once, and the refusal goes", async () => {
    let current: Token = metered;
    const { api, user } = setup(
      {
        "GET /api/tokens/k1": () => json(200, current),
        "GET /api/tokens/k1/usage": () => json(200, series),
        "POST /api/tokens/k1/credits": (body) => {
          const add = (body as { add: number }).add;
          current = { ...metered, limits: { rate_limits: [], credits: { remaining: add, refill: null } }, refused_now: undefined };
          return json(200, current);
        },
      },
      "any",
    );
    const limits = await screen.findByTestId("key-limits");
    expect(limits).toHaveTextContent("no credits left");
    expect(screen.getByTestId("refused-now")).toHaveTextContent("Add credits to the key");
    await user.type(within(limits).getByLabelText("Credits to add"), "1 500");
    await user.click(within(limits).getByRole("button", { name: "Add credits" }));
    const adding = within(limits).getByRole("form", { name: /Add credits to/ });
    expect(await within(adding).findByRole("status")).toHaveTextContent(/Added 1\s500 credits: 1\s500 credits left\./);
    expect(api.writes()).toEqual([{ method: "POST", path: "/api/tokens/k1/credits", body: { add: 1500 } }]);
    expect(limits).toHaveTextContent(/1\s500 credits left/);
    expect(within(limits).getByLabelText("Credits to add")).toHaveValue("");
    expect(screen.queryByTestId("refused-now")).not.toBeInTheDocument();
  });

  it("lets an admin set the balance, zero included, keeping the refill", async () => {
    let current: Token = metered;
    const { api, user } = setup(
      {
        "GET /api/tokens/k1": () => json(200, current),
        "GET /api/tokens/k1/usage": () => json(200, series),
        "PATCH /api/tokens/k1": (body) => {
          const remaining = (body as { limits: { credits: { remaining: number } } }).limits.credits.remaining;
          current = { ...metered, limits: { rate_limits: [], credits: { remaining, refill: null } } };
          return json(200, current);
        },
      },
      "any",
    );
    const limits = await screen.findByTestId("key-limits");
    const setting = within(limits).getByRole("form", { name: /Set the balance of/ });
    await user.type(within(setting).getByLabelText("New balance"), "0");
    await user.click(within(setting).getByRole("button", { name: "Set balance" }));
    expect(await within(setting).findByRole("status")).toHaveTextContent(/Balance set to 0/);
    expect(api.writes()).toEqual([{ method: "PATCH", path: "/api/tokens/k1", body: { limits: { credits: { remaining: 0 } } } }]);
  });

  it("shows what is wrong with the number, its own or the server's, on the field", async () => {
    const { api, user } = setup(
      {
        "GET /api/tokens/k1": () => json(200, metered),
        "GET /api/tokens/k1/usage": () => json(200, series),
        "POST /api/tokens/k1/credits": () =>
          json(422, { error: "invalid", message: "the balance would be over 1000000000000000", field: "add" }),
      },
      "any",
    );
    const field = await screen.findByLabelText("Credits to add");
    await user.type(field, "12.5");
    await user.click(screen.getByRole("button", { name: "Add credits" }));
    expect(field).toHaveAttribute("aria-invalid", "true");
    expect(field).toHaveAccessibleDescription("Enter a whole number of credits, 1 or more.");
    expect(api.writes()).toEqual([]);

    await user.clear(field);
    await user.type(field, "999999999999999");
    await user.click(screen.getByRole("button", { name: "Add credits" }));
    await waitFor(() => {
      expect(field).toHaveAccessibleDescription("the balance would be over 1000000000000000");
    });
    expect(field).toHaveAttribute("aria-invalid", "true");
  });

  it("offers no credits to add to a key without a balance", async () => {
    setup({ "GET /api/tokens/k1": () => json(200, key), "GET /api/tokens/k1/usage": () => json(200, series) }, "any");
    await screen.findByRole("heading", { level: 1, name: /first/ });
    expect(screen.queryByLabelText("Credits to add")).not.toBeInTheDocument();
  });
});

describe("the limits the owner's keys share, on a key's page", () => {
  const sharedOut = {
    rate_limits: [{ name: "per-minute", limit: 600, window: "1m" }],
    credits: { remaining: 0, refill: { amount: 1000, interval: "monthly" } },
  };
  const refused: Token = {
    ...key,
    refused_now: { code: "usage_exceeded", scope: "owner", reason: "alice's shared credits are used up" },
  };

  it("shows an admin the owner's, where they stand, that they refuse the key, and the way to the owner", async () => {
    const { api } = setup(
      {
        "GET /api/tokens/k1": () => json(200, refused),
        "GET /api/tokens/k1/usage": () => json(200, series),
        "GET /api/users/alice/limits": () => json(200, { owner: "alice", source: "owner", limits: sharedOut }),
      },
      "any",
    );
    const panel = await screen.findByRole("region", { name: "Limits shared by all of alice’s keys" });
    await within(panel).findByText(/no credits left/);
    expect(panel).toHaveTextContent("600/1m");
    expect(panel).toHaveTextContent("Set for alice by an administrator.");
    expect(panel).toHaveTextContent("These shared credits are used up: they are what refuses this key now");
    expect(within(panel).getByRole("link", { name: "alice’s keys and limits" })).toHaveAttribute("href", "/admin/owners/alice");
    expect(api.calls.some((c) => c.path === "/api/me/limits")).toBe(false);
  });

  it("shows the owner of the key their own, from /api/me/limits, and says nothing of refusing when they do not", async () => {
    setup({
      "GET /api/me/tokens/k1": () => json(200, key),
      "GET /api/me/tokens/k1/usage": () => json(200, series),
      "GET /api/me/limits": () =>
        json(200, { owner: "alice", source: "default", limits: { rate_limits: [], credits: { remaining: 40, refill: null } } }),
    });
    const panel = await screen.findByRole("region", { name: "Limits shared by all of your keys" });
    await within(panel).findByText(/40 credits left/);
    expect(panel).toHaveTextContent("The default for everyone");
    expect(panel).not.toHaveTextContent("what refuses this key");
    expect(within(panel).queryByRole("link")).toBeNull();
  });
});

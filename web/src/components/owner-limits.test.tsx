import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import type { OwnerLimits } from "../lib/schemas";
import { limitedToken } from "../test-fixtures";
import { json, mockApi, renderWithApi } from "../test-render";
import { MyLimits, OwnerLimitsPanel } from "./owner-limits";

const own: OwnerLimits = { owner: "alice", source: "owner", limits: limitedToken.limits };
const byDefault: OwnerLimits = {
  owner: "alice",
  source: "default",
  limits: { rate_limits: [{ name: "all", limit: 1000, window: "1h" }], credits: null },
};

describe("the owner's limits panel (admin)", () => {
  it("shows the owner's limits and where they come from", async () => {
    mockApi({ "GET /api/users/alice/limits": () => json(200, own) });
    renderWithApi(<OwnerLimitsPanel owner="alice" />);
    const panel = await screen.findByRole("region", { name: "Limits shared by all of alice’s keys" });
    await waitFor(() => {
      expect(panel).toHaveTextContent("100/1m · 5 000/1h");
    });
    expect(within(panel).getByText("9 950 credits left")).toBeInTheDocument();
    expect(within(panel).getByText("refills 10 000 monthly")).toHaveClass("muted");
    expect(panel).toHaveTextContent("Set for alice by an administrator.");
    expect(within(panel).getByText("own limits")).toHaveClass("badge");
  });

  it("PUTs the edited limits in full and shows the answer", async () => {
    const saved: OwnerLimits = {
      owner: "alice",
      source: "owner",
      limits: { rate_limits: [{ name: "per-minute", limit: 50, window: "1m" }], credits: null },
    };
    const api = mockApi({
      "GET /api/users/alice/limits": () => json(200, byDefault),
      "PUT /api/users/alice/limits": () => json(200, saved),
    });
    const user = userEvent.setup();
    renderWithApi(<OwnerLimitsPanel owner="alice" />);
    await user.click(await screen.findByRole("button", { name: "Edit owner limits" }));
    const form = screen.getByRole("form", { name: "Limits of alice" });
    expect(within(form).getByLabelText("Name, rate limit 1")).toHaveValue("all");
    await user.clear(within(form).getByLabelText("Name, rate limit 1"));
    await user.type(within(form).getByLabelText("Name, rate limit 1"), "per-minute");
    await user.clear(within(form).getByLabelText("Requests, rate limit 1"));
    await user.type(within(form).getByLabelText("Requests, rate limit 1"), "50");
    await user.selectOptions(within(form).getByLabelText("Window unit, rate limit 1"), "m");
    await user.clear(within(form).getByLabelText("Per window, rate limit 1"));
    await user.type(within(form).getByLabelText("Per window, rate limit 1"), "1");
    await user.click(within(form).getByRole("button", { name: "Save owner limits" }));
    await waitFor(() => {
      expect(api.writes()).toEqual([
        {
          method: "PUT",
          path: "/api/users/alice/limits",
          body: { rate_limits: [{ name: "per-minute", limit: 50, window: "1m" }], credits: null },
        },
      ]);
    });
    await screen.findByText("50/1m");
    expect(screen.queryByRole("form")).not.toBeInTheDocument();
    expect(screen.getByText("Set for alice by an administrator.")).toBeInTheDocument();
  });

  it("sends nothing while a field is wrong, and shows the server's refusal", async () => {
    const api = mockApi({
      "GET /api/users/alice/limits": () => json(200, own),
      "PUT /api/users/alice/limits": () =>
        json(422, { error: "invalid", field: "limits", message: "limits: credits.remaining is over 10^15" }),
    });
    const user = userEvent.setup();
    renderWithApi(<OwnerLimitsPanel owner="alice" />);
    await user.click(await screen.findByRole("button", { name: "Edit owner limits" }));
    const balance = screen.getByLabelText("Credits left");
    await user.clear(balance);
    await user.type(balance, "1.5");
    await user.click(screen.getByRole("button", { name: "Save owner limits" }));
    expect(balance).toHaveAccessibleDescription("A whole number, without decimals.");
    expect(api.writes()).toEqual([]);
    await user.clear(balance);
    await user.type(balance, "20000");
    await user.click(screen.getByRole("button", { name: "Save owner limits" }));
    await screen.findByText("limits: credits.remaining is over 10^15");
    expect(api.writes()).toHaveLength(1);
    expect(api.writes()[0]?.body).toEqual({ ...limitedToken.limits, credits: { remaining: 20_000, refill: { amount: 10_000, interval: "monthly" } } });
  });

  it("resets the owner to the default with a DELETE, after asking", async () => {
    let current = own;
    const api = mockApi({
      "GET /api/users/alice/limits": () => json(200, current),
      "DELETE /api/users/alice/limits": () => {
        current = byDefault;
        return new Response(null, { status: 204 });
      },
    });
    const user = userEvent.setup();
    renderWithApi(<OwnerLimitsPanel owner="alice" />);
    await user.click(await screen.findByRole("button", { name: "Reset to the default" }));
    expect(screen.getByText(/Drop alice’s own limits\?/)).toBeInTheDocument();
    await user.click(screen.getByRole("button", { name: "Keep them" }));
    expect(api.writes()).toEqual([]);
    await user.click(screen.getByRole("button", { name: "Reset to the default" }));
    const confirm = screen.getByText(/Drop alice’s own limits\?/).closest(".confirm-reset");
    await user.click(within(confirm as HTMLElement).getByRole("button", { name: "Reset to the default" }));
    await screen.findByText("1 000/1h");
    expect(api.writes()).toEqual([{ method: "DELETE", path: "/api/users/alice/limits", body: undefined }]);
    expect(screen.getByText(/The default for owners/)).toBeInTheDocument();
    // Nothing of alice's own left to reset.
    expect(screen.queryByRole("button", { name: "Reset to the default" })).not.toBeInTheDocument();
  });
});

describe("my limits", () => {
  it("are shown read-only when there are any", async () => {
    mockApi({ "GET /api/me/limits": () => json(200, { ...byDefault, owner: "bob" }) });
    renderWithApi(<MyLimits />);
    const panel = await screen.findByRole("region", { name: "Limits on all your keys" });
    expect(panel).toHaveTextContent("1 000/1h");
    expect(panel).toHaveTextContent("The default for everyone");
    expect(within(panel).queryByRole("button")).not.toBeInTheDocument();
  });

  it.each([
    ["there are none", () => json(200, { owner: "bob", source: "none", limits: { rate_limits: [], credits: null } })],
    ["the server does not know limits", () => json(404, { error: "not_found", message: "no such route" })],
  ])("are not shown when %s", async (_, answer) => {
    const api = mockApi({ "GET /api/me/limits": answer });
    renderWithApi(<MyLimits />);
    await waitFor(() => {
      expect(api.calls.map((c) => c.path)).toContain("/api/me/limits");
    });
    await new Promise((r) => setTimeout(r, 20));
    expect(screen.queryByRole("region")).not.toBeInTheDocument();
  });
});

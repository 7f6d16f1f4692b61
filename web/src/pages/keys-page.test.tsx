import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import type { Created, Me } from "../lib/schemas";
import { limitedToken, me, token } from "../test-fixtures";
import { type Route, json, mockApi, renderWithApi } from "../test-render";
import { KeysPage } from "./keys-page";

const page = (tokens = [token, limitedToken]) => json(200, { tokens, damaged: [] });
const noLimits = () => json(200, { owner: "alice", source: "none", limits: { rate_limits: [], credits: null } });

function setup(routes: Record<string, Route>, who: Me = me) {
  const api = mockApi({
    "GET /api/me": () => json(200, who),
    "GET /api/me/tokens": () => page(),
    "GET /api/me/limits": noLimits,
    ...routes,
  });
  renderWithApi(<KeysPage scope={{ kind: "me" }} title="My keys" />);
  return { api, user: userEvent.setup() };
}

async function newKeyWithLimits(user: ReturnType<typeof userEvent.setup>) {
  await user.click(await screen.findByRole("button", { name: "New key" }));
  const dialog = screen.getByRole("dialog", { name: "New key" });
  await user.type(within(dialog).getByLabelText("Name"), "metered");
  await user.selectOptions(within(dialog).getByLabelText("Expires"), "never");
  await user.click(within(dialog).getByLabelText(/Set limits for this key/));
  await user.click(within(dialog).getByRole("button", { name: "Add a rate limit" }));
  await user.type(within(dialog).getByLabelText("Name, rate limit 1"), "burst");
  await user.type(within(dialog).getByLabelText("Requests, rate limit 1"), "3");
  await user.click(within(dialog).getByLabelText(/Count credits/));
  await user.type(within(dialog).getByLabelText("Credits left"), "5");
  return dialog;
}

describe("keys with limits, against the API", () => {
  it("POSTs a new key's limits in the contract's shape", async () => {
    const made = { ...token, id: "k9", name: "metered" };
    const created: Created = { key: "kg_x", id: "k9", hint: "kg_x…", token: made };
    const { api, user } = setup({ "POST /api/me/tokens": () => json(201, created) });
    const dialog = await newKeyWithLimits(user);
    await user.click(within(dialog).getByRole("button", { name: "Create key" }));
    await screen.findByRole("dialog", { name: "Your new key" });
    expect(api.writes()).toEqual([
      {
        method: "POST",
        path: "/api/me/tokens",
        body: {
          name: "metered",
          expires_at: null,
          rules: [],
          metadata: {},
          limits: { rate_limits: [{ name: "burst", limit: 3, window: "1m" }], credits: { remaining: 5, refill: null } },
        },
      },
    ]);
  });

  it("sends nothing while a limit is wrong", async () => {
    const { api, user } = setup({});
    const dialog = await newKeyWithLimits(user);
    const per = within(dialog).getByLabelText("Per window, rate limit 1");
    await user.clear(per);
    await user.type(per, "745");
    await user.selectOptions(within(dialog).getByLabelText("Window unit, rate limit 1"), "h");
    await user.click(within(dialog).getByRole("button", { name: "Create key" }));
    expect(per).toHaveAccessibleDescription("At most 31 days.");
    expect(per).toHaveFocus();
    expect(api.writes()).toEqual([]);
  });

  it("says limits can only be tightened, and shows the server's limits_locked refusal", async () => {
    const { api, user } = setup({
      "POST /api/me/tokens": () =>
        json(403, { error: "limits_locked", message: "credits: 5 is more than the default of 0 for new keys" }),
    });
    const dialog = await newKeyWithLimits(user);
    const section = within(dialog).getByRole("group", { name: "Limits" });
    expect(section).toHaveTextContent("You can only tighten limits; ask an administrator to raise them.");
    await user.click(within(dialog).getByRole("button", { name: "Create key" }));
    await within(section).findByText("credits: 5 is more than the default of 0 for new keys");
    expect(api.writes()).toHaveLength(1);
    expect(screen.getByRole("dialog", { name: "New key" })).toBeInTheDocument();
  });

  it("does not say so to someone who may raise limits", async () => {
    const { user } = setup({}, { ...me, may_raise_limits: true });
    await user.click(await screen.findByRole("button", { name: "New key" }));
    expect(screen.queryByText(/only tighten limits/)).not.toBeInTheDocument();
  });

  it("PATCHes only the limits that changed", async () => {
    const { api, user } = setup({
      "PATCH /api/me/tokens/k2": () => json(200, limitedToken),
    });
    await user.click(await screen.findByRole("button", { name: "Edit limited" }));
    const dialog = screen.getByRole("dialog", { name: "Edit “limited”" });
    const requests = within(dialog).getByLabelText("Requests, rate limit 2");
    await user.clear(requests);
    await user.type(requests, "4000");
    await user.click(within(dialog).getByRole("button", { name: "Save changes" }));
    await waitFor(() => {
      expect(api.writes()).toHaveLength(1);
    });
    const body = api.writes()[0]?.body as Record<string, unknown>;
    expect(body.limits).toEqual({
      rate_limits: [
        { name: "per-minute", limit: 100, window: "1m" },
        { name: "per-hour", limit: 4000, window: "1h" },
      ],
    });
    await waitFor(() => {
      expect(screen.queryByRole("dialog")).not.toBeInTheDocument();
    });
  });

  it("shows my owner limits, read-only, above my keys", async () => {
    setup({ "GET /api/me/limits": () => json(200, { owner: "alice", source: "owner", limits: limitedToken.limits }) });
    const mine = await screen.findByRole("region", { name: "Limits on all your keys" });
    expect(mine).toHaveTextContent("100/1m · 5 000/1h");
    expect(within(mine).queryByRole("button")).not.toBeInTheDocument();
  });

  it("shows an admin the owner's limits panel on the owner's page", async () => {
    mockApi({
      "GET /api/me": () => json(200, { ...me, subject: "carol", admin: true }),
      "GET /api/users/bob/tokens": () => page([{ ...token, owner: "bob" }]),
      "GET /api/users/bob/limits": () => json(200, { owner: "bob", source: "none", limits: { rate_limits: [], credits: null } }),
    });
    renderWithApi(<KeysPage scope={{ kind: "owner", owner: "bob" }} title="Keys of bob" />);
    const panel = await screen.findByRole("region", { name: "Limits shared by all of bob’s keys" });
    await within(panel).findByText(/None: bob’s keys are limited only by their own limits/);
    expect(within(panel).getByRole("button", { name: "Edit owner limits" })).toBeInTheDocument();
  });
});

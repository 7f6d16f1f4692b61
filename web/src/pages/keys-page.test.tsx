import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { useLocation } from "react-router-dom";
import { describe, expect, it } from "vitest";
import type { Created, Me } from "../lib/schemas";
import { limitedToken, me, token } from "../test-fixtures";
import { type Route, json, mockApi, renderWithApi } from "../test-render";
import { KeysPage } from "./keys-page";

const page = (tokens = [token, limitedToken]) => json(200, { tokens, damaged: [], total: tokens.length });
const noLimits = () => json(200, { owner: "alice", source: "none", limits: { rate_limits: [], credits: null } });

/** Where the app is: the list keeps its state in the URL. */
function Where() {
  const l = useLocation();
  return <output data-testid="where">{l.pathname + l.search}</output>;
}

function setup(routes: Record<string, Route>, who: Me = me, route = "/keys") {
  const api = mockApi({
    "GET /api/me": () => json(200, who),
    "GET /api/me/tokens": () => page(),
    "GET /api/me/limits": noLimits,
    "GET /api/me/usage": () => json(404, { error: "not_found", message: "no usage here" }),
    ...routes,
  });
  renderWithApi(
    <>
      <KeysPage scope={{ kind: "me" }} title="My keys" />
      <Where />
    </>,
    route,
  );
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
    await user.click(await screen.findByRole("button", { name: "Actions for limited" }));
    await user.click(screen.getByRole("menuitem", { name: "Edit" }));
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

describe("the whole list, against the API", () => {
  it("fetches every page, 500 keys a request, without being asked", async () => {
    const second = { ...token, id: "k3", name: "second page" };
    const { api } = setup({
      "GET /api/me/tokens": (_b, url) =>
        url.searchParams.get("cursor") === "c1"
          ? page([second])
          : json(200, { tokens: [token, limitedToken], next_cursor: "c1", damaged: [], total: 4 }),
    });
    await screen.findByRole("link", { name: "second page" });
    const asked = (api.fetch.mock.calls as unknown[][]).map((c) => String(c[0])).filter((u) => u.includes("/api/me/tokens"));
    expect(asked).toEqual(["/api/me/tokens?limit=500", "/api/me/tokens?limit=500&cursor=c1"]);
    expect(screen.getByText("3 keys")).toBeInTheDocument();
  });

  it("takes filter, sort and page from the URL and writes changes back", async () => {
    const { user } = setup({}, me, "/keys?q=limit&sort=name:desc");
    await screen.findByRole("link", { name: "limited" });
    expect(screen.queryByRole("link", { name: "first" })).not.toBeInTheDocument();
    expect(screen.getByLabelText("Filter")).toHaveValue("limit");
    expect(screen.getByLabelText("Sort by")).toHaveValue("name:desc");
    await user.selectOptions(screen.getByLabelText("Status"), "disabled");
    expect(screen.getByTestId("where")).toHaveTextContent("/keys?q=limit&status=disabled&sort=name%3Adesc");
    await user.clear(screen.getByLabelText("Filter"));
    await user.selectOptions(screen.getByLabelText("Status"), "all");
    expect(screen.getByTestId("where")).toHaveTextContent(/^\/keys\?sort=name%3Adesc$/);
  });

  it("disables many keys after one confirmation, and keeps the refused ones selected", async () => {
    const { api, user } = setup({
      "PATCH /api/me/tokens/k1": () => json(200, { ...token, disabled: true, status: "disabled" }),
      "PATCH /api/me/tokens/k2": () => json(409, { error: "conflict", message: "the key changed meanwhile" }),
    });
    await user.click(await screen.findByRole("checkbox", { name: "Select all shown" }));
    await user.click(screen.getByRole("button", { name: "Disable selected" }));
    const dialog = screen.getByRole("dialog", { name: "Disable 2 keys?" });
    expect(within(dialog).getAllByRole("listitem")).toHaveLength(2);
    expect(api.writes()).toEqual([]);
    await user.click(within(dialog).getByRole("button", { name: "Disable 2 keys" }));
    await within(dialog).findByRole("alert");
    expect(api.writes().sort((a, b) => a.path.localeCompare(b.path))).toEqual([
      { method: "PATCH", path: "/api/me/tokens/k1", body: { disabled: true } },
      { method: "PATCH", path: "/api/me/tokens/k2", body: { disabled: true } },
    ]);
    const failed = screen.getByRole("dialog", { name: "Disable 1 key?" });
    expect(within(failed).getByRole("listitem")).toHaveTextContent("limited kg_a…the key changed meanwhile");
    await user.click(within(failed).getByRole("button", { name: "Done" }));
    expect(screen.getByRole("checkbox", { name: "Select limited" })).toBeChecked();
    expect(screen.getByRole("checkbox", { name: "Select first" })).not.toBeChecked();
  });

  it("revokes many keys and says so", async () => {
    let gone = false;
    const { api, user } = setup({
      "GET /api/me/tokens": () => page(gone ? [] : [token, limitedToken]),
      "DELETE /api/me/tokens/k1": () => new Response(null, { status: 204 }),
      "DELETE /api/me/tokens/k2": () => {
        gone = true;
        return new Response(null, { status: 204 });
      },
    });
    await user.click(await screen.findByRole("checkbox", { name: "Select first" }));
    await user.click(screen.getByRole("checkbox", { name: "Select limited" }));
    await user.click(screen.getByRole("button", { name: "Revoke selected" }));
    const dialog = screen.getByRole("dialog", { name: "Revoke 2 keys?" });
    await user.click(within(dialog).getByRole("button", { name: "Revoke 2 keys" }));
    await screen.findByText("2 keys revoked.");
    expect(screen.queryByRole("dialog")).not.toBeInTheDocument();
    expect(api.writes().map((w) => `${w.method} ${w.path}`).sort()).toEqual(["DELETE /api/me/tokens/k1", "DELETE /api/me/tokens/k2"]);
  });
});

describe("every matching key, and one key, from the list", () => {
  it("selects all N matching, fetching the pages not listed yet, and changes every one", async () => {
    const third = { ...token, id: "k3", name: "third" };
    let second = 0;
    const ok = (t: typeof token) => () => json(200, { ...t, disabled: true, status: "disabled" });
    const { api, user } = setup({
      "GET /api/me/tokens": (_b, url) => {
        if (url.searchParams.get("cursor") !== "c1")
          return json(200, { tokens: [token, limitedToken], next_cursor: "c1", damaged: [], total: 3 });
        // The list's own fetch of the second page hangs; "Select all" fetches it itself.
        second++;
        return second === 1 ? new Promise<Response>(() => undefined) : page([third]);
      },
      "PATCH /api/me/tokens/k1": ok(token),
      "PATCH /api/me/tokens/k2": ok(limitedToken),
      "PATCH /api/me/tokens/k3": ok(third),
    });
    await user.click(await screen.findByRole("checkbox", { name: "Select all shown" }));
    await user.click(screen.getByRole("button", { name: "Select all 3 matching" }));
    const bar = screen.getByRole("group", { name: "Selected keys" });
    await waitFor(() => {
      expect(bar).toHaveTextContent("3 selected");
    });
    await user.click(within(bar).getByRole("button", { name: "Disable selected" }));
    const dialog = screen.getByRole("dialog", { name: "Disable 3 keys?" });
    await user.click(within(dialog).getByRole("button", { name: "Disable 3 keys" }));
    await screen.findByText("3 keys disabled.");
    expect(api.writes().map((w) => w.path).sort()).toEqual(["/api/me/tokens/k1", "/api/me/tokens/k2", "/api/me/tokens/k3"]);
  });

  it("disables one key from its menu after a confirmation, leaving the selection alone", async () => {
    const { api, user } = setup({
      "PATCH /api/me/tokens/k1": () => json(200, { ...token, disabled: true, status: "disabled" }),
    });
    await user.click(await screen.findByRole("checkbox", { name: "Select limited" }));
    await user.click(screen.getByRole("button", { name: "Actions for first" }));
    await user.click(screen.getByRole("menuitem", { name: "Disable" }));
    const dialog = screen.getByRole("dialog", { name: "Disable 1 key?" });
    expect(within(dialog).getByRole("listitem")).toHaveTextContent("first");
    await user.click(within(dialog).getByRole("button", { name: "Disable 1 key" }));
    await screen.findByText("1 key disabled.");
    expect(api.writes()).toEqual([{ method: "PATCH", path: "/api/me/tokens/k1", body: { disabled: true } }]);
    expect(screen.getByRole("checkbox", { name: "Select limited" })).toBeChecked();
  });
});

describe("a bulk change that races another", () => {
  it("still names a key deleted meanwhile, with the server's reason", async () => {
    let gone = false;
    const { user } = setup({
      "GET /api/me/tokens": () => page(gone ? [token] : [token, limitedToken]),
      "PATCH /api/me/tokens/k1": () => json(200, { ...token, disabled: true, status: "disabled" }),
      "PATCH /api/me/tokens/k2": () => {
        gone = true;
        return json(404, { error: "not_found", message: "no such key" });
      },
    });
    await user.click(await screen.findByRole("checkbox", { name: "Select all shown" }));
    await user.click(screen.getByRole("button", { name: "Disable selected" }));
    await user.click(screen.getByRole("button", { name: "Disable 2 keys" }));
    const failed = await screen.findByRole("dialog", { name: "Disable 1 key?" });
    await waitFor(() => {
      expect(screen.queryByRole("link", { name: "limited" })).not.toBeInTheDocument();
    });
    expect(within(failed).getByRole("listitem")).toHaveTextContent("limited kg_a…no such key");
  });
});

describe("an admin's list of one owner's keys", () => {
  it("sends bulk changes to the owner's keys", async () => {
    const api = mockApi({
      "GET /api/me": () => json(200, { ...me, subject: "carol", admin: true }),
      "GET /api/users/bob/tokens": () => page([{ ...token, owner: "bob", disabled: true, status: "disabled" }]),
      "GET /api/users/bob/limits": () => json(200, { owner: "bob", source: "none", limits: { rate_limits: [], credits: null } }),
      "PATCH /api/users/bob/tokens/k1": () => json(200, { ...token, owner: "bob" }),
    });
    renderWithApi(<KeysPage scope={{ kind: "owner", owner: "bob" }} title="Keys of bob" />);
    const user = userEvent.setup();
    await user.click(await screen.findByRole("checkbox", { name: "Select first" }));
    await user.click(screen.getByRole("button", { name: "Enable selected" }));
    await user.click(within(screen.getByRole("dialog", { name: "Enable 1 key?" })).getByRole("button", { name: "Enable 1 key" }));
    await screen.findByText("1 key enabled.");
    expect(api.writes()).toEqual([{ method: "PATCH", path: "/api/users/bob/tokens/k1", body: { disabled: false } }]);
  });

  const bobs = [
    { ...token, owner: "bob" },
    { ...token, owner: "bob", id: "k2", name: "prod payments", metadata: { team: "payments" } },
  ];

  function ownerPage(tokens: Route, route = "/admin/owners/bob") {
    const api = mockApi({
      "GET /api/me": () => json(200, { ...me, subject: "carol", admin: true }),
      "GET /api/users/bob/tokens": tokens,
      "GET /api/users/bob/limits": () => json(200, { owner: "bob", source: "none", limits: { rate_limits: [], credits: null } }),
    });
    renderWithApi(
      <>
        <KeysPage scope={{ kind: "owner", owner: "bob" }} title="Keys of bob" />
        <Where />
      </>,
      route,
    );
    return { api, user: userEvent.setup() };
  }

  it("has the server search a moment after the typing stops, with the search in the URL", async () => {
    const asked: string[] = [];
    const { user } = ownerPage((_b, url) => {
      const q = url.searchParams.get("q") ?? "";
      asked.push(q);
      return page(q ? bobs.slice(1) : bobs);
    });
    await screen.findByRole("link", { name: "first" });
    expect(screen.getByLabelText("Filter")).toHaveAccessibleDescription(/status:disabled, unused:30d, refused:yes, team=payments/);
    await user.type(screen.getByLabelText("Filter"), "team=payments prod");
    expect(await screen.findByText("1 key found")).toBeInTheDocument();
    expect(screen.queryByRole("link", { name: "first" })).not.toBeInTheDocument();
    expect(screen.getByRole("link", { name: "prod payments" })).toBeInTheDocument();
    // A search for the whole text, not one a keystroke (18 of them).
    expect(asked[0]).toBe("");
    expect(asked.at(-1)).toBe("team=payments prod");
    expect(asked.length).toBeLessThan(6);
    expect(screen.getByTestId("where")).toHaveTextContent("?q=team%3Dpayments+prod");
  });

  it("shows the server's refusal of a search under the box, and keeps the keys it had", async () => {
    const { user } = ownerPage((_b, url) =>
      url.searchParams.get("q")
        ? json(400, { error: "bad_request", message: "status: must be active, disabled, expired or rotating", field: "q" })
        : page(bobs),
    );
    await screen.findByRole("link", { name: "first" });
    const box = screen.getByLabelText("Filter");
    await user.type(box, "status:bogus");
    expect(await screen.findByRole("alert")).toHaveTextContent("status: must be active, disabled, expired or rotating");
    expect(box).toHaveAttribute("aria-invalid", "true");
    expect(box).toHaveFocus();
    expect(screen.getByRole("link", { name: "first" })).toBeInTheDocument();
    await user.clear(box);
    await waitFor(() => {
      expect(screen.queryByRole("alert")).not.toBeInTheDocument();
    });
    expect(screen.getByText("2 keys")).toBeInTheDocument();
  });

  it("keeps the box when a shared link's search is refused before anything was listed", async () => {
    ownerPage(
      () => json(400, { error: "bad_request", message: "unknown filter: colour", field: "q" }),
      "/admin/owners/bob?q=colour:red",
    );
    expect(await screen.findByRole("alert")).toHaveTextContent("unknown filter: colour");
    expect(screen.getByLabelText("Filter")).toHaveValue("colour:red");
    expect(screen.getByText("No key matches.")).toBeInTheDocument();
  });
});

describe("everyone's keys (admin)", () => {
  const mixed = [
    { ...token, owner: "alice" },
    { ...token, owner: "bob", id: "k2", name: "prod payments" },
  ];

  function allPage(tokens: Route, route = "/admin/keys", extra: Record<string, Route> = {}) {
    const api = mockApi({
      "GET /api/me": () => json(200, { ...me, subject: "carol", admin: true }),
      "GET /api/tokens": tokens,
      "GET /api/users": () => json(200, { owners: [{ owner: "bob", keys: 1 }] }),
      "GET /api/roles": () => json(200, { roles: [] }),
      "GET /api/users/bob/roles": () => json(200, { owner: "bob", roles: [] }),
      ...extra,
    });
    renderWithApi(
      <>
        <KeysPage scope={{ kind: "all" }} title="Keys" />
        <Where />
      </>,
      route,
    );
    return { api, user: userEvent.setup() };
  }

  it("lists them with their owner, searched on the server from the URL's q", async () => {
    const asked: string[] = [];
    const { user } = allPage((_b, url) => {
      const q = url.searchParams.get("q") ?? "";
      asked.push(q);
      return page(q.includes("owner:bob") ? mixed.slice(1) : mixed);
    }, "/admin/keys?q=prod");
    const row = (await screen.findByRole("link", { name: "prod payments" })).closest("tr") as HTMLElement;
    expect(screen.getByLabelText("Filter")).toHaveValue("prod");
    expect(within(row).getByRole("link", { name: "bob" })).toHaveAttribute("href", "/admin/owners/bob");
    expect(screen.getByRole("columnheader", { name: "Owner" })).toBeInTheDocument();
    expect(asked[0]).toBe("prod");
    // The funnel narrows the list to the owner, in the search.
    await user.click(within(row).getByRole("button", { name: "Show only bob’s keys" }));
    await waitFor(() => {
      expect(asked.at(-1)).toBe("prod owner:bob");
    });
    expect(screen.getByTestId("where")).toHaveTextContent("?q=prod+owner%3Abob");
    expect(await screen.findByText("1 key found")).toBeInTheDocument();
  });

  it("asks whose a new key is, then makes it for them", async () => {
    const made = { ...token, id: "k9", owner: "bob", name: "for bob" };
    const created: Created = { key: "kg_x", id: "k9", hint: "kg_x…", token: made };
    const { api, user } = allPage(() => page(mixed), "/admin/keys", {
      "POST /api/users/bob/tokens": () => json(201, created),
    });
    await user.click(await screen.findByRole("button", { name: "New key" }));
    const ask = screen.getByRole("dialog", { name: "New key: whose is it?" });
    await user.click(within(ask).getByRole("button", { name: "Continue" }));
    expect(within(ask).getByRole("alert")).toHaveTextContent("Name the key’s owner.");
    await user.type(within(ask).getByLabelText("Owner"), "bob");
    await user.click(within(ask).getByRole("button", { name: "Continue" }));
    const dialog = await screen.findByRole("dialog", { name: "New key" });
    await user.type(within(dialog).getByLabelText("Name"), "for bob");
    await user.selectOptions(within(dialog).getByLabelText("Expires"), "never");
    await user.click(within(dialog).getByRole("button", { name: "Create key" }));
    await screen.findByRole("dialog", { name: "Your new key" });
    expect(api.writes().map((w) => `${w.method} ${w.path}`)).toEqual(["POST /api/users/bob/tokens"]);
  });
});

describe("the list keeps working when things go wrong", () => {
  it("keeps the keys on screen when a refresh fails, under a banner", async () => {
    let fail = false;
    const { user } = setup({
      "GET /api/me/tokens": () => (fail ? json(503, { error: "unavailable", message: "keygate is restarting" }) : page()),
      "PATCH /api/me/tokens/k1": () => {
        fail = true;
        return json(200, { ...token, disabled: true, status: "disabled" });
      },
    });
    await user.click(await screen.findByRole("checkbox", { name: /^Select first/ }));
    await user.click(screen.getByRole("button", { name: "Disable selected" }));
    await user.click(within(screen.getByRole("dialog", { name: "Disable 1 key?" })).getByRole("button", { name: "Disable 1 key" }));
    // The change refetches the list; that refetch fails: the keys stay, under a banner.
    expect(await screen.findByText(/Could not refresh your keys:/)).toBeInTheDocument();
    expect(screen.getByText(/keygate is restarting/)).toBeInTheDocument();
    expect(screen.getByRole("link", { name: /^first/ })).toBeInTheDocument();
    fail = false;
    await user.click(screen.getByRole("button", { name: "Try again" }));
    await waitFor(() => {
      expect(screen.queryByText(/Could not refresh your keys:/)).not.toBeInTheDocument();
    });
  });

  it("rotates an expired key from the list with the successor's expiry the dialog asked for", async () => {
    const expired = { ...token, status: "expired" as const, expires_at: "2026-05-02T00:00:00Z" };
    const made = { ...token, id: "k9", expires_at: "2099-01-01T00:00:00Z" };
    const created: Created = { key: "kg_new", id: "k9", hint: "kg_n…", token: made };
    const { api, user } = setup({
      "GET /api/me/tokens": () => page([expired]),
      "POST /api/me/tokens/k1/rotate": () => json(201, created),
    });
    await user.click(await screen.findByRole("button", { name: /^Actions for first/ }));
    await user.click(screen.getByRole("menuitem", { name: "Rotate" }));
    const dialog = screen.getByRole("dialog", { name: /Rotate/ });
    await user.selectOptions(within(dialog).getByLabelText("The new key expires"), "30d");
    await user.click(within(dialog).getByRole("button", { name: "Rotate key" }));
    await screen.findByRole("dialog", { name: "Your new key" });
    const [w] = api.writes();
    expect(w?.path).toBe("/api/me/tokens/k1/rotate");
    expect(Date.parse((w?.body as { expires_at: string }).expires_at)).toBeGreaterThan(Date.now());
  });
});

describe("roles and permissions in the key form, against the API", () => {
  const grants = {
    any: false,
    roles: [{ name: "docs-reader", description: "Reads the docs", permissions: ["docs.read"] }],
    permissions: ["docs.read"],
  };

  it("asks what I may attach once the form opens, and POSTs what I chose", async () => {
    const made = { ...token, id: "k9", name: "reader", roles: ["docs-reader"] };
    const { api, user } = setup({
      "GET /api/me/grants": () => json(200, grants),
      "POST /api/me/tokens": () => json(201, { key: "kg_x", id: "k9", hint: "kg_x…", token: made }),
    });
    await screen.findByRole("button", { name: "New key" });
    expect(api.calls.map((c) => c.path)).not.toContain("/api/me/grants");
    await user.click(screen.getByRole("button", { name: "New key" }));
    const dialog = screen.getByRole("dialog", { name: "New key" });
    await user.type(within(dialog).getByLabelText("Name"), "reader");
    await user.click(await within(dialog).findByRole("checkbox", { name: "docs-reader" }));
    expect(within(dialog).getByRole("checkbox", { name: "Also holds my roles (docs-reader)" })).toBeChecked();
    await user.type(within(dialog).getByLabelText("Add a permission"), "docs.write{Enter}");
    expect(within(dialog).getByText(/You may not attach “docs.write”/)).toBeInTheDocument();
    await user.click(within(dialog).getByRole("button", { name: "Create key" }));
    expect(api.writes()).toEqual([]);
    await user.clear(within(dialog).getByLabelText("Add a permission"));
    await user.click(within(dialog).getByRole("button", { name: "Create key" }));
    await screen.findByRole("dialog", { name: "Your new key" });
    expect(api.writes()).toEqual([
      {
        method: "POST",
        path: "/api/me/tokens",
        body: { name: "reader", expires_at: expect.any(String) as unknown, rules: [], metadata: {}, roles: ["docs-reader"] },
      },
    ]);
  });

  it("offers an admin every role for an owner's key, and names the owner's roles", async () => {
    const at = "2026-05-01T00:00:00Z";
    const role = (name: string) => ({ name, description: "", permissions: [`${name}.*`], owners: [], created_at: at, updated_at: at });
    const api = mockApi({
      "GET /api/me": () => json(200, { ...me, subject: "carol", admin: true }),
      "GET /api/users/bob/tokens": () => page([{ ...token, owner: "bob", roles: ["ops"] }]),
      "GET /api/users/bob/limits": noLimits,
      "GET /api/users/bob/roles": () => json(200, { owner: "bob", roles: ["docs"] }),
      "GET /api/roles": () => json(200, { roles: [role("docs"), role("ops")] }),
      "PATCH /api/users/bob/tokens/k1": () => json(200, { ...token, owner: "bob" }),
    });
    renderWithApi(<KeysPage scope={{ kind: "owner", owner: "bob" }} title="Keys of bob" />);
    const user = userEvent.setup();
    await user.click(await screen.findByRole("button", { name: "Actions for first" }));
    await user.click(screen.getByRole("menuitem", { name: "Edit" }));
    const dialog = screen.getByRole("dialog", { name: "Edit “first”" });
    expect(await within(dialog).findByRole("checkbox", { name: "ops" })).toBeChecked();
    expect(within(dialog).getByRole("checkbox", { name: "docs" })).not.toBeChecked();
    expect(within(dialog).getByRole("checkbox", { name: "Inherits the owner’s roles (docs)" })).toBeChecked();
    await user.type(within(dialog).getByLabelText("Add a permission"), "anything.at.all{Enter}");
    await user.click(within(dialog).getByRole("button", { name: "Save changes" }));
    await waitFor(() => {
      expect(api.writes()).toHaveLength(1);
    });
    expect(api.writes()[0]?.body).toMatchObject({ permissions: ["anything.at.all"] });
    expect(api.writes()[0]?.body).not.toHaveProperty("roles");
    expect(api.calls.map((c) => c.path)).not.toContain("/api/me/grants");
  });
});

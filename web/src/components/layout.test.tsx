import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { Route, Routes, useLocation } from "react-router-dom";
import { describe, expect, it } from "vitest";
import type { Me } from "../lib/schemas";
import { me, token } from "../test-fixtures";
import { type Route as ApiRoute, json, mockApi, renderWithApi } from "../test-render";
import { Layout } from "./layout";

const admin: Me = { ...me, subject: "admin", admin: true, auth: "admin-key" };

/** Where the app is. */
function Where() {
  const l = useLocation();
  return <output data-testid="where">{l.pathname + l.search}</output>;
}

function setup(who: Me, at: string, routes: Record<string, ApiRoute> = {}) {
  const api = mockApi({ "GET /api/me": () => json(200, who), ...routes });
  renderWithApi(
    <Routes>
      <Route element={<Layout />}>
        <Route path="*" element={<Where />} />
        <Route path="/field" element={<input aria-label="Some field" />} />
      </Route>
    </Routes>,
    at,
  );
  return { api, user: userEvent.setup() };
}

const nav = () => screen.getByRole("navigation", { name: "Main" });
const where = () => screen.getByTestId("where").textContent;
const page = (tokens: unknown[]) => json(200, { tokens, damaged: [], total: tokens.length });

describe("the top bar", () => {
  it("is the operator's console for an admin, with the section of the page marked", async () => {
    setup(admin, "/admin/keys/k1");
    await within(nav()).findByRole("link", { name: "Overview" });
    const links = within(nav()).getAllByRole("link");
    expect(links.map((a) => [a.textContent, a.getAttribute("href")])).toEqual([
      ["Overview", "/admin"],
      ["Keys", "/admin/keys"],
      ["Owners", "/admin/owners"],
      ["Audit log", "/admin/audit"],
      ["Docs", "/guide"],
    ]);
    // A key's page is under Keys.
    expect(links.filter((a) => a.getAttribute("aria-current") === "page").map((a) => a.textContent)).toEqual(["Keys"]);
    // The admin's own keys: by their name, not a section.
    expect(screen.getByRole("link", { name: "My keys" })).toHaveAttribute("href", "/keys");
    expect(screen.getByRole("search", { name: "Keys" })).toBeInTheDocument();
  });

  it("marks Owners on the roles and webhooks pages, which are reached from it", async () => {
    setup(admin, "/admin/webhooks/ep_1");
    const owners = await within(nav()).findByRole("link", { name: "Owners" });
    expect(owners).toHaveAttribute("aria-current", "page");
  });

  it("is My keys · Docs for everyone else, without the search", async () => {
    setup(me, "/keys");
    await screen.findByTestId("whoami");
    expect(within(nav()).getAllByRole("link").map((a) => a.textContent)).toEqual(["My keys", "Docs"]);
    expect(within(nav()).getByRole("link", { name: "My keys" })).toHaveAttribute("aria-current", "page");
    expect(screen.queryByRole("search")).toBeNull();
  });
});

describe("the header's key search", () => {
  it("opens the one key that matches", async () => {
    const { api, user } = setup(admin, "/admin", {
      "GET /api/tokens": (_b, url) => {
        expect(url.searchParams.get("limit")).toBe("2");
        return page(url.searchParams.get("q") === "deploy" ? [{ ...token, id: "k/1" }] : []);
      },
    });
    await user.type(await screen.findByLabelText("Search keys"), "deploy{Enter}");
    await waitFor(() => {
      expect(where()).toBe("/admin/keys/k%2F1");
    });
    expect(api.calls.filter((c) => c.path === "/api/tokens")).toHaveLength(1);
    expect(screen.getByLabelText("Search keys")).toHaveValue("");
  });

  it("lists the matches, or that none does, when it is not exactly one", async () => {
    const { user } = setup(admin, "/admin", {
      "GET /api/tokens": (_b, url) =>
        page(url.searchParams.get("q") === "owner:bob" ? [token, { ...token, id: "k2" }] : []),
    });
    const box = await screen.findByLabelText("Search keys");
    await user.type(box, "owner:bob{Enter}");
    await waitFor(() => {
      expect(where()).toBe("/admin/keys?q=owner%3Abob");
    });
    await user.type(box, "nothing here{Enter}");
    await waitFor(() => {
      expect(where()).toBe("/admin/keys?q=nothing+here");
    });
  });

  it("never sends a pasted key: only its hint, and says why", async () => {
    const key = "kg_003aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789abcdefqIjo";
    const { api, user } = setup(admin, "/admin", { "GET /api/tokens": () => page([]) });
    const box = await screen.findByLabelText("Search keys");
    await user.click(box);
    await user.paste(key);
    await user.keyboard("{Enter}");
    await waitFor(() => {
      expect(where()).toBe(`/admin/keys?${new URLSearchParams({ q: "hint:kg_003a…qIjo" }).toString()}`);
    });
    const sent = (api.fetch.mock.calls as unknown[][]).map((c) => String(c[0]));
    expect(sent.some((u) => decodeURIComponent(u).includes("hint:kg_003a…qIjo"))).toBe(true);
    expect(sent.some((u) => u.includes("BcDeFgHiJk"))).toBe(false);
    expect(where()).not.toContain("BcDeFgHiJk");
    expect(screen.getByRole("search")).toHaveTextContent("That looked like a whole key: only its hint, kg_003a…qIjo, was searched for");
  });

  it("is reached with /, but for a / typed into a field", async () => {
    const { user } = setup(admin, "/admin");
    const box = await screen.findByLabelText("Search keys");
    expect(box).toHaveAttribute("aria-keyshortcuts", "/");
    await user.keyboard("/");
    expect(box).toHaveFocus();
    expect(box).toHaveValue("");
  });

  it("leaves a / typed into another field where it is", async () => {
    const { user } = setup(admin, "/field");
    const field = await screen.findByLabelText("Some field");
    await screen.findByLabelText("Search keys");
    await user.click(field);
    await user.keyboard("a/b");
    expect(field).toHaveFocus();
    expect(field).toHaveValue("a/b");
  });
});

import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import type { Role } from "../lib/schemas";
import { json, mockApi, renderWithApi, type Route } from "../test-render";
import { RolesPage } from "./roles-page";

const at = "2026-05-01T00:00:00Z";
const reader: Role = {
  name: "docs-reader",
  description: "Reads the docs",
  permissions: ["docs.read"],
  owners: ["dora", "erin"],
  created_at: at,
  updated_at: at,
};
const ops: Role = { name: "ops", description: "", permissions: [], owners: [], created_at: at, updated_at: at };

function setup(routes: Record<string, Route>, initial: Role[] = [reader, ops]) {
  let roles = initial;
  const api = mockApi({
    "GET /api/roles": () => json(200, { roles }),
    ...routes,
  });
  renderWithApi(<RolesPage />, "/admin/roles");
  return {
    api,
    user: userEvent.setup(),
    setRoles: (r: Role[]) => {
      roles = r;
    },
  };
}

describe("the roles page", () => {
  it("lists each role with its permissions as chips and the owners granted it", async () => {
    setup({});
    const row = (await screen.findByText("docs-reader")).closest("tr") as HTMLElement;
    expect(within(row).getByRole("list", { name: "Permissions of docs-reader" })).toHaveTextContent("docs.read");
    const owners = within(row).getByRole("list", { name: "Owners granted docs-reader" });
    expect(within(owners).getByRole("link", { name: "dora" })).toHaveAttribute("href", "/admin/owners/dora");
    const other = screen.getByText("ops").closest("tr") as HTMLElement;
    expect(other).toHaveTextContent("nobody");
    expect(within(other).getByRole("button", { name: "Edit ops" })).toBeInTheDocument();
  });

  it("says when there are none", async () => {
    setup({}, []);
    expect(await screen.findByText("No roles yet. Make one with “New role”.")).toBeInTheDocument();
  });

  it("creates a role, checking the name and permissions before sending", async () => {
    const created: Role = { ...ops, name: "billing", description: "Money", permissions: ["billing.*", "docs.read"] };
    const { api, user, setRoles } = setup({
      "POST /api/roles": () => {
        setRoles([reader, ops, created]);
        return json(201, created);
      },
    });
    await user.click(await screen.findByRole("button", { name: "New role" }));
    const dialog = screen.getByRole("dialog", { name: "New role" });
    const name = within(dialog).getByLabelText("Name");
    await user.type(name, "-billing");
    await user.tab();
    expect(name).toHaveAccessibleDescription(/Start with a letter or a digit/);
    await user.clear(name);
    await user.type(name, "billing");
    await user.type(within(dialog).getByLabelText("Description"), "Money");
    const add = within(dialog).getByLabelText("Add a permission");
    await user.type(add, "billing*{Enter}");
    expect(add).toHaveAccessibleDescription(/stands alone/);
    await user.clear(add);
    await user.type(add, "billing.*{Enter}");
    // Typed, not added: sent all the same.
    await user.type(add, "docs.read");
    await user.click(within(dialog).getByRole("button", { name: "Create role" }));
    await waitFor(() => {
      expect(api.writes()).toEqual([
        { method: "POST", path: "/api/roles", body: { name: "billing", description: "Money", permissions: ["billing.*", "docs.read"] } },
      ]);
    });
    await waitFor(() => {
      expect(screen.queryByRole("dialog")).not.toBeInTheDocument();
    });
    expect(await screen.findByText("billing")).toBeInTheDocument();
    expect(screen.getByRole("status")).toHaveTextContent("Role billing created.");
  });

  it("shows the server's refusals next to the field they name", async () => {
    let answer = json(400, { error: "invalid", field: "permissions", message: "`docs..x` is not a permission: at position 6" });
    const { user } = setup({ "POST /api/roles": () => answer });
    await user.click(await screen.findByRole("button", { name: "New role" }));
    const dialog = screen.getByRole("dialog", { name: "New role" });
    await user.type(within(dialog).getByLabelText("Name"), "docs-reader");
    await user.click(within(dialog).getByRole("button", { name: "Create role" }));
    const add = within(dialog).getByLabelText("Add a permission");
    await waitFor(() => {
      expect(add).toHaveAccessibleDescription(/is not a permission: at position 6/);
    });
    expect(within(dialog).getByRole("alert")).toHaveTextContent("keygate refused the role: see below.");
    answer = json(409, { error: "conflict", message: "a role named docs-reader exists" });
    await user.click(within(dialog).getByRole("button", { name: "Create role" }));
    await waitFor(() => {
      expect(within(dialog).getByLabelText("Name")).toHaveAccessibleDescription(/a role named docs-reader exists/);
    });
  });

  it("edits a role's description and permissions, not its name", async () => {
    const { api, user } = setup({
      "PATCH /api/roles/docs-reader": (body) => json(200, { ...reader, ...(body as object) }),
    });
    await user.click(await screen.findByRole("button", { name: "Edit docs-reader" }));
    const dialog = screen.getByRole("dialog", { name: "Edit role docs-reader" });
    expect(within(dialog).queryByLabelText("Name")).not.toBeInTheDocument();
    await user.click(within(dialog).getByRole("button", { name: "Remove docs.read" }));
    await user.type(within(dialog).getByLabelText("Add a permission"), "docs.*{Enter}");
    await user.click(within(dialog).getByRole("button", { name: "Save role" }));
    await waitFor(() => {
      expect(api.writes()).toEqual([
        { method: "PATCH", path: "/api/roles/docs-reader", body: { description: "Reads the docs", permissions: ["docs.*"] } },
      ]);
    });
  });

  it("deletes a role after asking, and offers to take it from its holders when it is in use", async () => {
    const { api, user, setRoles } = setup({
      "DELETE /api/roles/docs-reader": (_, url) => {
        if (url.searchParams.get("detach") !== "true") {
          return json(409, {
            error: "role_in_use",
            message: "the role is held by 3 key(s) and 2 owner(s); delete it with detach=true to take it off them first",
          });
        }
        setRoles([ops]);
        return new Response(null, { status: 204 });
      },
    });
    await user.click(await screen.findByRole("button", { name: "Delete docs-reader" }));
    const dialog = screen.getByRole("dialog", { name: "Delete role docs-reader?" });
    expect(dialog).toHaveTextContent("2 owners are granted this role.");
    await user.click(within(dialog).getByRole("button", { name: "Delete role" }));
    const alert = await within(dialog).findByRole("alert");
    expect(alert).toHaveTextContent("held by 3 key(s) and 2 owner(s)");
    await user.click(within(dialog).getByRole("button", { name: "Remove it from 3 keys and 2 owners and delete" }));
    await waitFor(() => {
      expect(screen.queryByText("docs-reader")).not.toBeInTheDocument();
    });
    expect(api.writes().map((w) => w.path)).toEqual(["/api/roles/docs-reader", "/api/roles/docs-reader"]);
    expect(api.calls.filter((c) => c.method === "DELETE").length).toBe(2);
  });

  it("leaves the role when the deletion is called off", async () => {
    const { api, user } = setup({});
    await user.click(await screen.findByRole("button", { name: "Delete ops" }));
    const dialog = screen.getByRole("dialog", { name: "Delete role ops?" });
    expect(dialog).toHaveTextContent("No owner is granted this role.");
    await user.click(within(dialog).getByRole("button", { name: "Cancel" }));
    expect(screen.queryByRole("dialog")).not.toBeInTheDocument();
    expect(api.writes()).toEqual([]);
  });
});

import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import type { Role } from "../lib/schemas";
import { json, mockApi, renderWithApi } from "../test-render";
import { OwnerRolesPanel } from "./owner-roles";

const at = "2026-05-01T00:00:00Z";
const role = (name: string, permissions: string[], description = ""): Role => ({
  name,
  description,
  permissions,
  owners: [],
  created_at: at,
  updated_at: at,
});

describe("an owner's roles (admin)", () => {
  it("shows them, and PUTs the roles ticked", async () => {
    let granted = ["docs-reader"];
    const api = mockApi({
      "GET /api/users/dora/roles": () => json(200, { owner: "dora", roles: granted }),
      "GET /api/roles": () =>
        json(200, { roles: [role("docs-reader", ["docs.read"], "Reads the docs"), role("ops", ["ops.*"])] }),
      "PUT /api/users/dora/roles": (body) => {
        granted = (body as { roles: string[] }).roles;
        return json(200, { owner: "dora", roles: granted });
      },
    });
    const user = userEvent.setup();
    renderWithApi(<OwnerRolesPanel owner="dora" />);
    const panel = await screen.findByRole("region", { name: "Roles of dora" });
    await within(panel).findByText("docs-reader");
    expect(panel).toHaveTextContent("dora’s keys hold these roles’ permissions");
    await user.click(within(panel).getByRole("button", { name: "Change roles" }));
    const form = await within(panel).findByRole("form", { name: "Roles of dora" });
    const reader = await within(form).findByRole("checkbox", { name: "docs-reader" });
    expect(reader).toBeChecked();
    expect(reader).toHaveAccessibleDescription(/Reads the docs/);
    await user.click(reader);
    await user.click(within(form).getByRole("checkbox", { name: "ops" }));
    await user.click(within(form).getByRole("button", { name: "Save roles" }));
    await waitFor(() => {
      expect(api.writes()).toEqual([{ method: "PUT", path: "/api/users/dora/roles", body: { roles: ["ops"] } }]);
    });
    await waitFor(() => {
      expect(within(panel).queryByRole("form")).not.toBeInTheDocument();
    });
    expect(within(panel).getByRole("list", { name: "Roles of dora" })).toHaveTextContent("ops");
  });

  it("says when the owner has none, and shows the server's refusal", async () => {
    mockApi({
      "GET /api/users/erin/roles": () => json(200, { owner: "erin", roles: [] }),
      "GET /api/roles": () => json(200, { roles: [role("ops", [])] }),
      "PUT /api/users/erin/roles": () => json(400, { error: "invalid", field: "roles", message: "no role named ops" }),
    });
    const user = userEvent.setup();
    renderWithApi(<OwnerRolesPanel owner="erin" />);
    const panel = await screen.findByRole("region", { name: "Roles of erin" });
    await within(panel).findByText(/None: erin’s keys hold only the permissions attached to them/);
    await user.click(within(panel).getByRole("button", { name: "Change roles" }));
    await user.click(await within(panel).findByRole("checkbox", { name: "ops" }));
    await user.click(within(panel).getByRole("button", { name: "Save roles" }));
    expect(await within(panel).findByRole("alert")).toHaveTextContent("no role named ops");
  });

  it("points to the Roles page when there are no roles", async () => {
    mockApi({
      "GET /api/users/erin/roles": () => json(200, { owner: "erin", roles: [] }),
      "GET /api/roles": () => json(200, { roles: [] }),
    });
    const user = userEvent.setup();
    renderWithApi(<OwnerRolesPanel owner="erin" />);
    await user.click(await screen.findByRole("button", { name: "Change roles" }));
    expect(await screen.findByRole("link", { name: "Make one on the Roles page" })).toHaveAttribute("href", "/admin/roles");
  });

  it("is not shown by a server that knows no roles", async () => {
    const api = mockApi({});
    renderWithApi(<OwnerRolesPanel owner="erin" />);
    await waitFor(() => {
      expect(api.calls.map((c) => c.path)).toContain("/api/users/erin/roles");
    });
    await new Promise((r) => setTimeout(r, 20));
    expect(screen.queryByRole("region")).not.toBeInTheDocument();
  });
});

import { screen, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { token } from "../test-fixtures";
import { json, mockApi, renderWithApi } from "../test-render";
import { KeyPermissionsPanel } from "./key-permissions";

describe("a key's permissions", () => {
  it("lists each effective permission and where it comes from", async () => {
    const api = mockApi({
      "GET /api/tokens/k1/permissions": () =>
        json(200, {
          permissions: [
            { permission: "billing.*", sources: ["key"] },
            { permission: "docs.read", sources: ["role:reader", "owner-role:docs-reader"] },
          ],
        }),
    });
    renderWithApi(<KeyPermissionsPanel scope="any" token={{ ...token, roles: ["reader"], permissions: ["billing.*"] }} />);
    const panel = await screen.findByRole("region", { name: "Permissions" });
    expect(panel).toHaveTextContent("Roles reader; 1 permission of its own; inherits its owner’s roles.");
    const table = await within(panel).findByRole("table");
    const rows = within(table).getAllByRole("row").slice(1);
    expect(rows.map((r) => within(r).getAllByRole("cell").map((c) => c.textContent))).toEqual([
      ["billing.*", "this key"],
      ["docs.read", "role readerowner’s role docs-reader"],
    ]);
    expect(within(rows[1] as HTMLElement).getAllByRole("listitem").map((li) => li.textContent)).toEqual([
      "role reader",
      "owner’s role docs-reader",
    ]);
    expect(api.calls.map((c) => c.path)).toEqual(["/api/tokens/k1/permissions"]);
  });

  it("says when the key holds none, and what that means", async () => {
    mockApi({ "GET /api/me/tokens/k1/permissions": () => json(200, { permissions: [] }) });
    renderWithApi(<KeyPermissionsPanel scope="me" token={{ ...token, inherit_owner_roles: false }} />);
    expect(await screen.findByText("This key holds no permissions.")).toBeInTheDocument();
    expect(screen.getByText(/Routes that require permissions will refuse it/)).toBeInTheDocument();
    expect(screen.getByText(/does not inherit its owner’s roles/)).toBeInTheDocument();
    expect(screen.queryByRole("table")).not.toBeInTheDocument();
  });

  it("says when they cannot be read", async () => {
    mockApi({ "GET /api/me/tokens/k1/permissions": () => json(500, { error: "internal", message: "keygate broke" }) });
    renderWithApi(<KeyPermissionsPanel scope="me" token={token} />);
    expect(await screen.findByRole("alert")).toHaveTextContent("keygate broke");
  });
});

import { render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import { ApiError } from "../lib/api";
import { createBody, emptyForm, formOf, patchBody, type KeyFormValues } from "../lib/key-form-model";
import type { Grantable } from "../lib/permissions";
import type { GrantableState } from "../lib/queries/grants";
import { token } from "../test-fixtures";
import { KeyForm } from "./key-form";

const NOW = Date.parse("2026-06-01T12:00:00Z");

const dora: Grantable = {
  any: false,
  roles: [{ name: "docs-reader", description: "Reads the docs", permissions: ["docs.read", "billing.*"] }],
  permissions: ["billing.*", "docs.read"],
  self: true,
  owner: "dora",
  ownerRoles: ["docs-reader"],
};

const admin: Grantable = {
  any: true,
  roles: [
    { name: "docs-reader", description: "", permissions: ["docs.read"] },
    { name: "ops", description: "Deploys", permissions: ["ops.*"] },
  ],
  permissions: [],
  self: false,
  owner: "alice",
  ownerRoles: ["ops"],
};

const ready = (grantable: Grantable): GrantableState => ({ status: "ready", grantable });

function setup({
  state = ready(dora),
  mode = "create",
  initial = { ...emptyForm(), name: "ci" },
  serverError = null,
}: { state?: GrantableState; mode?: "create" | "edit"; initial?: KeyFormValues; serverError?: ApiError | null } = {}) {
  const onSubmit = vi.fn<(v: KeyFormValues) => void>();
  render(
    <KeyForm
      mode={mode}
      initial={initial}
      submitting={false}
      serverError={serverError}
      onSubmit={onSubmit}
      onCancel={vi.fn()}
      grantable={state}
      now={NOW}
    />,
  );
  const group = screen.getByRole("group", { name: "Permissions" });
  return { onSubmit, group, user: userEvent.setup() };
}

describe("the key form's permissions, for a user", () => {
  it("offers the user's own roles and inherits them by default", () => {
    const { group } = setup();
    const roles = within(group).getByRole("group", { name: "Roles" });
    expect(within(roles).getAllByRole("checkbox").map((c) => c.id.split("-role-")[1])).toEqual(["docs-reader"]);
    expect(within(roles).getByRole("checkbox", { name: "docs-reader" })).toHaveAccessibleDescription(
      /Reads the docs/,
    );
    expect(within(group).getByRole("checkbox", { name: "Also holds my roles (docs-reader)" })).toBeChecked();
    expect(within(group).getByText("Anything your roles cover: billing.*, docs.read.")).toBeInTheDocument();
  });

  it("adds a covered permission, and says why a wider one may not be", async () => {
    const { group, user, onSubmit } = setup();
    const input = within(group).getByLabelText("Add a permission");
    await user.type(input, "docs.write{Enter}");
    expect(input).toHaveAttribute("aria-invalid", "true");
    expect(input).toHaveAccessibleDescription(/You may not attach “docs.write”: none of your roles’ permissions covers it \(billing\.\*, docs\.read\)/);
    expect(within(group).queryByRole("list", { name: "Permissions of this key" })).not.toBeInTheDocument();
    await user.clear(input);
    await user.type(input, "billing.invoices.read");
    await user.click(within(group).getByRole("button", { name: "Add permission" }));
    expect(input).toHaveValue("");
    expect(input).toHaveAttribute("aria-invalid", "false");
    const chips = within(group).getByRole("list", { name: "Permissions of this key" });
    expect(within(chips).getByText("billing.invoices.read")).toBeInTheDocument();
    await user.click(within(group).getByRole("checkbox", { name: "docs-reader" }));
    await user.click(within(group).getByRole("checkbox", { name: /Also holds my roles/ }));
    await user.click(screen.getByRole("button", { name: "Create key" }));
    const v = onSubmit.mock.calls[0]?.[0];
    expect(v && createBody(v, NOW)).toMatchObject({
      roles: ["docs-reader"],
      permissions: ["billing.invoices.read"],
      inherit_owner_roles: false,
    });
  });

  it("sends a permission typed but not added, and nothing while it may not be added", async () => {
    const { group, user, onSubmit } = setup();
    const input = within(group).getByLabelText("Add a permission");
    await user.type(input, "ops.deploy");
    await user.click(screen.getByRole("button", { name: "Create key" }));
    expect(onSubmit).not.toHaveBeenCalled();
    expect(input).toHaveFocus();
    expect(input).toHaveAccessibleDescription(/You may not attach “ops.deploy”/);
    await user.clear(input);
    await user.type(input, "docs.read");
    await user.click(screen.getByRole("button", { name: "Create key" }));
    expect(onSubmit).toHaveBeenCalledTimes(1);
    expect(onSubmit.mock.calls[0]?.[0].permissions).toEqual(["docs.read"]);
  });

  it("keeps what the key had, removable, though it could not be added again", async () => {
    const held = { ...token, roles: ["legacy"], permissions: ["ops.deploy", "docs.read"] };
    const { group, user, onSubmit } = setup({ mode: "edit", initial: formOf(held) });
    const legacy = within(group).getByRole("checkbox", { name: "legacy" });
    expect(legacy).toBeChecked();
    expect(legacy).toHaveAccessibleDescription(/Not one of your roles: once removed, you cannot attach it again/);
    const chips = within(group).getByRole("list", { name: "Permissions of this key" });
    expect(within(chips).getAllByRole("listitem").map((li) => li.querySelector("code")?.textContent)).toEqual([
      "ops.deploy",
      "docs.read",
    ]);
    await user.click(legacy);
    // Unticked, it stays on screen: ticking it again is putting back what the key had.
    expect(within(group).getByRole("checkbox", { name: "legacy" })).not.toBeChecked();
    await user.click(within(group).getByRole("button", { name: "Remove ops.deploy" }));
    expect(within(group).getByLabelText("Add a permission")).toHaveFocus();
    await user.click(screen.getByRole("button", { name: "Save changes" }));
    const v = onSubmit.mock.calls[0]?.[0];
    expect(v && patchBody(v, held.limits, NOW, held)).toMatchObject({ roles: [], permissions: ["docs.read"] });
  });

  it("says so when the user's roles grant nothing", () => {
    const { group } = setup({ state: ready({ ...dora, roles: [], permissions: [], ownerRoles: [] }) });
    expect(within(group).getByText("You have no roles to attach.")).toBeInTheDocument();
    expect(within(group).getByLabelText("Add a permission")).toBeDisabled();
    expect(within(group).getByText(/Your roles grant no permissions/)).toBeInTheDocument();
    expect(within(group).getByRole("checkbox", { name: "Also holds my roles (none yet)" })).toBeChecked();
  });

  it("shows the server's refusal next to the permissions", () => {
    const { group } = setup({
      serverError: new ApiError(400, "invalid", "permissions: `docs.write` is not covered by your roles", "permissions"),
    });
    expect(screen.getByText("keygate refused the roles or permissions: see “Permissions” below.")).toBeInTheDocument();
    const input = within(group).getByLabelText("Add a permission");
    expect(input).toHaveAttribute("aria-invalid", "true");
    expect(input).toHaveAccessibleDescription(/`docs.write` is not covered by your roles/);
  });

  it("waits for what may be attached", () => {
    setup({ state: { status: "loading" } });
    expect(screen.getByText("Loading what you may attach…")).toBeInTheDocument();
    expect(screen.getByLabelText("Add a permission")).toBeDisabled();
  });

  it("says when what may be attached cannot be read", () => {
    setup({ state: { status: "error", error: new ApiError(500, "internal", "keygate broke") } });
    expect(screen.getByRole("alert")).toHaveTextContent("Could not load the roles you may attach: keygate broke");
  });
});

describe("the key form's permissions, for an admin", () => {
  it("offers every role and any well-formed permission", async () => {
    const { group, user } = setup({ state: ready(admin) });
    expect(within(group).getByRole("checkbox", { name: "ops" })).toHaveAccessibleDescription(/Deploys/);
    expect(within(group).getByRole("checkbox", { name: "docs-reader" })).toBeInTheDocument();
    expect(within(group).getByRole("checkbox", { name: "Inherits the owner’s roles (ops)" })).toBeChecked();
    const input = within(group).getByLabelText("Add a permission");
    await user.type(input, "anything.*{Enter}");
    expect(within(group).getByText("anything.*")).toBeInTheDocument();
    await user.type(input, "bad..name{Enter}");
    expect(input).toHaveAccessibleDescription(/doubled/);
    await user.clear(input);
    await user.type(input, "anything.*{Enter}");
    expect(input).toHaveAccessibleDescription(/already in the list/);
  });
});

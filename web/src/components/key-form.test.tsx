import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import { ApiError } from "../lib/api";
import { emptyForm } from "../lib/key-form-model";
import { KeyForm } from "./key-form";

const NOW = Date.parse("2026-06-01T12:00:00Z");

function setup(serverError: ApiError | null = null) {
  const onSubmit = vi.fn();
  render(
    <KeyForm
      mode="create"
      initial={emptyForm()}
      submitting={false}
      serverError={serverError}
      onSubmit={onSubmit}
      onCancel={vi.fn()}
      now={NOW}
    />,
  );
  return { onSubmit, user: userEvent.setup() };
}

describe("the create form", () => {
  it("sends nothing and marks the fields while they are invalid", async () => {
    const { onSubmit, user } = setup();
    await user.click(screen.getByRole("button", { name: "Create key" }));
    expect(onSubmit).not.toHaveBeenCalled();
    const name = screen.getByLabelText("Name");
    expect(name).toHaveAttribute("aria-invalid", "true");
    expect(name).toHaveFocus();
    expect(name).toHaveAccessibleDescription(/Give the key a name/);
    expect(screen.getByText(/One field needs attention/)).toBeInTheDocument();
  });

  it("shows a rule's problem when the field is left, and clears it when fixed", async () => {
    const { user } = setup();
    await user.click(screen.getByRole("button", { name: "Add a rule" }));
    const hosts = screen.getByLabelText("Hosts");
    await user.type(hosts, "https://api.example.com/v1");
    await user.tab();
    expect(hosts).toHaveAccessibleDescription(/without scheme, port or path/);
    await user.clear(hosts);
    await user.type(hosts, "api.example.com");
    expect(hosts).toHaveAttribute("aria-invalid", "false");
    const methods = screen.getByLabelText("Methods");
    await user.type(methods, "GET, P0ST");
    await user.tab();
    expect(methods).toHaveAccessibleDescription(/“P0ST” is not an HTTP method/);
  });

  it("asks for a date in the future when the expiry is custom", async () => {
    const { user, onSubmit } = setup();
    await user.type(screen.getByLabelText("Name"), "deploys");
    await user.selectOptions(screen.getByLabelText("Expires"), "custom");
    const date = screen.getByLabelText("Expiry date (UTC)");
    await user.type(date, "2026-05-01");
    await user.click(screen.getByRole("button", { name: "Create key" }));
    expect(date).toHaveAccessibleDescription(/future/);
    expect(onSubmit).not.toHaveBeenCalled();
  });

  it("submits valid values", async () => {
    const { user, onSubmit } = setup();
    await user.type(screen.getByLabelText("Name"), "deploys");
    await user.selectOptions(screen.getByLabelText("Expires"), "90d");
    await user.click(screen.getByRole("button", { name: "Add a rule" }));
    await user.type(screen.getByLabelText("Paths"), "/v1/*");
    await user.click(screen.getByRole("button", { name: "Add metadata" }));
    await user.type(screen.getByLabelText("Name 1"), "team");
    await user.type(screen.getByLabelText("Value 1"), "core");
    await user.click(screen.getByRole("button", { name: "Create key" }));
    expect(onSubmit).toHaveBeenCalledWith(
      expect.objectContaining({
        name: "deploys",
        expiry: "90d",
        rules: [{ hosts: "", paths: "/v1/*", methods: "" }],
        metadata: [{ key: "team", value: "core" }],
      }),
    );
  });

  it("shows the server's refusal next to the field it names", () => {
    setup(new ApiError(422, "invalid", "name: no control characters", "name"));
    expect(screen.getByRole("alert")).toHaveTextContent("name: no control characters");
    expect(screen.getByLabelText("Name")).toHaveAttribute("aria-invalid", "true");
  });
});

import { render, screen } from "@testing-library/react";
import { describe, expect, it, vi } from "vitest";
import { LoginView, type LoginViewProps } from "./login-page";

const props: LoginViewProps = {
  appName: "keygate",
  notice: null,
  error: null,
  busy: false,
  oidc: true,
  adminKey: true,
  singleOperator: false,
  onOidc: vi.fn(),
  onKey: vi.fn(),
};

describe("the login page", () => {
  it("gives the admin-key field the keyboard at once", () => {
    render(<LoginView {...props} />);
    expect(screen.getByLabelText("Admin key")).toHaveFocus();
  });

  it("says why the user was sent here", () => {
    render(<LoginView {...props} notice="Your session has ended. Log in again to continue." />);
    expect(screen.getByRole("status")).toHaveTextContent("Your session has ended");
  });
});

import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { render, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { MemoryRouter } from "react-router-dom";
import { describe, expect, it, vi } from "vitest";
import { AuthProvider } from "../lib/auth";
import { config } from "../test-render";
import { LoginPage, LoginView, type LoginViewProps, clock } from "./login-page";

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

describe("a throttled login", () => {
  it("counts down, with the button off until keygate takes a key again", () => {
    const { rerender } = render(<LoginView {...props} oidc={false} wait={37} />);
    const alert = screen.getByRole("alert");
    expect(alert).toHaveTextContent("Too many attempts — try again in 0:37");
    // The countdown is a timer, not read out every second.
    expect(within(alert).getByRole("timer")).toHaveTextContent("0:37");
    expect(screen.getByRole("button", { name: "Log in" })).toBeDisabled();
    rerender(<LoginView {...props} oidc={false} wait={0} />);
    expect(screen.queryByRole("alert")).toBeNull();
  });

  it("reads Retry-After from keygate's 429 and lets the key go again once it has passed", async () => {
    const fetch = vi.fn(() =>
      Promise.resolve(
        new Response(JSON.stringify({ error: "too_many_failures", message: "too many failed attempts" }), {
          status: 429,
          headers: { "Content-Type": "application/json", "Retry-After": "2" },
        }),
      ),
    );
    vi.stubGlobal("fetch", fetch);
    render(
      <QueryClientProvider client={new QueryClient()}>
        <MemoryRouter initialEntries={["/login"]}>
          <AuthProvider config={config}>
            <LoginPage />
          </AuthProvider>
        </MemoryRouter>
      </QueryClientProvider>,
    );
    const user = userEvent.setup();
    await user.type(screen.getByLabelText("Admin key"), "kgadmin_wrong");
    await user.click(screen.getByRole("button", { name: "Log in" }));
    expect(await screen.findByRole("alert")).toHaveTextContent(/Too many attempts — try again in 0:0[12]/);
    const button = screen.getByRole("button", { name: "Log in" });
    expect(button).toBeDisabled();
    await waitFor(
      () => {
        expect(screen.queryByRole("alert")).toBeNull();
      },
      { timeout: 4000 },
    );
    expect(button).toBeEnabled();
    expect(fetch).toHaveBeenCalledTimes(1);
  });

  it("writes the wait as minutes and seconds", () => {
    expect(clock(37)).toBe("0:37");
    expect(clock(65)).toBe("1:05");
    expect(clock(0.2)).toBe("0:01");
    expect(clock(-3)).toBe("0:00");
  });
});

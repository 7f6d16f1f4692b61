import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { useState } from "react";
import { MemoryRouter } from "react-router-dom";
import { describe, expect, it } from "vitest";
import { SessionEndedNotice } from "../components/session-ended";
import { config, json, mockApi } from "../test-render";
import { ADMIN_KEY_STORAGE, AuthProvider, useAuth, useUnsavedGuard } from "./auth";
import { meSchema } from "./schemas";

function Screen() {
  const { session, notice, api } = useAuth();
  const [typed, setTyped] = useState("");
  useUnsavedGuard(typed !== "");
  return (
    <>
      <p>{session ? "logged in" : `logged out: ${notice ?? ""}`}</p>
      <SessionEndedNotice />
      <label htmlFor="note">Note</label>
      <input
        id="note"
        value={typed}
        onChange={(e) => {
          setTyped(e.target.value);
        }}
      />
      <button
        type="button"
        onClick={() => {
          api.get("/api/me", meSchema).catch(() => undefined);
        }}
      >
        Ask keygate
      </button>
    </>
  );
}

function setup() {
  mockApi({ "GET /api/me": () => json(401, { error: "unauthorized", message: "expired" }) });
  sessionStorage.setItem(ADMIN_KEY_STORAGE, "kgadmin_test");
  render(
    <QueryClientProvider client={new QueryClient()}>
      <MemoryRouter>
        <AuthProvider config={config}>
          <Screen />
        </AuthProvider>
      </MemoryRouter>
    </QueryClientProvider>,
  );
  return userEvent.setup();
}

describe("a session that ends", () => {
  it("ends at once when nothing unsaved is on screen", async () => {
    const user = setup();
    await user.click(screen.getByRole("button", { name: "Ask keygate" }));
    expect(await screen.findByText(/logged out: Your session has ended/)).toBeInTheDocument();
    expect(sessionStorage.getItem(ADMIN_KEY_STORAGE)).toBeNull();
  });

  it("warns, and keeps the input on screen, until the user leaves", async () => {
    const user = setup();
    await user.type(screen.getByLabelText("Note"), "half a form");
    await user.click(screen.getByRole("button", { name: "Ask keygate" }));
    expect(await screen.findByRole("alert")).toHaveTextContent(/Your session has ended.*copy anything you need first/);
    expect(screen.getByText("logged in")).toBeInTheDocument();
    expect(screen.getByLabelText("Note")).toHaveValue("half a form");
    // The credential is gone all the same.
    expect(sessionStorage.getItem(ADMIN_KEY_STORAGE)).toBeNull();
    await user.click(screen.getByRole("button", { name: "Log in again" }));
    expect(await screen.findByText(/logged out: Your session has ended/)).toBeInTheDocument();
  });

  it("lets the user go once the input is cleared", async () => {
    const user = setup();
    await user.type(screen.getByLabelText("Note"), "x");
    await user.click(screen.getByRole("button", { name: "Ask keygate" }));
    await screen.findByRole("alert");
    await user.clear(screen.getByLabelText("Note"));
    expect(await screen.findByText(/logged out/)).toBeInTheDocument();
  });
});

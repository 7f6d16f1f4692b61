import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import type { Created, Token } from "../lib/schemas";
import { token as fixture } from "../test-fixtures";
import { OneTimeKey } from "./one-time-key";

const KEY = "kg_0123456789abcdefghijABCDEFGHIJ0123456789abcdefghi";
const token: Token = { ...fixture, id: "tok1", name: "deploys", hint: "kg_0123…fghi", created_at: "2026-06-01T12:00:00Z" };
const created: Created = { key: KEY, id: "tok1", hint: token.hint, token };

describe("the one-time key", () => {
  it("shows the key once, says so, and offers snippets", () => {
    render(<OneTimeKey created={created} gateUrl="https://gate.example.com/forward-auth" onDone={vi.fn()} />);
    expect(screen.getByLabelText(/Key “deploys”/)).toHaveValue(KEY);
    expect(screen.getByText(/you will not see it again/i)).toBeInTheDocument();
    expect(screen.getByText(`Authorization: Bearer ${KEY}`)).toBeInTheDocument();
    expect(
      screen.getByText(`curl -H "Authorization: Bearer ${KEY}" https://your-service.example.com/`),
    ).toBeInTheDocument();
    expect(
      screen.getByText(`curl -i -H "Authorization: Bearer ${KEY}" https://gate.example.com/forward-auth`),
    ).toBeInTheDocument();
  });

  it("copies the key to the clipboard and says it did", async () => {
    const user = userEvent.setup();
    const writeText = vi.spyOn(navigator.clipboard, "writeText").mockResolvedValue(undefined);
    render(<OneTimeKey created={created} gateUrl="https://gate/forward-auth" onDone={vi.fn()} />);
    await user.click(screen.getByRole("button", { name: "Copy key" }));
    expect(writeText).toHaveBeenCalledWith(KEY);
    expect(await screen.findByText("Copied")).toBeInTheDocument();
  });

  it("says so when copying fails", async () => {
    const user = userEvent.setup();
    vi.spyOn(navigator.clipboard, "writeText").mockRejectedValue(new Error("denied"));
    render(<OneTimeKey created={created} gateUrl="https://gate/forward-auth" onDone={vi.fn()} />);
    await user.click(screen.getByRole("button", { name: "Copy key" }));
    expect(await screen.findByText(/Copy failed/)).toBeInTheDocument();
  });

  it("closes only when the user says the key is saved", async () => {
    const user = userEvent.setup();
    const onDone = vi.fn();
    render(<OneTimeKey created={created} gateUrl="https://gate/forward-auth" onDone={onDone} />);
    await user.click(screen.getByRole("button", { name: "I have saved the key" }));
    expect(onDone).toHaveBeenCalledTimes(1);
  });

  it("tells how long the old key lasts after a rotation", () => {
    const replaced = { ...token, id: "old", hint: "kg_old…", status: "rotating" as const, grace_until: "2026-06-02T12:00:00Z" };
    render(<OneTimeKey created={{ ...created, replaced }} gateUrl="https://gate/forward-auth" onDone={vi.fn()} />);
    expect(screen.getByText(/The old key kg_old… keeps working until/)).toBeInTheDocument();
  });
});

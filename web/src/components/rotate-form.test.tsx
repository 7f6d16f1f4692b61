import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import { absolute, localMidnight } from "../lib/format";
import type { Token } from "../lib/schemas";
import { token } from "../test-fixtures";
import { RotateForm, hasExpired } from "./rotate-form";

const NOW = Date.parse("2026-06-01T12:00:00Z");

function setup(t: Token) {
  const onRotate = vi.fn();
  render(<RotateForm token={t} submitting={false} onRotate={onRotate} onCancel={vi.fn()} now={NOW} />);
  return { onRotate, user: userEvent.setup() };
}

describe("the rotate dialog's expiry rule", () => {
  it("says the new key keeps the old one's expiry, and sends it", async () => {
    const { onRotate, user } = setup({ ...token, expires_at: "2026-07-01T00:00:00Z" });
    expect(screen.getByTestId("rotate-expiry")).toHaveTextContent(
      `The new key expires when this one does: ${absolute("2026-07-01T00:00:00Z")} (in 4 weeks)`,
    );
    expect(screen.queryByLabelText("The new key expires")).not.toBeInTheDocument();
    await user.click(screen.getByRole("button", { name: "Rotate key" }));
    expect(onRotate).toHaveBeenCalledWith(86_400, "2026-07-01T00:00:00Z");
  });

  it("says a key that never expires gives one that never expires", async () => {
    const { onRotate, user } = setup(token);
    expect(screen.getByTestId("rotate-expiry")).toHaveTextContent("The new key never expires, like this one.");
    await user.selectOptions(screen.getByLabelText("How long the old key keeps working"), "0");
    await user.click(screen.getByRole("button", { name: "Rotate key" }));
    expect(onRotate).toHaveBeenCalledWith(0, null);
  });

  it("asks for an expired key's successor's expiry, and sends nothing until chosen", async () => {
    const expired: Token = { ...token, status: "expired", expires_at: "2026-05-01T00:00:00Z" };
    expect(hasExpired(expired, NOW)).toBe(true);
    const { onRotate, user } = setup(expired);
    expect(screen.getByTestId("rotate-expiry")).toHaveTextContent(
      `This key expired on ${absolute("2026-05-01T00:00:00Z")} (last month). Its expiry is not carried over`,
    );
    const choice = screen.getByLabelText("The new key expires");
    expect(choice).toBeRequired();
    expect(choice).toHaveValue("");
    await user.click(screen.getByRole("button", { name: "Rotate key" }));
    expect(onRotate).not.toHaveBeenCalled();
    expect(choice).toHaveAccessibleDescription("Choose when the new key expires.");

    await user.selectOptions(choice, "custom");
    const date = screen.getByLabelText(/^Expiry date, in your time zone \(.+\)$/);
    await user.type(date, "2026-05-20");
    await user.click(screen.getByRole("button", { name: "Rotate key" }));
    expect(onRotate).not.toHaveBeenCalled();
    expect(date).toHaveAccessibleDescription(/Pick a day in the future/);
    await user.clear(date);
    await user.type(date, "2026-09-01");
    await user.click(screen.getByRole("button", { name: "Rotate key" }));
    expect(onRotate).toHaveBeenCalledWith(86_400, localMidnight("2026-09-01"));
  });

  it("lets an expired key's successor never expire, but only when chosen", async () => {
    const { onRotate, user } = setup({ ...token, status: "expired", expires_at: "2026-05-01T00:00:00Z" });
    await user.selectOptions(screen.getByLabelText("The new key expires"), "never");
    await user.click(screen.getByRole("button", { name: "Rotate key" }));
    expect(onRotate).toHaveBeenCalledWith(86_400, null);
  });
});

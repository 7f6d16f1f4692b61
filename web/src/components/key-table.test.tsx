import { render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import type { Token } from "../lib/schemas";
import { limitedToken, token } from "../test-fixtures";
import { KeyTable } from "./key-table";

const NOW = Date.parse("2026-06-01T12:00:00Z");
const base: Token = { ...token, id: "a", name: "a" };
const tokens: Token[] = [
  { ...base, id: "1", name: "old", created_at: "2026-01-01T00:00:00Z", expires_at: "2026-06-03T00:00:00Z" },
  { ...base, id: "2", name: "same second, first", created_at: "2026-05-01T00:00:00Z", status: "disabled" },
  { ...base, id: "3", name: "same second, second", created_at: "2026-05-01T00:00:00Z", expires_at: "2027-01-01T00:00:00Z" },
];

function names() {
  return screen.getAllByRole("row").slice(1).map((r) => within(r).getAllByRole("cell")[0]?.querySelector(".key-name")?.textContent);
}

describe("the key table", () => {
  it("lists newest first, keeping the server's order for keys made in the same second", () => {
    render(<KeyTable tokens={tokens} now={NOW} onEdit={vi.fn()} onRotate={vi.fn()} onRevoke={vi.fn()} />);
    expect(names()).toEqual(["same second, second", "same second, first", "old"]);
    expect(screen.getByText("3 keys")).toBeInTheDocument();
  });

  it("sorts by expiry with never last, flags a close expiry, and filters", async () => {
    const user = userEvent.setup();
    render(<KeyTable tokens={tokens} now={NOW} onEdit={vi.fn()} onRotate={vi.fn()} onRevoke={vi.fn()} />);
    await user.selectOptions(screen.getByLabelText("Sort by"), "expires_at:asc");
    expect(names()).toEqual(["old", "same second, second", "same second, first"]);
    expect(within(screen.getAllByRole("row")[1] as HTMLElement).getByText(/⚠ in 2 days/)).toBeInTheDocument();
    await user.selectOptions(screen.getByLabelText("Status"), "disabled");
    expect(names()).toEqual(["same second, first"]);
    expect(screen.getByText("1 of 3 keys")).toBeInTheDocument();
    await user.selectOptions(screen.getByLabelText("Status"), "all");
    await user.type(screen.getByLabelText("Filter"), "OLD");
    expect(names()).toEqual(["old"]);
  });

  it("names the key on every action button", async () => {
    const user = userEvent.setup();
    const onRevoke = vi.fn();
    render(<KeyTable tokens={tokens} now={NOW} onEdit={vi.fn()} onRotate={vi.fn()} onRevoke={onRevoke} />);
    await user.click(screen.getByRole("button", { name: "Revoke old" }));
    expect(onRevoke).toHaveBeenCalledWith(tokens[0]);
  });
});

describe("limits in the key table", () => {
  const cell = (name: string) => {
    const row = screen.getByText(name, { selector: ".key-name" }).closest("tr");
    const limits = row?.querySelector('td[data-label="Limits"]');
    if (!(limits instanceof HTMLElement)) throw new Error("no Limits cell");
    return limits;
  };

  it("shows rate limits compactly, the credits left and the refill; unlimited keys muted", () => {
    const empty = { ...limitedToken, id: "k3", name: "spent", limits: { rate_limits: [], credits: { remaining: 0, refill: null } } };
    render(<KeyTable tokens={[token, limitedToken, empty]} now={NOW} onEdit={vi.fn()} onRotate={vi.fn()} onRevoke={vi.fn()} />);
    expect(screen.getByRole("columnheader", { name: "Limits" })).toBeInTheDocument();
    const limited = cell("limited");
    expect(limited.querySelector(".rate-limits")).toHaveTextContent("100/1m · 5 000/1h");
    expect(limited.querySelector(".credits")).toHaveTextContent("9 950 credits left");
    expect(limited.querySelector(".refill")).toHaveTextContent("refills 10 000 monthly");
    const unlimited = within(cell("first")).getByText("unlimited");
    expect(unlimited).toHaveClass("muted");
    const spent = within(cell("spent")).getByText("⚠ no credits left");
    expect(spent).toHaveClass("warn");
    expect(within(cell("spent")).queryByText(/refills/)).not.toBeInTheDocument();
  });
});

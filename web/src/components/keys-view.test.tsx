import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import { DEFAULT_STATE } from "../lib/key-list-model";
import { pagePath, PAGE_SIZE } from "../lib/queries/scope";
import { tokenPageSchema } from "../lib/schemas";
import { token } from "../test-fixtures";
import { KeysView, type KeysViewProps } from "./keys-view";


function props(extra: Partial<KeysViewProps>): KeysViewProps {
  return {
    title: "My keys",
    tokens: [token],
    now: Date.parse("2026-06-01T00:00:00Z"),
    list: DEFAULT_STATE,
    onList: vi.fn(),
    gateUrl: "http://localhost/forward-auth",
    modal: { kind: "none" },
    busy: false,
    error: null,
    onModal: vi.fn(),
    onCreate: vi.fn(),
    onUpdate: vi.fn(),
    onRotate: vi.fn(),
    onRevoke: vi.fn(),
    ...extra,
  };
}

describe("the keys view", () => {
  it("says while more keys are still coming", () => {
    const { rerender } = render(<KeysView {...props({ loadingMore: true })} />);
    expect(screen.getByText(/Loading more keys/)).toBeInTheDocument();
    rerender(<KeysView {...props({ loadingMore: false })} />);
    expect(screen.queryByText(/Loading more keys/)).not.toBeInTheDocument();
  });

  it("announces what a bulk change did", () => {
    render(<KeysView {...props({ message: "3 keys disabled." })} />);
    expect(screen.getByText("3 keys disabled.")).toHaveAttribute("role", "status");
  });

  it("names damaged keys and lets them be deleted", async () => {
    const onDeleteDamaged = vi.fn();
    render(<KeysView {...props({ damaged: ["bad1"], onDeleteDamaged })} />);
    const alert = screen.getByRole("alert");
    expect(alert).toHaveTextContent("One key could not be read");
    expect(alert).toHaveTextContent("bad1");
    await userEvent.click(screen.getByRole("button", { name: "Delete" }));
    expect(onDeleteDamaged).toHaveBeenCalledWith("bad1");
  });
});

describe("list pages", () => {
  it("ask for a bounded page and pass the cursor back as given", () => {
    expect(pagePath("/api/me/tokens", undefined)).toBe(`/api/me/tokens?limit=${PAGE_SIZE}`);
    expect(pagePath("/api/users", "6162", new URLSearchParams({ q: "a b" }))).toBe(
      `/api/users?q=a+b&limit=${PAGE_SIZE}&cursor=6162`,
    );
    expect(pagePath("/api/me/tokens", "c", undefined, 500)).toBe("/api/me/tokens?limit=500&cursor=c");
  });

  it("parse the server's page shape", () => {
    const page = tokenPageSchema.parse({ tokens: [token], next_cursor: "ab", damaged: [{ id: "x" }] });
    expect(page.next_cursor).toBe("ab");
    expect(() => tokenPageSchema.parse([token])).toThrow();
  });
});

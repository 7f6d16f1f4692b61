import { render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import { limitedToken, token } from "../test-fixtures";
import { BulkDialog, type BulkDialogProps } from "./bulk-dialog";

function props(extra: Partial<BulkDialogProps>): BulkDialogProps {
  return {
    action: "disable",
    tokens: [token, limitedToken],
    running: false,
    done: 0,
    failures: new Map(),
    succeeded: 0,
    onConfirm: vi.fn(),
    onClose: vi.fn(),
    ...extra,
  };
}

describe("the bulk confirmation", () => {
  it("lists every key by name and hint, and confirms once for all", async () => {
    const p = props({});
    render(<BulkDialog {...p} />);
    const dialog = screen.getByRole("dialog", { name: "Disable 2 keys?" });
    const items = within(dialog).getAllByRole("listitem").map((li) => li.textContent);
    expect(items).toEqual(["first kg_a…", "limited kg_a…"]);
    expect(within(dialog).getByRole("button", { name: "Cancel" })).toHaveAttribute("data-autofocus");
    await userEvent.click(within(dialog).getByRole("button", { name: "Disable 2 keys" }));
    expect(p.onConfirm).toHaveBeenCalledOnce();
  });

  it("says revoking is final, and shows the progress while it runs", () => {
    const { rerender } = render(<BulkDialog {...props({ action: "revoke", tokens: [token] })} />);
    expect(screen.getByRole("dialog", { name: "Revoke 1 key?" })).toHaveTextContent("This cannot be undone.");
    expect(screen.getByRole("button", { name: "Revoke 1 key" })).toHaveClass("button-danger");
    rerender(<BulkDialog {...props({ action: "revoke", tokens: [token], running: true, done: 0 })} />);
    expect(screen.getByRole("button", { name: "Revoking…" })).toBeDisabled();
    expect(screen.getByRole("status")).toHaveTextContent("Revoking… 0 of 1");
  });

  it("names each refused key with the reason, and offers to try those again", () => {
    render(
      <BulkDialog
        {...props({ action: "enable", tokens: [limitedToken], failures: new Map([["k2", "key not found"]]), succeeded: 1 })}
      />,
    );
    expect(screen.getByRole("alert")).toHaveTextContent("1 key done; 1 key could not be changed. They are still selected:");
    expect(screen.getByRole("listitem")).toHaveTextContent("limited kg_a…key not found");
    expect(screen.getByRole("button", { name: "Try again: enable 1 key" })).toBeEnabled();
    expect(screen.getByRole("button", { name: "Done" })).toBeInTheDocument();
  });
});

describe("a bulk change of hundreds of keys", () => {
  const many = Array.from({ length: 150 }, (_, i) => ({ ...token, id: `k${i}`, name: `key ${i}` }));

  it("says the real count, names the first fifty and how many more, and shows the progress as a bar", () => {
    const { rerender } = render(<BulkDialog {...props({ tokens: many })} />);
    const dialog = screen.getByRole("dialog", { name: "Disable 150 keys?" });
    expect(within(dialog).getAllByRole("listitem")).toHaveLength(50);
    expect(dialog).toHaveTextContent("… and 100 keys more.");
    rerender(<BulkDialog {...props({ tokens: many, running: true, done: 40 })} />);
    const bar = screen.getByRole("progressbar", { name: "Disabling keys" });
    expect(bar).toHaveAttribute("value", "40");
    expect(bar).toHaveAttribute("max", "150");
    expect(screen.getByRole("status")).toHaveTextContent("Disabling… 40 of 150");
  });

  it("sums up the failures by reason, most frequent first, and lists every failed key", () => {
    const failed = many.slice(0, 60);
    const failures = new Map(failed.map((t, i) => [t.id, i < 45 ? "key not found" : "the key changed meanwhile"]));
    render(<BulkDialog {...props({ tokens: failed, failures, succeeded: 90 })} />);
    const alert = screen.getByRole("alert");
    expect(alert).toHaveTextContent("90 keys done; 60 keys could not be changed.");
    expect(alert).toHaveTextContent("45 × key not found; 15 × the key changed meanwhile");
    expect(screen.getAllByRole("listitem")).toHaveLength(60);
  });
});

import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import { RowMenu } from "./row-menu";

function setup() {
  const chosen = vi.fn<(what: string) => void>();
  const pick = (what: string) => () => {
    chosen(what);
  };
  render(
    <>
      <RowMenu
        label="Actions for deploys"
        items={[
          { label: "Edit", onSelect: pick("edit") },
          { label: "Rotate", onSelect: pick("rotate"), disabled: true, title: "Being rotated" },
          { label: "Disable", onSelect: pick("disable") },
          { label: "Revoke", onSelect: pick("revoke"), danger: true },
        ]}
      />
      <button type="button">after</button>
    </>,
  );
  const button = screen.getByRole("button", { name: "Actions for deploys" });
  return { chosen, button, user: userEvent.setup() };
}

const item = (name: string) => screen.getByRole("menuitem", { name });

describe("a row's menu", () => {
  it("is a menu button: closed, then open on the first item", async () => {
    const { button, user } = setup();
    expect(button).toHaveAttribute("aria-haspopup", "menu");
    expect(button).toHaveAttribute("aria-expanded", "false");
    expect(screen.queryByRole("menu")).not.toBeInTheDocument();
    button.focus();
    await user.keyboard("{Enter}");
    expect(button).toHaveAttribute("aria-expanded", "true");
    const menu = screen.getByRole("menu", { name: "Actions for deploys" });
    expect(button).toHaveAttribute("aria-controls", menu.id);
    expect(item("Edit")).toHaveFocus();
  });

  it("moves with the arrows (wrapping), Home, End and a letter; Esc closes it back on the button", async () => {
    const { button, user } = setup();
    button.focus();
    await user.keyboard("{ArrowDown}");
    expect(item("Edit")).toHaveFocus();
    await user.keyboard("{ArrowDown}");
    // A disabled item is reachable, and says it is disabled.
    expect(item("Rotate")).toHaveFocus();
    expect(item("Rotate")).toHaveAttribute("aria-disabled", "true");
    await user.keyboard("{ArrowDown}{ArrowDown}{ArrowDown}");
    expect(item("Edit")).toHaveFocus();
    await user.keyboard("{ArrowUp}");
    expect(item("Revoke")).toHaveFocus();
    await user.keyboard("{Home}");
    expect(item("Edit")).toHaveFocus();
    await user.keyboard("{End}");
    expect(item("Revoke")).toHaveFocus();
    await user.keyboard("d");
    expect(item("Disable")).toHaveFocus();
    await user.keyboard("{Escape}");
    expect(screen.queryByRole("menu")).not.toBeInTheDocument();
    expect(button).toHaveFocus();
    // ↑ on the button opens it on the last item.
    await user.keyboard("{ArrowUp}");
    expect(item("Revoke")).toHaveFocus();
  });

  it("runs an item with Enter, back on the button first; a disabled one does nothing", async () => {
    const { button, chosen, user } = setup();
    button.focus();
    await user.keyboard("{ArrowDown}{ArrowDown}{Enter}");
    expect(chosen).not.toHaveBeenCalled();
    expect(screen.getByRole("menu")).toBeInTheDocument();
    await user.keyboard("{ArrowDown}{Enter}");
    expect(chosen).toHaveBeenCalledWith("disable");
    expect(screen.queryByRole("menu")).not.toBeInTheDocument();
    expect(button).toHaveFocus();
  });

  it("closes on a click outside, and Tab moves on from the button", async () => {
    const { button, chosen, user } = setup();
    await user.click(button);
    expect(item("Edit")).toHaveFocus();
    await user.click(document.body);
    expect(screen.queryByRole("menu")).not.toBeInTheDocument();
    await user.click(button);
    await user.tab();
    expect(screen.queryByRole("menu")).not.toBeInTheDocument();
    expect(screen.getByRole("button", { name: "after" })).toHaveFocus();
    await user.click(button);
    await user.click(item("Revoke"));
    expect(chosen).toHaveBeenCalledWith("revoke");
  });
});

// One button per row that opens a menu of the row's actions (the WAI-ARIA menu button
// pattern): the key list keeps its rows one line tall, and its actions one Tab stop.
//
// Keyboard: Enter, Space or ↓ open it on the first item, ↑ on the last; in the menu ↓/↑
// move (and wrap), Home/End jump, a letter goes to the next item starting with it, Esc
// closes it and gives focus back to the button, Tab closes it and moves on. A click
// outside closes it. An item is chosen with Enter, Space or a click: the menu closes and
// focus is back on the button before the action runs, so a dialog the action opens
// returns focus there when it closes.
//
// Placement: the list of a table that scrolls sideways would be cut off by it, so where
// the browser can anchor (CSS anchor positioning) the list is `position: fixed`, tied to
// its button and flipped above it near the bottom of the screen; elsewhere it hangs
// under the button inside the row (key-list.css).
import { type KeyboardEvent, useEffect, useId, useRef, useState } from "react";

export interface RowMenuItem {
  label: string;
  onSelect: () => void;
  /** Shown, reachable, but does nothing (with why, in `title`). */
  disabled?: boolean;
  title?: string;
  /** Drawn as a destructive action (revoke). */
  danger?: boolean;
}

export function RowMenu({ label, items }: { label: string; items: RowMenuItem[] }) {
  const [open, setOpen] = useState(false);
  /** Which item gets focus when the menu opens: the first, or (↑) the last. */
  const [start, setStart] = useState<"first" | "last">("first");
  const button = useRef<HTMLButtonElement>(null);
  const menu = useRef<HTMLUListElement>(null);
  const box = useRef<HTMLDivElement>(null);
  const id = useId();

  const itemEls = () => [...(menu.current?.querySelectorAll<HTMLButtonElement>('[role="menuitem"]') ?? [])];
  const close = (refocus: boolean) => {
    setOpen(false);
    if (refocus) button.current?.focus();
  };

  useEffect(() => {
    if (!open) return;
    const els = itemEls();
    (start === "last" ? els[els.length - 1] : els[0])?.focus();
    // A press anywhere outside closes the menu; focus goes where the press put it.
    const outside = (e: PointerEvent) => {
      if (e.target instanceof Node && !box.current?.contains(e.target)) setOpen(false);
    };
    document.addEventListener("pointerdown", outside);
    return () => {
      document.removeEventListener("pointerdown", outside);
    };
  }, [open, start]);

  const openAt = (where: "first" | "last") => {
    setStart(where);
    setOpen(true);
  };

  const onButtonKey = (e: KeyboardEvent) => {
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      openAt(e.key === "ArrowDown" ? "first" : "last");
    }
  };

  const onMenuKey = (e: KeyboardEvent) => {
    const els = itemEls();
    const at = els.findIndex((el) => el === document.activeElement);
    const focus = (i: number) => {
      els[(i + els.length) % els.length]?.focus();
    };
    if (e.key === "ArrowDown") focus(at + 1);
    else if (e.key === "ArrowUp") focus(at - 1);
    else if (e.key === "Home") focus(0);
    else if (e.key === "End") focus(els.length - 1);
    else if (e.key === "Escape") close(true);
    else if (e.key === "Tab") {
      // Focus moves on from the button, as if the menu had not been there.
      button.current?.focus();
      setOpen(false);
      return;
    } else if (e.key.length === 1 && /\S/.test(e.key)) {
      const ch = e.key.toLowerCase();
      const order = [...els.slice(at + 1), ...els.slice(0, at + 1)];
      order.find((el) => el.textContent.trim().toLowerCase().startsWith(ch))?.focus();
    } else return;
    e.preventDefault();
    e.stopPropagation();
  };

  return (
    <div className="row-menu" ref={box}>
      <button
        ref={button}
        type="button"
        className="button button-small row-menu-button"
        aria-label={label}
        aria-haspopup="menu"
        aria-expanded={open}
        {...(open ? { "aria-controls": id } : {})}
        onClick={() => {
          if (open) setOpen(false);
          else openAt("first");
        }}
        onKeyDown={onButtonKey}
      >
        <span aria-hidden="true">⋯</span>
      </button>
      {open && (
        <ul ref={menu} id={id} role="menu" aria-label={label} className="row-menu-list" onKeyDown={onMenuKey}>
          {items.map((item) => (
            <li key={item.label} role="none">
              <button
                type="button"
                role="menuitem"
                tabIndex={-1}
                className={item.danger ? "row-menu-item danger" : "row-menu-item"}
                aria-disabled={item.disabled ? true : undefined}
                title={item.title}
                onClick={() => {
                  if (item.disabled) return;
                  close(true);
                  item.onSelect();
                }}
              >
                {item.label}
              </button>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

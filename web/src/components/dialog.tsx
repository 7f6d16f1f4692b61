// A modal on the native <dialog>: the browser moves focus into it (to the element
// marked data-autofocus, else the first control), keeps Tab inside, closes it on Escape
// and gives focus back to the control that opened it.
import { useId, useLayoutEffect, useRef, type ReactNode } from "react";

export function Dialog({
  title,
  onClose,
  children,
  wide = false,
}: {
  title: string;
  onClose: () => void;
  children: ReactNode;
  wide?: boolean;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  // A layout effect, so that closing happens while the dialog is still in the document
  // (the browser only restores focus then); the opener is refocused explicitly too.
  useLayoutEffect(() => {
    const d = ref.current;
    const opener = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    if (d && !d.open) {
      // showModal() focuses the element carrying the `autofocus` attribute (React's
      // autoFocus prop sets none; a focus() of our own is undone by the browser).
      d.querySelector("[data-autofocus]")?.setAttribute("autofocus", "");
      d.showModal();
    }
    return () => {
      if (d?.open) d.close();
      if (opener?.isConnected) opener.focus();
    };
  }, []);
  return (
    <dialog
      ref={ref}
      className={wide ? "dialog dialog-wide" : "dialog"}
      aria-labelledby={titleId}
      onCancel={(e) => {
        e.preventDefault();
        onClose();
      }}
    >
      <header className="dialog-header">
        <h2 id={titleId}>{title}</h2>
        <button type="button" className="icon-button" aria-label="Close" onClick={onClose}>
          ×
        </button>
      </header>
      <div className="dialog-body">{children}</div>
    </dialog>
  );
}

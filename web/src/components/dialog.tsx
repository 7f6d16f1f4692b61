// A modal on the native <dialog>: the browser moves focus into it (to the element
// marked data-autofocus, else the first control), keeps Tab inside, closes it on Escape
// and gives focus back to the control that opened it. With a `guard`, Escape, × and a
// click outside ask first (the one-time key: closing it loses the key for good).
import { useEffect, useId, useLayoutEffect, useRef, useState, type ReactNode } from "react";
import { SessionEndedNotice } from "./session-ended";
import "./trust.css";

export interface CloseGuard {
  /** Why closing now loses something, e.g. "You have not copied the key." */
  message: string;
  /** The button that stays, e.g. "Back to the key". */
  stay: string;
  /** The button that closes anyway, e.g. "Close and lose the key". */
  leave: string;
}

export function Dialog({
  title,
  onClose,
  children,
  wide = false,
  guard = null,
}: {
  title: string;
  onClose: () => void;
  children: ReactNode;
  wide?: boolean;
  /** Set: closing other than through the dialog's own buttons asks for confirmation. */
  guard?: CloseGuard | null;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  const [asking, setAsking] = useState(false);
  const stayRef = useRef<HTMLButtonElement>(null);
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
  useEffect(() => {
    if (asking) stayRef.current?.focus();
  }, [asking]);
  const tryClose = () => {
    if (guard) setAsking(true);
    else onClose();
  };
  const shown = asking && guard !== null;
  return (
    <dialog
      ref={ref}
      className={wide ? "dialog dialog-wide" : "dialog"}
      aria-labelledby={titleId}
      onCancel={(e) => {
        e.preventDefault();
        tryClose();
      }}
      onClick={(e) => {
        // A click on the backdrop lands on the <dialog> itself, outside its box.
        const d = ref.current;
        if (!guard || !d || e.target !== d) return;
        const r = d.getBoundingClientRect();
        const outside = e.clientX < r.left || e.clientX > r.right || e.clientY < r.top || e.clientY > r.bottom;
        if (outside) tryClose();
      }}
    >
      <header className="dialog-header">
        <h2 id={titleId}>{title}</h2>
        <button type="button" className="icon-button" aria-label="Close" onClick={tryClose}>
          ×
        </button>
      </header>
      <div className="dialog-body">
        <SessionEndedNotice />
        {shown && (
          <div className="notice notice-warn close-guard" role="alert">
            <p>{guard.message}</p>
            <div className="actions">
              <button
                type="button"
                className="button"
                onClick={() => {
                  setAsking(false);
                  onClose();
                }}
              >
                {guard.leave}
              </button>
              <button
                ref={stayRef}
                type="button"
                className="button button-primary"
                onClick={() => {
                  setAsking(false);
                }}
              >
                {guard.stay}
              </button>
            </div>
          </div>
        )}
        {children}
      </div>
    </dialog>
  );
}

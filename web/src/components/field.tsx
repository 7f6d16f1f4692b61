// A label, a control and its error message, wired together for assistive technology.
import type { MouseEvent, ReactNode } from "react";

/**
 * For a form's onMouseDown: pressing a button, a checkbox, a radio button or a label
 * must not first blur the field being edited. The error that blur reveals would move
 * the control away before the mouse is released, and the click would be lost.
 */
export function keepFocusOnClick(e: MouseEvent) {
  if (e.target instanceof Element && e.target.closest('button, label, input[type="checkbox"], input[type="radio"]')) {
    e.preventDefault();
  }
}

export interface ControlProps {
  id: string;
  "aria-invalid": boolean;
  "aria-describedby": string | undefined;
}

export function Field({
  id,
  label,
  srLabel,
  error,
  hint,
  className,
  children,
}: {
  id: string;
  label: string;
  /** Read after the label by screen readers only, e.g. ", rate limit 2" where rows repeat labels. */
  srLabel?: string;
  error?: string | undefined;
  /** Help shown under the control and read with it. */
  hint?: string;
  className?: string;
  children: (p: ControlProps) => ReactNode;
}) {
  const classes = ["field", error ? "field-invalid" : "", className ?? ""].filter(Boolean).join(" ");
  return (
    <div className={classes}>
      <label htmlFor={id}>
        {label}
        {srLabel && <span className="visually-hidden">{srLabel}</span>}
      </label>
      {children({
        id,
        "aria-invalid": Boolean(error),
        "aria-describedby": [error ? `${id}-err` : "", hint ? `${id}-hint` : ""].filter(Boolean).join(" ") || undefined,
      })}
      {hint && (
        <p className="hint" id={`${id}-hint`}>
          {hint}
        </p>
      )}
      {error && (
        <p className="field-error" id={`${id}-err`}>
          {error}
        </p>
      )}
    </div>
  );
}

// A label, a control and its error message, wired together for assistive technology.
import type { ReactNode } from "react";

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
  className,
  children,
}: {
  id: string;
  label: string;
  /** Read after the label by screen readers only, e.g. ", rate limit 2" where rows repeat labels. */
  srLabel?: string;
  error?: string | undefined;
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
      {children({ id, "aria-invalid": Boolean(error), "aria-describedby": error ? `${id}-err` : undefined })}
      {error && (
        <p className="field-error" id={`${id}-err`}>
          {error}
        </p>
      )}
    </div>
  );
}

// A whole number typed as text (no spinner, no locale parsing: the caller validates),
// labelled and wired to its error message.
import { Field } from "./field";

/** The attributes of every number input of the limits (also the duration's). */
export const numericInput = { type: "text", inputMode: "numeric", autoComplete: "off", spellCheck: false } as const;

export function NumberField({
  id,
  label,
  srLabel,
  className,
  error,
  value,
  placeholder,
  onChange,
  onBlur,
}: {
  id: string;
  label: string;
  /** Read after the label by screen readers only (rows that repeat labels). */
  srLabel?: string;
  className?: string;
  error: string | undefined;
  value: string;
  placeholder?: string;
  onChange: (value: string) => void;
  onBlur?: () => void;
}) {
  return (
    <Field id={id} label={label} srLabel={srLabel} className={className} error={error}>
      {(p) => (
        <input
          {...p}
          {...numericInput}
          value={value}
          placeholder={placeholder}
          onChange={(e) => {
            onChange(e.target.value);
          }}
          onBlur={onBlur}
        />
      )}
    </Field>
  );
}

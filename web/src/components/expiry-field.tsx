// When a key expires: a preset (never, in 7 days, …) or, for "On a date…", a day in
// the browser's time zone. The key form and an expired key's rotation use it.
import { zoneLabel } from "../lib/format";
import { Field } from "./field";

export function ExpiryField<V extends string>({
  id,
  label,
  value,
  options,
  onChange,
  prompt,
  autoFocus = false,
  error,
  date,
  onDate,
  onDateBlur,
  dateError,
  now,
}: {
  /** Prefix of the controls' ids (`{id}-expiry`, `{id}-date`). */
  id: string;
  label: string;
  value: V;
  options: readonly { value: string; label: string }[];
  onChange: (value: V) => void;
  /** A first, disabled option ("Choose…") for a choice that must be made (value ""). */
  prompt?: string;
  autoFocus?: boolean;
  /** About the preset. */
  error?: string | undefined;
  /** The custom day (yyyy-mm-dd), shown when the value is "custom". */
  date: string;
  onDate: (date: string) => void;
  onDateBlur?: () => void;
  dateError: string | undefined;
  /** For tests: "now" in ms (the time zone's offset). */
  now?: number | undefined;
}) {
  return (
    <div className="field-row">
      <Field id={`${id}-expiry`} label={label} error={error}>
        {(p) => (
          <select
            {...p}
            required={prompt !== undefined || undefined}
            {...(autoFocus ? { "data-autofocus": "" } : {})}
            value={value}
            onChange={(e) => {
              onChange(e.target.value as V);
            }}
          >
            {prompt !== undefined && (
              <option value="" disabled>
                {prompt}
              </option>
            )}
            {options.map((o) => (
              <option key={o.value} value={o.value}>
                {o.label}
              </option>
            ))}
          </select>
        )}
      </Field>
      {value === "custom" && (
        <Field
          id={`${id}-date`}
          label={`Expiry date, in your time zone (${zoneLabel(now)})`}
          hint="The key stops working at 00:00 that day."
          error={dateError}
        >
          {(p) => (
            <input
              {...p}
              type="date"
              value={date}
              onChange={(e) => {
                onDate(e.target.value);
              }}
              onBlur={onDateBlur}
            />
          )}
        </Field>
      )}
    </div>
  );
}

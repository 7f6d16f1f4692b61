// A duration: a number and its unit side by side (a rate limit's window, a custom refill
// interval), under one label, with one error message.
import { type Unit, unitOptions } from "../lib/limits-model";
import { numericInput } from "./number-field";

export function DurationField({
  id,
  label,
  srLabel,
  unitLabel,
  error,
  value,
  unit,
  onValue,
  onUnit,
  onBlur,
}: {
  /** The number input's id. */
  id: string;
  label: string;
  /** Read after the label by screen readers only. */
  srLabel: string;
  /** The unit's accessible name. */
  unitLabel: string;
  error: string | undefined;
  value: string;
  unit: Unit;
  onValue: (value: string) => void;
  onUnit: (unit: Unit) => void;
  onBlur: () => void;
}) {
  return (
    <div className={error ? "field field-invalid limit-window" : "field limit-window"}>
      <label htmlFor={id}>
        {label}
        <span className="visually-hidden">{srLabel}</span>
      </label>
      <div className="duration">
        <input
          id={id}
          {...numericInput}
          value={value}
          aria-invalid={Boolean(error)}
          aria-describedby={error ? `${id}-err` : undefined}
          onChange={(e) => {
            onValue(e.target.value);
          }}
          onBlur={onBlur}
        />
        <select
          aria-label={unitLabel}
          value={unit}
          onChange={(e) => {
            onUnit(e.target.value as Unit);
          }}
        >
          {unitOptions.map((u) => (
            <option key={u.value} value={u.value}>
              {u.label}
            </option>
          ))}
        </select>
      </div>
      {error && (
        <p className="field-error" id={`${id}-err`}>
          {error}
        </p>
      )}
    </div>
  );
}

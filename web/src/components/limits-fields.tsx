// The controls for usage limits: rate limits as rows (name, requests, window) and a
// credit quota with its refill. Used by the key form and the owner's limits panel; the
// caller owns the values, the messages and which fields were touched.
import type { ReactNode } from "react";
import {
  type LimitsValues,
  LIMIT_BOUNDS,
  type RateLimitRow,
  type RefillChoice,
  emptyRateLimit,
  refillOptions,
  unitOptions,
  wholeNumber,
} from "../lib/limits-model";
import { groupDigits } from "../lib/format";
import { DurationField } from "./duration-field";
import { Field } from "./field";
import { NumberField } from "./number-field";

export interface LimitsFieldsProps {
  /** Prefix of the controls' ids. */
  id: string;
  value: LimitsValues;
  onChange: (v: LimitsValues) => void;
  /** The message to show for a field ("rateLimits.0.name", "remaining", …), if any. */
  errorOf: (field: string) => string | undefined;
  onTouch: (field: string) => void;
  /** What the balance field means: a key being edited, or an owner's shared quota. */
  balanceHint?: ReactNode;
}

const refillWhen: Record<Exclude<RefillChoice, "none" | "custom">, string> = {
  daily: "Every day at 00:00 UTC",
  weekly: "Every Monday at 00:00 UTC",
  monthly: "On the 1st of every month at 00:00 UTC",
};

/** "Every day at 00:00 UTC the balance is set to 10 000 (not added to)." */
function refillHint(v: LimitsValues): string {
  const n = wholeNumber(v.refillAmount, 1, LIMIT_BOUNDS.credits);
  const to = typeof n === "number" ? groupDigits(n) : "the amount above";
  const every = wholeNumber(v.refillEvery, 1, Number.MAX_SAFE_INTEGER);
  const unit = unitOptions.find((u) => u.value === v.refillUnit)?.label ?? "";
  const when =
    v.refill === "custom"
      ? typeof every === "number"
        ? `Every ${groupDigits(every)} ${every === 1 ? unit.replace(/s$/, "") : unit}`
        : "At each interval"
      : v.refill === "none"
        ? ""
        : refillWhen[v.refill];
  return `${when} the balance is set to ${to} (not added to).`;
}

export function LimitsFields({ id, value: v, onChange, errorOf, onTouch, balanceHint }: LimitsFieldsProps) {
  const set = (patch: Partial<LimitsValues>) => {
    onChange({ ...v, ...patch });
  };
  const setRow = (i: number, patch: Partial<RateLimitRow>) => {
    set({ rateLimits: v.rateLimits.map((r, j) => (j === i ? { ...r, ...patch } : r)) });
  };
  const touch = (f: string) => () => {
    onTouch(f);
  };

  return (
    <div className="limits-fields">
      <h3 className="limits-head">Rate limits</h3>
      <p className="hint">
        Requests over any of these are refused (429) until their window has passed. Names tell them apart in the
        answer’s headers.
      </p>
      {v.rateLimits.map((r, i) => {
        const row = `, rate limit ${i + 1}`;
        return (
          <div className="field-row limit-row" key={i}>
            <Field
              id={`${id}-rl-${i}-name`}
              label="Name"
              srLabel={row}
              className="limit-name"
              error={errorOf(`rateLimits.${i}.name`)}
            >
              {(p) => (
                <input
                  {...p}
                  type="text"
                  value={r.name}
                  placeholder="e.g. per-minute"
                  maxLength={LIMIT_BOUNDS.name + 8}
                  autoComplete="off"
                  spellCheck={false}
                  onChange={(e) => {
                    setRow(i, { name: e.target.value });
                  }}
                  onBlur={touch(`rateLimits.${i}.name`)}
                />
              )}
            </Field>
            <NumberField
              id={`${id}-rl-${i}-limit`}
              label="Requests"
              srLabel={row}
              className="limit-number"
              error={errorOf(`rateLimits.${i}.limit`)}
              value={r.limit}
              placeholder="e.g. 100"
              onChange={(limit) => {
                setRow(i, { limit });
              }}
              onBlur={touch(`rateLimits.${i}.limit`)}
            />
            <DurationField
              id={`${id}-rl-${i}-every`}
              label="Per"
              srLabel={` window${row}`}
              unitLabel={`Window unit${row}`}
              error={errorOf(`rateLimits.${i}.every`)}
              value={r.every}
              unit={r.unit}
              onValue={(every) => {
                setRow(i, { every });
              }}
              onUnit={(unit) => {
                setRow(i, { unit });
                onTouch(`rateLimits.${i}.every`);
              }}
              onBlur={touch(`rateLimits.${i}.every`)}
            />
            <button
              type="button"
              className="button button-quiet limit-remove"
              aria-label={`Remove rate limit ${i + 1}`}
              onClick={() => {
                set({ rateLimits: v.rateLimits.filter((_, j) => j !== i) });
              }}
            >
              Remove
            </button>
          </div>
        );
      })}
      {errorOf("rateLimits") && <p className="field-error">{errorOf("rateLimits")}</p>}
      {v.rateLimits.length < LIMIT_BOUNDS.rateLimits && (
        <button
          type="button"
          className="button"
          onClick={() => {
            set({ rateLimits: [...v.rateLimits, emptyRateLimit()] });
          }}
        >
          Add a rate limit
        </button>
      )}

      <h3 className="limits-head">Credits</h3>
      <div className="checkbox">
        <input
          id={`${id}-credits`}
          type="checkbox"
          checked={v.credits}
          onChange={(e) => {
            set({ credits: e.target.checked });
          }}
        />
        <label htmlFor={`${id}-credits`}>Count credits: every request spends one; with none left, requests are refused</label>
      </div>
      {v.credits && (
        <>
          <div className="field-row">
            <NumberField
              id={`${id}-remaining`}
              label="Credits left"
              className="limit-number"
              error={errorOf("remaining")}
              value={v.remaining}
              placeholder="e.g. 10000"
              onChange={(remaining) => {
                set({ remaining });
              }}
              onBlur={touch("remaining")}
            />
            <Field id={`${id}-refill`} label="Refill">
              {(p) => (
                <select
                  {...p}
                  value={v.refill}
                  onChange={(e) => {
                    set({ refill: e.target.value as RefillChoice });
                  }}
                >
                  {refillOptions.map((o) => (
                    <option key={o.value} value={o.value}>
                      {o.label}
                    </option>
                  ))}
                </select>
              )}
            </Field>
          </div>
          {v.refill !== "none" && (
            <div className="field-row">
              <NumberField
                id={`${id}-refill-amount`}
                label="Refill to"
                className="limit-number"
                error={errorOf("refillAmount")}
                value={v.refillAmount}
                placeholder="e.g. 10000"
                onChange={(refillAmount) => {
                  set({ refillAmount });
                }}
                onBlur={touch("refillAmount")}
              />
              {v.refill === "custom" ? (
                <DurationField
                  id={`${id}-refill-every`}
                  label="Every"
                  srLabel=" (refill interval)"
                  unitLabel="Refill interval unit"
                  error={errorOf("refillEvery")}
                  value={v.refillEvery}
                  unit={v.refillUnit}
                  onValue={(refillEvery) => {
                    set({ refillEvery });
                  }}
                  onUnit={(refillUnit) => {
                    set({ refillUnit });
                    onTouch("refillEvery");
                  }}
                  onBlur={touch("refillEvery")}
                />
              ) : (
                <div className="field" aria-hidden="true" />
              )}
            </div>
          )}
          {v.refill !== "none" && <p className="hint">{refillHint(v)}</p>}
          {balanceHint && <p className="hint">{balanceHint}</p>}
        </>
      )}
    </div>
  );
}
